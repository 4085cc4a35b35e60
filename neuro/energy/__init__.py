"""Energy: counts first, joules second.

- ``counting``: per-layer, per-sample operation and memory-access counts (NeuroBench-compatible).
- ``model``: energy profiles (TOML with provenance) and the tiers: op proxy (a), hardware-aware
  analytic model (b), FPGA estimate from a hardware build's resources and switching activity.
- ``measure``: tier c, RAPL / NVML measured energy where the machine exposes counters.
- ``report``: ``write_report(run_dirs, out, profiles)`` behind ``neuro energy report``.
"""

"""Tier c, measured energy: Linux RAPL (powercap) for the CPU package, NVML for NVIDIA GPUs.

``measure_energy(fn, n_inferences)`` reads the energy counters around an idle interval and around
``fn()``, subtracts the idle power times the run time, and divides by ``n_inferences``. When no
counter is readable it returns ``{"available": False, "reason": ...}`` and the report says
"not available on this machine"; it never makes a number up.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

POWERCAP = Path("/sys/class/powercap")


def rapl_domains(root: Path = POWERCAP) -> list[Path]:
    """Readable top-level RAPL package domains (``intel-rapl:N`` with an ``energy_uj`` file)."""
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") == 1 and (d / "energy_uj").is_file():
            try:
                int((d / "energy_uj").read_text())
                out.append(d)
            except (OSError, ValueError):
                continue
    return out


def _rapl_read(domains: list[Path]) -> float:
    return sum(int((d / "energy_uj").read_text()) for d in domains) * 1e-6


def _nvml():
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        return pynvml, handles
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return None, []


def available_counters(root: Path = POWERCAP) -> dict:
    """Which energy counters this machine exposes: ``{"rapl": [...], "nvml": n_gpus, "reason": str}``."""
    rapl = rapl_domains(root)
    nv, handles = _nvml()
    reason = ""
    if not rapl and not handles:
        reason = ("not available on this machine: no readable RAPL counter under /sys/class/powercap "
                  "(not an Intel/AMD host, or a VM/container without powercap access) and no NVIDIA GPU "
                  "with NVML (pynvml)")
    return {"rapl": [d.name for d in rapl], "nvml": len(handles), "reason": reason}


def measure_energy(fn: Callable[[], None], n_inferences: int, *, idle_s: float = 1.0, repeats: int = 3,
                   root: Path = POWERCAP) -> dict:
    """Energy per inference of ``fn`` (which runs ``n_inferences`` inferences), idle-subtracted.

    Returns ``{"available", "joules_per_inference", "idle_w", "run_s", "counters", "reason"}``."""
    info = available_counters(root)
    if info["reason"]:
        return {"available": False, "reason": info["reason"]}
    rapl = rapl_domains(root)
    nv, handles = _nvml()

    def read() -> float:
        e = _rapl_read(rapl) if rapl else 0.0
        for h in handles:  # mJ since driver load
            e += nv.nvmlDeviceGetTotalEnergyConsumption(h) * 1e-3
        return e

    e0, t0 = read(), time.perf_counter()
    time.sleep(idle_s)
    idle_w = (read() - e0) / (time.perf_counter() - t0)
    fn()  # warm-up
    e0, t0 = read(), time.perf_counter()
    for _ in range(repeats):
        fn()
    run_s = time.perf_counter() - t0
    total = read() - e0
    if total < 0:  # counter wrapped
        return {"available": False, "reason": "energy counter wrapped during the measurement; run again"}
    net = max(total - idle_w * run_s, 0.0)
    return {"available": True, "joules_per_inference": net / (repeats * n_inferences), "idle_w": idle_w,
            "run_s": run_s, "counters": {"rapl": info["rapl"], "nvml": info["nvml"]}, "reason": ""}

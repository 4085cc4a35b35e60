"""RTL simulation speed of the generated spiking-MLP core: Verilator vs Icarus Verilog, one process.

    python benchmarks/rtl_sim.py [--run RUN_DIR] [--verilator-samples 100] [--icarus-samples 5]

Builds the network of RUN_DIR (default: trains the demo network on digits into a temp folder),
then classifies encoded test images under cocotb on both simulators with the same stimulus and
prints simulated neuron-steps per wall-second, clock cycles per second and the ratio. Both runs
are checked against the golden model (a mismatch aborts the benchmark). Build time is reported
apart from simulation time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=None, help="trained spiking-MLP run folder (default: train the demo network)")
    ap.add_argument("--verilator-samples", type=int, default=100)
    ap.add_argument("--icarus-samples", type=int, default=5)
    a = ap.parse_args()

    import torch

    from hw import snn_sim
    from hw.build import encoded_images
    from hw.golden import save_snn
    from hw.quant import QuantConfig, quantize_snn
    from hw.verilog import write_snn
    from neuro.train.run import load_run
    from neuro.train.trainer import encode

    work = Path(tempfile.mkdtemp(prefix="rtl_sim_bench."))
    if a.run is None:
        from neuro.demo import demo_config
        from neuro.train.trainer import train

        a.run = work / "run"
        train(demo_config(['train.eval_backends=["torch"]']), a.run, progress=False)
    run = load_run(a.run)
    calib = encode(run.data.x_train[:256], run.cfg, torch.Generator().manual_seed(7)).numpy()
    net, _ = quantize_snn(run.model, run.cfg.data.num_steps, calib, QuantConfig())
    src = work / "src"
    write_snn(net, src)
    save_snn(net, src / "net.npz")
    n = max(a.verilator_samples, a.icarus_samples)
    x, _, _ = encoded_images(run, n)
    with open(src / "stimulus.npz", "wb") as f:
        np.savez_compressed(f, spikes=np.packbits(x.transpose(1, 0, 2), axis=-1))
    per_sample = sum(net.sizes[1:]) * net.num_steps
    print(f"network {list(net.sizes)}, T={net.num_steps}: {per_sample:,} neuron-steps per sample")
    rows = {}
    for sim, samples in (("verilator", a.verilator_samples), ("icarus", a.icarus_samples)):
        t0 = time.perf_counter()
        runner = snn_sim.build(src, sim, work / f"build_{sim}")
        build_s = time.perf_counter() - t0
        rep = snn_sim.simulate(runner, src, src / "net.npz", work / f"run_{sim}", mode="images", samples=samples,
                               stimulus=src / "stimulus.npz", sim=sim)
        if not rep["passed"]:
            raise SystemExit(f"{sim}: the RTL does not match the golden model: {rep['first_mismatch']}")
        rows[sim] = {"samples": samples, "build_s": build_s, "sim_s": rep["wall_s"],
                     "nsteps_per_s": samples * per_sample / rep["wall_s"],
                     "cycles_per_s": rep["cycles_total"] / rep["wall_s"]}
    print(f"{'simulator':<10} {'samples':>7} {'build s':>8} {'sim s':>8} {'neuron-steps/s':>15} {'cycles/s':>12}")
    for sim, r in rows.items():
        print(f"{sim:<10} {r['samples']:>7} {r['build_s']:>8.1f} {r['sim_s']:>8.1f} {r['nsteps_per_s']:>15,.0f} "
              f"{r['cycles_per_s']:>12,.0f}")
    ratio = rows["verilator"]["nsteps_per_s"] / rows["icarus"]["nsteps_per_s"]
    print(f"Verilator / Icarus: {ratio:.1f}x neuron-steps per second")


if __name__ == "__main__":
    main()

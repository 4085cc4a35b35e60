"""Multi-step LIF forward: numpy vs the Numba kernel vs torch (ours) vs snnTorch, in one process.

    python benchmarks/lif_kernels.py [--T 100 --B 16 --N 65536 --repeats 5]

Prints the median wall time of each and the ratios to the Numba kernel. All four compute the same
spikes (checked before timing). numpy is a vectorised loop over time in float32; torch is
``neuro.neurons.lif.lif_multistep(impl="reference")`` under ``no_grad``; snnTorch is ``snntorch.Leaky`` stepped over T.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import snntorch
import torch

from kernels.lif import lif_multistep as lif_numba
from neuro.neurons.lif import LIFParams, lif_multistep as lif_torch


def lif_numpy(x: np.ndarray, p: LIFParams) -> tuple[np.ndarray, np.ndarray]:
    """Reference numpy implementation (subtract reset, no refractory): a loop over time."""
    beta, v_th = np.float32(p.beta), np.float32(p.v_th)
    v = np.zeros(x.shape[1:], np.float32)
    s = np.zeros_like(v)
    spk, mem = np.empty_like(x), np.empty_like(x)
    for t in range(x.shape[0]):
        v = beta * v + x[t] - s * v_th
        s = (v - v_th > 0).astype(np.float32)
        spk[t], mem[t] = s, v
    return spk, mem


def snntorch_run(x: torch.Tensor, p: LIFParams) -> torch.Tensor:
    leaky = snntorch.Leaky(beta=p.beta, threshold=p.v_th)
    mem = leaky.init_leaky()
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        out[t], mem = leaky(x[t], mem)
    return out


def timeit(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--N", type=int, default=65536)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    p = LIFParams(beta=0.9, v_th=1.0)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((a.T, a.B, a.N), dtype=np.float32) * 0.5 + 0.3)
    xt = torch.from_numpy(x)
    print(f"multi-step LIF forward, [T={a.T}, B={a.B}, N={a.N}] float32, {x.nbytes / 1e6:.0f} MB input, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cores, "
          f"median of {a.repeats}")
    # correctness first: every implementation gives the same spikes
    s_np, _ = lif_numpy(x, p)
    s_nb, _, _ = lif_numba(x, p)  # also compiles / loads the cached kernel
    with torch.no_grad():
        s_t, _, _ = lif_torch(xt, p, impl="reference")
        s_snn = snntorch_run(xt, p)
    assert np.array_equal(s_np, s_nb) and np.array_equal(s_nb, s_t.numpy()) and np.array_equal(s_nb, s_snn.numpy())
    del s_np, s_nb, s_t, s_snn

    def run_torch():
        with torch.no_grad():
            lif_torch(xt, p, impl="reference")

    def run_snn():
        with torch.no_grad():
            snntorch_run(xt, p)

    results = {
        "numba kernel (ours)": timeit(lambda: lif_numba(x, p), a.repeats),
        "numpy loop": timeit(lambda: lif_numpy(x, p), a.repeats),
        "torch loop (ours)": timeit(run_torch, a.repeats),
        "snntorch.Leaky loop": timeit(run_snn, a.repeats),
    }
    base = results["numba kernel (ours)"]
    print(f"{'implementation':<22} {'median s':>9} {'x numba':>8}")
    for name, t in results.items():
        print(f"{name:<22} {t:>9.3f} {t / base:>8.2f}")


if __name__ == "__main__":
    main()

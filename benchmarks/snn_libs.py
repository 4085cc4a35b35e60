"""Spiking layers on CPU: ours (fused Numba LIF) vs the plain torch loop, snnTorch, SpikingJelly, Norse.

    python benchmarks/snn_libs.py [--repeats 3] [--libs ours,torch_loop,snntorch,spikingjelly,norse] [--workloads ...]

Workloads (float32, time-first, loss = sum of the output spikes):

- ``linear_lif_1024`` / ``linear_lif_4096``: ``Linear(n, n)`` + LIF, T=100, B=16, forward + backward
  (weights get gradients, the input does not);
- ``lif_only``: LIF over ``[T=100, B=16, N=65536]`` currents, forward + backward to the currents;
- ``lif_only_inference``: the same LIF forward under ``no_grad``;
- ``linear_lif_1024_inference``: ``Linear(1024, 1024)`` + LIF forward under ``no_grad``.

Each (library, workload) runs in its own subprocess: one warm-up run (JIT, allocator), then
``--repeats`` timed runs (fewer when they pass 20 s): median and min wall time. Peak memory is the
subprocess's own: peak RSS (``VmHWM``, reset once imports, inputs and weights exist) minus the RSS at
that point, i.e. the most memory the runs needed on top of their inputs (JIT memory included; the
allocator's freed-but-kept heap is why the baseline is taken before the warm-up).
Ours = ``neuro.neurons.lif.lif_multistep`` (default: fused Numba kernels), with the synaptic input
of all T*B rows in one matmul as ``neuro.models.mlp`` does; ``torch_loop`` = the same with
``impl="reference"`` (per-step torch autograd loop). snnTorch: ``Leaky`` stepped over T with a
per-step ``Linear`` (its documented pattern); SpikingJelly: ``layer.Linear`` + ``neuron.LIFNode`` in
multi-step mode (SpikingJelly 2.0 runs torch ops on CPU); Norse: ``LIFBoxCell`` stepped over T.
All use a decay of 0.9 per step and threshold 1 (SpikingJelly: tau=10, decay_input=False, soft reset; Norse:
dt*tau_mem_inv = 0.1, its input is scaled by 10 to match).

The floors come from this machine. Linear+LIF floor = the forward and weight-gradient products
(``x @ W.T`` and ``g.T @ x``, 2 x 2*T*B*n*n flop; inference: the first only) on the workload's
shapes, timed in our child process alternately with our runs (median), so a drift of the machine's
matmul rate moves both; the parent also prints the rate of a 1600x4096 @ 4096x4096 ``torch.mm``.
LIF floor = memory bandwidth (``torch`` copy of 420 MB, in the parent) times the bytes our kernels must
move (fwd+bwd: x read 4 B, spikes+membrane written 8 B, membrane read 4 B, grad written 4 B = 20 B
per element; inference: 12 B) at that bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

LIBS = ("ours", "torch_loop", "snntorch", "spikingjelly", "norse")
WORKLOADS = ("linear_lif_1024", "linear_lif_4096", "lif_only", "lif_only_inference", "linear_lif_1024_inference")
T, B, N_LIF = 100, 16, 65536
BETA, V_TH = 0.9, 1.0


def _status(field: str) -> int:
    """A byte count from /proc/self/status (``VmRSS``: resident now, ``VmHWM``: peak resident)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak counts only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# -- one workload of one library (runs in the child) ------------------------------------------------

def _make_neuron(lib: str):
    """A function ``currents [T, B, N] -> spikes [T, B, N]`` for the library (multi-step)."""
    if lib in ("ours", "torch_loop"):
        from neuro.neurons.lif import LIFParams, lif_multistep
        p = LIFParams(beta=BETA, v_th=V_TH)
        impl = "reference" if lib == "torch_loop" else None
        return lambda cur: lif_multistep(cur, p, impl=impl)[0]
    if lib == "snntorch":
        import snntorch
        leaky = snntorch.Leaky(beta=BETA, threshold=V_TH)

        def run(cur):
            mem = leaky.init_leaky()
            out = []
            for t in range(cur.shape[0]):
                spk, mem = leaky(cur[t], mem)
                out.append(spk)
            return torch.stack(out)
        return run
    if lib == "spikingjelly":
        from spikingjelly.activation_based import functional, neuron
        node = neuron.LIFNode(tau=1.0 / (1.0 - BETA), decay_input=False, v_threshold=V_TH, v_reset=None,
                              detach_reset=True, step_mode="m")

        def run(cur):
            functional.reset_net(node)
            return node(cur)
        return run
    if lib == "norse":
        import norse.torch as nt
        cell = nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(V_TH)), dt=0.001)

        def run(cur):
            state, out = None, []
            for t in range(cur.shape[0]):
                z, state = cell(cur[t] * 10.0, state)
                out.append(z)
            return torch.stack(out)
        return run
    raise SystemExit(f"unknown library {lib!r}; allowed: {', '.join(LIBS)}")


def _make_workload(lib: str, workload: str):
    """Inputs, module and the function to time for (lib, workload)."""
    g = torch.Generator().manual_seed(0)
    neuron = _make_neuron(lib)
    infer = workload.endswith("_inference")
    if workload.startswith("lif_only"):
        x = torch.randn(T, B, N_LIF, generator=g) * 0.5 + 0.3
        if not infer:
            x.requires_grad_(True)

        def fn():
            if infer:
                with torch.no_grad():
                    neuron(x)
                return
            neuron(x).sum().backward()
            x.grad = None  # nothing outlives a run: the next run's peak is its own working set
        return fn
    n = int(workload.split("_")[2])
    x = torch.rand(T, B, n, generator=g)
    torch.manual_seed(0)
    if lib == "spikingjelly":
        from spikingjelly.activation_based import layer
        fc = layer.Linear(n, n, step_mode="m")
    else:
        fc = torch.nn.Linear(n, n)

    def forward():
        if lib in ("ours", "torch_loop"):  # one matmul over all T*B rows, as neuro.models.mlp
            return neuron(fc(x.reshape(T * B, n)).reshape(T, B, n))
        if lib == "spikingjelly":  # multi-step Linear: also one matmul over all T*B rows
            return neuron(fc(x))
        return _per_step(fc, x, neuron)  # snnTorch, Norse: a Linear per step

    def fn():
        if infer:
            with torch.no_grad():
                forward()
            return
        forward().sum().backward()
        fc.zero_grad(set_to_none=True)
    return fn


def _per_step(fc, x, neuron):
    """Per-step Linear then the library's neuron over the stacked currents (the neuron loop steps)."""
    return neuron(torch.stack([fc(x[t]) for t in range(x.shape[0])]))


def _floor_fn(workload: str):
    """The bare matrix products a Linear+LIF workload cannot avoid (forward ``x @ W.T``, and for
    training the weight gradient ``g.T @ x``), on the workload's shapes: timed in our child,
    interleaved with our runs, so the floor sees the same machine state as the run it bounds."""
    n = int(workload.split("_")[2])
    g = torch.Generator().manual_seed(1)
    x, w, gout = (torch.rand(T * B, n, generator=g), torch.randn(n, n, generator=g),
                  torch.randn(T * B, n, generator=g))
    if workload.endswith("_inference"):
        return lambda: torch.mm(x, w.t())
    return lambda: (torch.mm(x, w.t()), torch.mm(gout.t(), x))


def child(lib: str, workload: str, repeats: int) -> dict:
    fn = _make_workload(lib, workload)
    floor_fn = _floor_fn(workload) if lib == "ours" and workload.startswith("linear_lif") else None
    rss0 = _status("VmRSS")  # imports, inputs and weights
    _reset_peak()
    t0 = time.perf_counter()
    fn()  # warm-up: JIT compile / cache load, allocator
    warm = time.perf_counter() - t0
    times = []
    budget = time.perf_counter() + 20.0
    floor_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > budget:
            break
    peak = _status("VmHWM")  # ru_maxrss would include the parent's peak (kept across exec)
    if floor_fn is not None:  # after the peak is read: the floor's operands are not ours
        floor_fn()
        for _ in range(len(times)):
            t0 = time.perf_counter()
            floor_fn()
            floor_times.append(time.perf_counter() - t0)
            fn()
    out = {"lib": lib, "workload": workload, "median_s": statistics.median(times), "min_s": min(times),
           "runs": len(times), "warmup_s": warm, "peak_mb": max(0, peak - rss0) / 1e6}
    if floor_times:
        out["floor_s"] = statistics.median(floor_times)
    return out


# -- parent: floors, subprocesses, table ------------------------------------------------------------

def floors() -> dict:
    a, w = torch.randn(T * B, 4096), torch.randn(4096, 4096)
    torch.mm(a, w)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, w)
        ts.append(time.perf_counter() - t0)
    gflops = 2 * T * B * 4096 * 4096 / min(ts) / 1e9
    x = torch.empty(T, B, N_LIF)
    x.fill_(1.0)
    y = torch.empty_like(x)
    y.copy_(x)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        y.copy_(x)
        ts.append(time.perf_counter() - t0)
    bw = 2 * x.numel() * 4 / min(ts) / 1e9  # read + write
    return {"matmul_gflops": gflops, "bandwidth_gbs": bw}


def floor_s(workload: str, f: dict) -> float:
    if workload.startswith("linear_lif"):
        n = int(workload.split("_")[2])
        products = 1 if workload.endswith("_inference") else 2
        return products * 2 * T * B * n * n / (f["matmul_gflops"] * 1e9)
    per_elem = 12 if workload.endswith("_inference") else 20
    return per_elem * T * B * N_LIF / (f["bandwidth_gbs"] * 1e9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--child", nargs=2, metavar=("LIB", "WORKLOAD"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(*a.child, a.repeats)))
        return
    libs, workloads = a.libs.split(","), a.workloads.split(",")
    load0 = os.getloadavg()
    f = floors()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"floors: matmul {f['matmul_gflops']:.0f} GFLOP/s, memory copy {f['bandwidth_gbs']:.1f} GB/s (read+write)")
    results: dict[tuple[str, str], dict] = {}
    for wl in workloads:
        for lib in libs:
            cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, wl, "--repeats", str(a.repeats)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                tail = (p.stderr.strip().splitlines() or ["?"])[-1]
                print(f"  {wl:<26} {lib:<13} FAILED (rc {p.returncode}): {tail}", flush=True)
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            results[(wl, lib)] = r
            print(f"  {wl:<26} {lib:<13} median {r['median_s']:8.3f} s  min {r['min_s']:8.3f} s  "
                  f"peak +{r['peak_mb']:7.0f} MB  ({r['runs']} runs)", flush=True)
    load1 = os.getloadavg()
    print(f"\nload average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}\n")
    head = "| workload | " + " | ".join(libs) + " | floor | ours / floor |"
    print(head)
    print("|" + "---|" * (len(libs) + 3))
    for wl in workloads:
        cells = []
        for lib in libs:
            r = results.get((wl, lib))
            cells.append("failed" if r is None else f"{r['median_s']:.3f} s, {r['peak_mb'] / 1e3:.2f} GB")
        ours = results.get((wl, "ours"))
        fl = ours["floor_s"] if ours and "floor_s" in ours else floor_s(wl, f)
        frac = f"{fl / ours['median_s']:.0%} of floor speed" if ours else "-"
        print(f"| {wl} | " + " | ".join(cells) + f" | {fl:.3f} s | {frac} |")
    print("\nratios (peer time / ours time; >1 = ours faster) and peak memory (ours / peer):")
    for wl in workloads:
        ours = results.get((wl, "ours"))
        if not ours:
            continue
        parts = []
        for lib in libs:
            r = results.get((wl, lib))
            if lib == "ours" or r is None:
                continue
            mem = f", mem {ours['peak_mb'] / r['peak_mb']:.2f}x" if r["peak_mb"] > 0 else ""
            parts.append(f"{lib} {r['median_s'] / ours['median_s']:.2f}x{mem}")
        print(f"  {wl:<26} " + "; ".join(parts))


if __name__ == "__main__":
    main()

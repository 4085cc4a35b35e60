"""NALSM-1000 liquid: ours (``neuro.models.nalsm.simulate``, Numba) vs Brian2 (cpp_standalone), same network.

    python benchmarks/nalsm_vs_brian2.py [--samples 32] [--quick] [--threads 0] [--modes none,astro]

Both simulators run the liquid of ``build_network(NALSMParams())`` (10x10x10 LIF liquid, 784 input
neurons, the same 134,250 synapses and signed initial weights, dt = 1 ms, 250 ms per sample) on the
same inputs: MNIST test images (``$NEURO_DATA_DIR``; synthetic blobs when MNIST is absent), encoded
by ``neuro.models.nalsm.encode`` and drawn once by ``kernels.nalsm.bernoulli_draws``; Brian2 reads
these exact draws from a 2-D ``TimedArray``, so both see identical input spikes.

Brian2 model, in one process after ours. The ``--samples`` samples run back to back in one Brian2
run of ``samples x 250`` ms, with every state, weight and the astrocyte reset at each sample start
(``run_regularly`` every 250 ms): the standalone way to present many samples without recompiling.
One ``NeuronGroup`` holds all neurons, with a unitless ``v`` and explicit discrete updates
(``run_regularly``), scheduled as our kernel's step:

- ``thresholds``: ``v >= v_th`` and not refractory (Brian2's ``refractory = (t_ref + 1) ms``: a
  neuron that spiked at step t can spike again at t + 3, as our ``refr`` counter allows; ``v`` keeps
  integrating meanwhile, as in ours);
- ``groups``: every neuron's kernel value ``g(age)`` and ``g(age + 1)`` (one ``exp`` per neuron and
  step, read by the pathways below instead of one per synapse event);
- ``synapses``: pathway ``prop``: a presynaptic spike restarts its current kernel,
  ``I_post += w (g(0) - g(age_pre))``, ``g(a) = exp(-a / tau_syn) / tau_syn``, ``age = step - step
  of the pre's previous spike`` (only the last spike counts, the NALSM kernel, event-driven as in
  ours); counting synapses add +1 (liquid) / -1 (input) per spike to the astrocyte group's ``cnt``;
- ``resets``: ``v = 0``, last-spike step = now;
- ``end``: membrane ``v += I + 100 input(t) - v / tau_v`` (input neurons get the input, the liquid
  ``I``), ``I *= exp(-1 / tau_syn)``; then the STDP pathways of the same ``Synapses`` (moved to
  ``end``): ``on_post`` (a post spike adds ``a_plus x_pre``, skipped for pres that also spiked now) and
  ``stdp`` (a pre spike adds ``-A x_post``, plus ``a_plus x_pre`` when the post spiked too, one clip),
  signs swapped for inhibitory presynaptic neurons, clipped per presynaptic class, each weight change
  added to ``I_post`` times the presynaptic kernel ``g(age + 1)``; then traces
  ``x <- exp(-1/10) (x + 0.1 s)`` and the astrocyte (a 1-neuron group; ``a_plus`` and ``A`` reach the
  STDP code as per-neuron copies made by summed variables at the start of each step, since Brian2's
  Synapses cannot read linked variables) ``A <- A + (astro_w cnt + astro_bias - A) / 100``, then
  ``a_plus``, ``A``, ``astro_w``, ``astro_bias`` times 0.99.

This is our kernel's update order statement for statement, with the same floating-point operations in
the same order (temporaries keep Brian2's sympy pass from regrouping sums), so the float64 runs agree
spike for spike; the script checks every sample's liquid raster. Timing: ours in its default float32
(and float64, and float32 on one thread) over the whole batch, parallel over samples; Brian2 float64
(its default), ``openmp_threads = --threads`` (0 = no OpenMP). Brian2's one-time code generation and
C++ compilation is excluded from its rate and printed separately; its rate is the wall time of the
compiled binary's run (process start, loading the inputs, the simulation, writing the spikes); the
simulation loop alone (Brian2's own ``last_run_time``) is printed too. Ours: calls of ``simulate``
after one warm-up (Numba compilation excluded likewise). Each is timed ``--repeats`` times and the best
counts (wall and CPU separately): on a shared machine the best run is the one least disturbed. Prints
simulated ms per wall second (samples x 250 ms / wall s) and per CPU second (user + system of all
threads: less sensitive to other jobs on a shared machine) and the ratios ours / Brian2.

Brian2 2.9.0 (the newest on PyPI) calls ``np.ndarray.ptp``, which NumPy 2.4 removed (fixed upstream in
brian-team/brian2#1705, not yet released); :func:`import_brian2` applies that one-line fix at import.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels.nalsm import bernoulli_draws  # noqa: E402
from neuro.models import nalsm as nm  # noqa: E402


# --------------------------------------------------------------------------------------------- inputs

def load_probs(p: nm.NALSMParams, n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """``[n, 784]`` per-ms probabilities of ``n`` MNIST test images (scale from the training set, as
    the trainer does); synthetic blob images when MNIST is not available."""
    try:
        from neuro.data.datasets import load_dataset

        tr = load_dataset("mnist", "train", flatten=True, download=False, progress=False)
        te = load_dataset("mnist", "test", flatten=True, download=False, progress=False)
        return nm.encode(te.images[:n], nm.input_scale(tr.images)), "MNIST test images 0..%d" % (n - 1)
    except Exception as e:  # noqa: BLE001 - any missing/invalid data: fall back to synthetic images
        reason = str(e).splitlines()[0][:80]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    imgs = np.zeros((n, 784))
    for k in range(n):
        img = np.zeros((28, 28))
        for _ in range(3):
            cy, cx = rng.uniform(8, 20, 2)
            img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 4) ** 2))
        imgs[k] = (np.clip(img, 0, 1) > 0.2).ravel() * np.clip(img, 0, 1).ravel()
    return nm.encode(imgs, nm.input_scale(imgs)), f"synthetic blob images (MNIST not loaded: {reason})"


# --------------------------------------------------------------------------------------------- brian2

class _PtpFix(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Loads ``brian2.units.fundamentalunits`` with ``np.ndarray.ptp`` -> ``np.ptp`` (brian2#1705)."""

    name = "brian2.units.fundamentalunits"

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        self.origin = spec.origin
        return importlib.util.spec_from_file_location(fullname, spec.origin, loader=self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        src = Path(self.origin).read_text().replace("np.ndarray.ptp", "np.ptp")
        exec(compile(src, self.origin, "exec"), module.__dict__)


def import_brian2():
    if not hasattr(np.ndarray, "ptp") and "brian2" not in sys.modules:
        sys.meta_path.insert(0, _PtpFix())
    try:
        import brian2
    except ImportError as e:
        raise SystemExit(f"brian2 is not installed ({e}). Fix: pip install -c constraints.txt -r "
                         "benchmarks/requirements.txt") from e
    return brian2


def brian2_run(b2, p: nm.NALSMParams, net: nm.Network, draws: np.ndarray, mode: str, *, threads: int,
               workdir: str, first: bool, repeats: int = 1) -> dict:
    """Build, compile and run the network in Brian2 cpp_standalone over the samples of ``draws``
    ``uint8 [B, T, n_input]`` (back to back, everything reset per sample). Returns liquid spike
    counts ``[B, n_liq]``, per-sample spike lists and the timings."""
    from brian2 import (NeuronGroup, Network, Synapses, SpikeMonitor, TimedArray, defaultclock, device,
                        ms, prefs, set_device)

    if p.bias != 0.0:
        raise SystemExit("this benchmark models nalsm.bias = 0 (the paper's value) only.")
    B, T, n_in = draws.shape
    N, n_liq = net.n, net.n_liq
    if first:
        set_device("cpp_standalone", directory=workdir, build_on_run=False)
    else:
        device.reinit()
        device.activate(directory=workdir, build_on_run=False)
    prefs.devices.cpp_standalone.openmp_threads = threads
    prefs.core.default_float_dtype = np.float64
    defaultclock.dt = 1 * ms
    plastic = mode != "none"

    ns = dict(v_th=p.v_th, tau_v=p.tau_v, tau_syn=p.tau_syn, kdec=float(np.exp(-1.0 / p.tau_syn)),
              g0=1.0 / p.tau_syn, g1=float(np.exp(-1.0 / p.tau_syn) / p.tau_syn), i_in=p.input_current,
              trace_a=p.trace_a,
              trace_dec=float(np.exp(-1.0 / p.trace_tau)), lr_decay=p.lr_decay, astro_tau=p.astro_tau)
    drive = TimedArray(draws.reshape(B * T, n_in).astype(np.float64), dt=1 * ms, name="drive")
    ns["drive"] = drive

    eqs = """v : 1
I : 1
gcur : 1
gnext : 1
x : 1
tl : integer
isin : 1 (constant)
inp : integer (constant)
sgn : 1 (constant)
lo : 1 (constant)
hi : 1 (constant)
ce : 1 (constant)
cd : 1 (constant)
"""
    if plastic:
        # per-neuron copies of the astrocyte's a_plus and A (Synapses cannot read linked variables)
        eqs += "ap : 1\nA : 1\n"
    G = NeuronGroup(N, eqs, threshold="v >= v_th", reset="v = 0\ntl = timestep(t, dt)",
                    refractory=(p.t_ref + 1) * ms, method="exact", namespace=ns, name="G")
    cls = net.cls
    G.isin = (cls == nm.CLASS_INPUT).astype(float)
    G.inp = np.concatenate([np.zeros(n_liq, int), np.arange(n_in)])
    G.sgn = np.where(cls == nm.CLASS_INPUT, -1.0, 1.0)
    G.lo = np.where(cls == nm.CLASS_EXC, 0.0, -p.w_max)
    G.hi = np.where(cls == nm.CLASS_INH, 0.0, p.w_max)
    inh = cls == nm.CLASS_INH
    # depression rate of a pre spike (5b): a_plus for inhibitory pres, -dep otherwise; written as
    # ce * a_plus + cd * dep with ce, cd in {0, 1, -1} so every product and sum stays exact
    G.ce = inh.astype(float)
    G.cd = -(~inh).astype(float)
    G.tl = -10**9
    objs = [G]

    # per-step updates at the end of the step, in the kernel's order
    memb = "dv = I + isin * i_in * drive(t, inp) - v / tau_v\nv = v + dv\nI = I * kdec"
    G.run_regularly(memb, when="end", order=0, name="G_membrane")
    # each neuron's kernel value now and one step on, once per neuron and step (not per synapse event)
    G.run_regularly("gcur = exp(-(timestep(t, dt) - tl) / tau_syn) / tau_syn\n"
                    "gnext = exp(-(timestep(t, dt) + 1 - tl) / tau_syn) / tau_syn", when="groups", order=1,
                    name="G_kernel")
    reset_g = "v = 0\nI = 0\nx = 0\ntl = -1000000000\nlastspike = -10000 * second\nnot_refractory = True"
    G.run_regularly(reset_g, dt=T * ms, when="start", order=0, name="G_sample_reset")

    if plastic:
        a0 = p.a_plus
        astro = NeuronGroup(1, "cnt : 1\nAv : 1\napv : 1\naw : 1\nabias : 1", namespace=ns, name="astro")
        astro.run_regularly("u1 = aw * cnt\nu2 = u1 + abias\nu3 = u2 - Av\nAv = Av + u3 / astro_tau\n"
                            "apv = apv * lr_decay\n"
                            "Av = Av * lr_decay\naw = aw * lr_decay\nabias = abias * lr_decay\ncnt = 0",
                            when="end", order=4, name="astro_step")
        astro.run_regularly(f"cnt = 0\nAv = {a0!r}\napv = {a0!r}\naw = {p.astro_w!r}\n"
                            f"abias = {p.a_plus * (1.0 + p.astro_bias_offset)!r}",
                            dt=T * ms, when="start", order=2, name="astro_reset")
        # copied into every neuron at the start of each step (summed over one synapse: exact)
        Cp = Synapses(astro, G, model="ap_post = apv_pre : 1 (summed)\nA_post = Av_pre : 1 (summed)",
                      name="astro_copy")
        Cp.connect(i=np.zeros(N, int), j=np.arange(N))
    prop = "gi = g0 - gcur_pre\nI_post += w * gi"
    on_pre, on_post = {"prop": prop}, None
    if plastic:
        dep = "A_pre" if mode == "astro" else "ap_pre"
        # 5a: potentiation on a post spike (pres that also spiked are done in 5b); lr_pot = a_plus
        # for excitatory/input pres, -dep for inhibitory ones
        on_post = (
            f"lr_pot = (1 - ce_pre) * ap_pre - ce_pre * {dep}\n"
            "wn = clip(w + int(lastspike_pre != t) * lr_pot * x_pre, lo_pre, hi_pre)\n"
            "dw = wn - w\n"
            "I_post += dw * gnext_pre\n"
            "w = wn")
        # 5b: depression on a pre spike, plus potentiation when the post spiked too (one clip)
        on_pre["stdp"] = (
            f"lr_dep = ce_pre * ap_pre + cd_pre * {dep}\n"
            f"lr_pot = (1 - ce_pre) * ap_pre - ce_pre * {dep}\n"
            "d = lr_dep * x_post + int(lastspike_post == t) * lr_pot * x_pre\n"
            "wn = clip(w + d, lo_pre, hi_pre)\n"
            "dw = wn - w\n"
            "I_post += dw * g1\n"
            "w = wn")
    # one Synapses object (the pathways share w), created in our out-synapse order
    S = Synapses(G, G, model="w : 1\nw0 : 1 (constant)", on_pre=on_pre, on_post=on_post, namespace=ns,
                 name="S")
    S.connect(i=net.pre, j=net.out_post.astype(np.int64))
    S.w0 = net.w0.astype(np.float64)
    S.w = net.w0.astype(np.float64)
    S.run_regularly("w = w0", dt=T * ms, when="start", order=1, name="S_sample_reset")
    objs.append(S)
    if plastic:
        S.post.when, S.post.order = "end", 1
        S.stdp.when, S.stdp.order = "end", 2
        C = Synapses(G, astro, on_pre="cnt_post += sgn_pre", name="count")
        C.connect(i=np.arange(N), j=np.zeros(N, int))
        G.run_regularly("x = trace_dec * (trace_a * int(lastspike == t) + x)", when="end", order=3,
                        name="G_traces")
        objs += [astro, C, Cp]
    mon = SpikeMonitor(G[:n_liq], name="spikes")
    objs.append(mon)
    netw = Network(*objs)
    netw.run(B * T * ms, namespace={})
    t0 = time.perf_counter()
    device.build(directory=workdir, compile=True, run=False, with_output=False)
    compile_s = time.perf_counter() - t0
    run_s = cpu_s = loop_s = float("inf")
    for _ in range(repeats):  # best of `repeats` runs of the compiled binary
        c0 = _children_cpu()
        t0 = time.perf_counter()
        device.run(directory=workdir, with_output=False)
        run_s = min(run_s, time.perf_counter() - t0)
        cpu_s = min(cpu_s, _children_cpu() - c0)
        loop_s = min(loop_s, float(device._last_run_time))
    ii = np.asarray(mon.i[:], np.int64)
    tt = np.rint(np.asarray(mon.t[:] / ms)).astype(np.int64)
    sample = tt // T
    counts = np.zeros((B, n_liq), np.float64)
    np.add.at(counts, (sample, ii), 1.0)
    return dict(counts=counts, spikes=(sample, tt % T, ii), compile_s=compile_s, run_s=run_s, loop_s=loop_s,
                cpu_s=cpu_s)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------------------------- ours

def ours_run(p, net, probs, keys, mode, dtype, repeats, n_record=0):
    nm.simulate(p, net, probs[:2], keys[:2], mode=mode, dtype=dtype)  # warm-up (Numba compile/cache)
    times, cpus, res = [], [], None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        res = nm.simulate(p, net, probs, keys, mode=mode, dtype=dtype, n_record=n_record)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return res, min(times), min(cpus)


def raster_from_spikes(spikes, B, T, n_liq):
    r = np.zeros((B, T, n_liq), np.uint8)
    s, t, i = spikes
    r[s, t, i] = 1
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=32, help="samples (250 ms presentations) per run")
    ap.add_argument("--quick", action="store_true", help="small run: 4 samples, 1 repeat")
    ap.add_argument("--threads", type=int, default=0,
                    help="Brian2 openmp_threads (0: no OpenMP, Brian2's default and its fastest here)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each (the best counts)")
    ap.add_argument("--modes", default="none,astro", help="plasticity modes: none, stdp, astro")
    ap.add_argument("--workdir", default=None, help="Brian2 build folder (default: a temporary one)")
    args = ap.parse_args()
    if args.quick:
        args.samples, args.repeats = min(args.samples, 4), 1
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in nm.PLASTICITIES:
            raise SystemExit(f"--modes: {m!r} is not supported; allowed: {', '.join(nm.PLASTICITIES)}")
    if args.samples < 1 or args.repeats < 1 or args.threads < 0:
        raise SystemExit(f"--samples={args.samples}, --repeats={args.repeats}, --threads={args.threads}; "
                         "allowed: samples >= 1, repeats >= 1, threads >= 0")

    b2 = import_brian2()
    import numba

    p = nm.NALSMParams()
    net = nm.build_network(p)
    B, T = args.samples, p.duration
    probs, src = load_probs(p, B)
    keys = np.arange(B, dtype=np.int64)
    draws = bernoulli_draws(probs, keys, T)
    n_thr = numba.get_num_threads()
    load0 = os.getloadavg()
    print(f"NALSM-1000: {net.n_liq} liquid + {p.n_input} input neurons, {len(net.w0)} synapses, dt = 1 ms, "
          f"{T} ms per sample, {B} samples ({src})")
    print(f"brian2 {b2.__version__} cpp_standalone, openmp_threads={args.threads}, float64; ours: numba "
          f"{numba.__version__}, {n_thr} threads; load average at start {load0[0]:.2f} {load0[1]:.2f} "
          f"{load0[2]:.2f}", flush=True)
    workroot = args.workdir or tempfile.mkdtemp(prefix="nalsm_brian2_")
    try:
        rows = _run_modes(args, b2, numba, p, net, probs, keys, draws, modes, workroot, n_thr)
    finally:
        if args.workdir is None:
            shutil.rmtree(workroot, ignore_errors=True)
    _report(rows, B, T, load0)


def _run_modes(args, b2, numba, p, net, probs, keys, draws, modes, workroot, n_thr):
    B, T = len(probs), p.duration
    rows = []
    for k, mode in enumerate(modes):
        r32, t32, c32 = ours_run(p, net, probs, keys, mode, np.float32, args.repeats)
        r64, t64, _ = ours_run(p, net, probs, keys, mode, np.float64, args.repeats, n_record=B)
        numba.set_num_threads(1)
        _, t1, _ = ours_run(p, net, probs, keys, mode, np.float32, args.repeats)
        numba.set_num_threads(n_thr)
        br = brian2_run(b2, p, net, draws, mode, threads=args.threads, workdir=os.path.join(workroot, mode),
                        first=(k == 0), repeats=args.repeats)
        rb = raster_from_spikes(br["spikes"], B, T, net.n_liq)
        same = rb == r64.raster
        first_diff = None
        if not same.all():
            s_idx, t_idx, _ = np.nonzero(~same)
            first_diff = (int(s_idx[0]), int(t_idx[0]))
        hz = lambda c: float(np.mean(c) / T * 1000.0)  # noqa: E731
        rows.append(dict(mode=mode, t32=t32, c32=c32, b_cpu=br["cpu_s"], t64=t64, t1=t1, b_run=br["run_s"],
                         b_loop=br["loop_s"],
                         b_compile=br["compile_s"], hz32=hz(r32.counts), hz64=hz(r64.counts),
                         hzb=hz(br["counts"]), same_samples=int(same.all(axis=(1, 2)).sum()),
                         same32=int((r32.counts == br["counts"]).all(axis=1).sum()),
                         diff_cells=int((~same).sum()), first_diff=first_diff))
        print(f"  [{mode}] done", flush=True)
    return rows


def _report(rows, B, T, load0):
    sim_ms = B * T
    load1 = os.getloadavg()
    print(f"\nsimulated ms per wall second ({B} samples x {T} ms; ratio = ours f32 / brian2)")
    print(f"{'plasticity':<10} {'ours f32':>9} {'ours f64':>9} {'ours f32 1thr':>14} {'brian2':>8} "
          f"{'brian2 loop':>12} {'ratio':>7} {'ratio vs loop':>14}")
    for r in rows:
        print(f"{r['mode']:<10} {sim_ms / r['t32']:>9.0f} {sim_ms / r['t64']:>9.0f} {sim_ms / r['t1']:>14.0f} "
              f"{sim_ms / r['b_run']:>8.0f} {sim_ms / r['b_loop']:>12.0f} {r['b_run'] / r['t32']:>6.1f}x "
              f"{r['b_loop'] / r['t32']:>13.1f}x")
    print("(brian2 = wall time of the compiled binary's run; brian2 loop = its simulation loop alone)")
    print("\nsimulated ms per CPU second (all threads; less sensitive to other load on the machine)")
    print(f"{'plasticity':<10} {'ours f32':>9} {'brian2':>8} {'ratio':>7}")
    for r in rows:
        print(f"{r['mode']:<10} {sim_ms / r['c32']:>9.0f} {sim_ms / r['b_cpu']:>8.0f} {r['b_cpu'] / r['c32']:>6.1f}x")
    print(f"\n{'plasticity':<10} {'liquid Hz f32':>13} {'f64':>8} {'brian2':>8} {'f64 spike rasters = brian2':>27} "
          f"{'f32 counts = brian2':>20} {'brian2 compile':>15}")
    for r in rows:
        print(f"{r['mode']:<10} {r['hz32']:>13.3f} {r['hz64']:>8.3f} {r['hzb']:>8.3f} "
              f"{r['same_samples']:>15d} / {B:<9d} {r['same32']:>10d} / {B:<7d} {r['b_compile']:>13.1f} s")
        if r["first_diff"] is not None:
            print(f"           f64 rasters differ in {r['diff_cells']} (sample, ms, neuron) cells; first "
                  f"difference: sample {r['first_diff'][0]} at {r['first_diff'][1]} ms")
    ours_w = ", ".join(f"{r['mode']} {r['t32']:.2f} s" for r in rows)
    b2_w = ", ".join(f"{r['mode']} {r['b_run']:.2f} s" for r in rows)
    print(f"\nwall: ours f32 {ours_w}; brian2 {b2_w}; load average at end {load1[0]:.2f} {load1[1]:.2f} "
          f"{load1[2]:.2f}")


if __name__ == "__main__":
    main()

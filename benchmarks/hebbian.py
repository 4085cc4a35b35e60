"""Hebbian rules (Oja, Sanger, BCM, Krotov-Hopfield, SoftHebb, STDP), associative memories and the
contrastive rules (EP, dual propagation): each Numba kernel vs its torch version, in one process.

    python benchmarks/hebbian.py [--repeats 3]

For every case both backends get the same inputs; their outputs are compared first (weights to 1e-5,
retrieved states exactly), then the median wall time of ``--repeats`` runs after one warm-up run
(which also compiles or loads the Numba kernels) is printed with the ratio torch / numba (> 1: Numba
faster). torch runs on the CPU with its default thread count unless ``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from kernels import hebbian as kheb
from kernels import hopfield as khop
from neuro.rules import hebbian as heb
from neuro.rules import hopfield as hop


def timeit(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cases():
    rng = np.random.default_rng(0)
    f32 = np.float32

    def rule(name, p, t_fn, n_fn, w, x, state=None):
        t_state = None if state is None else heb.BCMState(torch.from_numpy(state[0]))

        def run_t():
            return t_fn(torch.from_numpy(w), torch.from_numpy(x), p, t_state)[0].numpy()

        def run_n():
            return n_fn(w, x, p, state)[0]

        return name, run_t, run_n, lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    x = (rng.standard_normal((20000, 1, 16)) * 0.5).astype(f32)
    yield rule("oja online   F=16 B=1 S=20000", heb.OjaParams(0.005), heb.oja_update, kheb.oja_update,
               (rng.standard_normal(16) * 0.1).astype(f32), x)
    x = (rng.standard_normal((200, 64, 784)) * 0.1).astype(f32)
    yield rule("oja batched  F=784 B=64 S=200", heb.OjaParams(0.01), heb.oja_update, kheb.oja_update,
               (rng.standard_normal(784) * 0.05).astype(f32), x)
    x = (rng.standard_normal((2000, 16, 64)) * 0.3).astype(f32)
    yield rule("sanger K=8   F=64 B=16 S=2000", heb.SangerParams(0.005), heb.sanger_update, kheb.sanger_update,
               (rng.standard_normal((8, 64)) * 0.1).astype(f32), x)
    x = np.abs(rng.standard_normal((2000, 16, 64)) * 0.2).astype(f32)
    yield rule("bcm N=16     F=64 B=16 S=2000", heb.BCMParams(0.005, 0.9), heb.bcm_update, kheb.bcm_update,
               np.abs(rng.standard_normal((16, 64)) * 0.1).astype(f32), x, (np.full(16, 0.1, f32),))

    def memory(name, t_fn, n_fn, s0, mem, p):
        return (name, lambda: t_fn(torch.from_numpy(s0), torch.from_numpy(mem), p)[0].numpy(),
                lambda: n_fn(s0, mem, p)[0], np.testing.assert_array_equal)

    xi = hop.random_patterns(24, 200, seed=1)
    s0 = hop.flip_bits(xi.repeat(4, 1), 0.2, seed=2).numpy()
    w = hop.hebbian_weights(xi).numpy()
    for mode in ("sync", "async"):
        yield memory(f"hopfield {mode:<5} N=200 P=24 B=96", hop.hopfield_retrieve, khop.hopfield_retrieve, s0, w,
                     hop.HopfieldParams(mode=mode))
    xi = hop.random_patterns(400, 200, seed=3).double()
    s0 = hop.flip_bits(xi[:100], 0.3, seed=4).numpy()
    for energy, mode in (("poly", "async"), ("exp", "async"), ("poly", "sync"), ("exp", "sync")):
        yield memory(f"dense_am {energy} {mode:<5} N=200 P=400 B=100", hop.dense_retrieve, khop.dense_retrieve, s0,
                     xi.numpy(), hop.DenseAMParams(energy=energy, n=3, mode=mode))

    from kernels import krotov as kkr
    from kernels import softhebb as ksh
    from kernels import stdp as kst
    from neuro.rules import krotov as kr
    from neuro.rules import softhebb as sh
    from neuro.rules import stdp as st

    x64 = rng.random((50, 100, 784))
    for name, t_fn, n_fn, p, w in (
            ("krotov K=2000 F=784 B=100 S=50 (float64)", kr.krotov_update, kkr.krotov_update, kr.KrotovParams(),
             rng.standard_normal((2000, 784))),
            ("softhebb K=2000 F=784 B=100 S=50 (float64)", sh.softhebb_update, ksh.softhebb_update, sh.SoftHebbParams(),
             rng.standard_normal((2000, 784)) * 0.05)):
        yield (name, (lambda t_fn=t_fn, p=p, w=w: t_fn(torch.from_numpy(w), torch.from_numpy(x64), p)[0].numpy()),
               (lambda n_fn=n_fn, p=p, w=w: n_fn(w, x64, p)[0]),
               lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9))
    pre = (rng.random((250, 8, 784)) < 0.02).astype(f32)
    post = (rng.random((250, 8, 200)) < 0.02).astype(f32)
    mask = (rng.random((200, 784)) < 0.1).astype(f32)
    w_st = (rng.random((8, 200, 784)) * 0.5).astype(f32) * mask
    sp = st.STDPParams()
    yield ("stdp 784->200 B=8 T=250, 10% synapses, 2% rate",
           lambda: st.stdp_run(torch.from_numpy(w_st), torch.from_numpy(pre), torch.from_numpy(post), sp,
                               mask=torch.from_numpy(mask))[0].numpy(),
           lambda: kst.stdp_run(w_st, pre, post, sp, mask=mask)[0],
           lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6))

    from neuro.rules import contrastive as cr

    g = torch.Generator().manual_seed(5)
    ws = [(torch.rand(b, a, generator=g) * 2 - 1) * (6 / (a + b)) ** 0.5 for a, b in ((784, 500), (500, 10))]
    bs = [torch.zeros(500), torch.zeros(10)]
    xb = torch.rand(32, 784, generator=g)
    yb = torch.arange(32) % 10
    yo = torch.nn.functional.one_hot(yb, 10).float()
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # noqa: E731
    p = cr.EPParams(beta=1.0, free_steps=20, nudged_steps=4)
    yield ("ep grads 784-500-10 B=32 (20+2x4 sweeps)", lambda: cr.ep_grads(xb, yo, ws, bs, p)[0][0][0].numpy(),
           lambda: cr.ep_grads(xb, yo, ws, bs, p, backend="numba")[0][0][0].numpy(), close)
    ws3 = [(torch.rand(b, a, generator=g) * 2 - 1) * (6 / (a + b)) ** 0.5 for a, b in ((784, 500), (500, 500), (500, 10))]
    bs3 = [torch.zeros(500), torch.zeros(500), torch.zeros(10)]
    q = cr.DPParams(beta=1.0)
    yield ("dualprop grads 784-500-500-10 B=32", lambda: cr.dp_grads(xb, yb, ws3, bs3, q)[0][0][0].numpy(),
           lambda: cr.dp_grads(xb, yb, ws3, bs3, q, backend="numba")[0][0][0].numpy(), close)

    from neuro.data.datasets import load_dataset
    from neuro.models.hopfield import DenseAMClassifier

    train, test = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    clf = DenseAMClassifier(hop.DenseAMParams(energy="exp")).fit(train.images, train.labels)
    yield ("dense_am label field, digits P=1438 B=359", lambda: clf.label_field(test.images, "torch").numpy(),
           lambda: clf.label_field(test.images, "numba").numpy(),
           lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} after a warm-up")
    print(f"{'case':<44} {'numba s':>9} {'torch s':>9} {'torch/numba':>12}")
    for name, run_t, run_n, check in cases():
        check(run_t(), run_n())
        tn, tt = timeit(run_n, args.repeats), timeit(run_t, args.repeats)
        print(f"{name:<44} {tn:>9.4f} {tt:>9.4f} {tt / tn:>11.1f}x", flush=True)


if __name__ == "__main__":
    main()

"""Capacity of associative memories: pairwise Hopfield vs dense (F = x**3) vs exponential, plus the
dense-memory classifier on MNIST.

    python examples/hopfield_capacity.py [--N 100 150 200] [--noise 0.1] [--out runs/hopfield_capacity]
    NEURO_DATA_DIR=/work/shared/data python examples/hopfield_capacity.py --mnist
    python examples/hopfield_capacity.py --replot       # redraw the plot from capacity.json

For every N and load P/N, P random +-1 patterns are stored; the first ``min(P, --probes)`` of them,
each with ``--noise`` of its bits flipped, are run to a fixed point (asynchronous updates, Numba
kernels). Reported per (model, N, P): the mean final overlap with the stored pattern and the fraction
of probes retrieved exactly. A second experiment sweeps the input noise at fixed load (N = max N,
P = 0.1 N). Writes ``capacity.png`` and ``capacity.json`` (atomically) in ``--out``. ``--mnist`` also
stores the 60,000 MNIST training images (+ label units) as memories of a dense associative memory
and reports its test accuracy for each energy (``neuro.models.hopfield.DenseAMClassifier``, torch).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from kernels.hopfield import dense_retrieve, hebbian_weights, hopfield_retrieve
from neuro.io import atomic_path, write_json
from neuro.rules.hopfield import DenseAMParams, HopfieldParams, flip_bits, random_patterns

ALPHAS = (0.05, 0.1, 0.138, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0, 8.0)
MODELS = {
    "pairwise": None,
    "dense n=3": DenseAMParams(energy="poly", n=3),
    "exponential": DenseAMParams(energy="exp", beta=1.0),
}


def retrieve(model: str, xi: np.ndarray, s0: np.ndarray, seed: int) -> np.ndarray:
    if model == "pairwise":
        return hopfield_retrieve(s0, hebbian_weights(xi), HopfieldParams(mode="async", max_steps=50, seed=seed))[0]
    p = MODELS[model]
    return dense_retrieve(s0, xi, DenseAMParams(energy=p.energy, n=p.n, beta=p.beta, max_steps=50, seed=seed))[0]


def capacity(Ns, alphas, noise: float, probes: int, seed: int = 0) -> list[dict]:
    rows = []
    for N in Ns:
        for a in alphas:
            P = max(1, round(a * N))
            B = min(P, probes)
            sets = min(10, -(-probes // P))  # small loads: several pattern sets, about `probes` probes in all
            ms = {model: [] for model in MODELS}
            for k in range(sets):
                xi = random_patterns(P, N, seed=seed + 1000 * N + P + 100_000 * k).double()
                s0 = flip_bits(xi[:B], noise, seed=seed + 7 + k).numpy()
                for model in MODELS:
                    s = retrieve(model, xi.numpy(), s0, seed + k)
                    ms[model].append((s * xi[:B].numpy()).sum(1) / N)
            for model in MODELS:
                m = np.concatenate(ms[model])
                rows.append(dict(model=model, N=N, P=P, load=P / N, noise=noise, probes=len(m),
                                 overlap=float(m.mean()), exact=float((m == 1).mean())))
    return rows


def noise_sweep(N: int, load: float, fractions, sets: int = 5, seed: int = 0) -> list[dict]:
    """Every stored pattern as a probe, ``sets`` independent pattern sets per noise level."""
    P = round(load * N)
    rows = []
    for f in fractions:
        for model in MODELS:
            m = []
            for k in range(sets):
                xi = random_patterns(P, N, seed=seed + 5 + k).double()
                s0 = flip_bits(xi, f, seed=seed + 11 + k).numpy()
                m.append((retrieve(model, xi.numpy(), s0, seed + k) * xi.numpy()).sum(1) / N)
            m = np.concatenate(m)
            rows.append(dict(model=model, N=N, P=P, noise=f, probes=len(m), overlap=float(m.mean()),
                             exact=float((m == 1).mean())))
    return rows


def plot(rows, sweep, path, noise: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    styles = {"pairwise": "o-", "dense n=3": "s--", "exponential": "^:"}
    Ns = sorted({r["N"] for r in rows})
    for model, st in styles.items():
        for k, N in enumerate(Ns):
            rr = [r for r in rows if r["model"] == model and r["N"] == N]
            kw = dict(color=f"C{list(styles).index(model)}", alpha=0.4 + 0.6 * (k + 1) / len(Ns), label=f"{model}, N={N}")
            ax[0].plot([r["load"] for r in rr], [r["exact"] for r in rr], st, **kw)
            ax[1].plot([r["load"] for r in rr], [r["overlap"] for r in rr], st, **kw)
        rr = [r for r in sweep if r["model"] == model]
        ax[2].plot([r["noise"] for r in rr], [r["overlap"] for r in rr], st, color=f"C{list(styles).index(model)}",
                   label=model)
    for a in ax[:2]:
        a.axvline(0.138, color="k", lw=1, ls="-.")
        a.text(0.13, 0.5, "0.138 N", rotation=90, ha="right", va="center")
        a.set_xscale("log")
        a.set_xlabel("stored patterns P / N")
    ax[0].set_ylabel(f"fraction retrieved exactly ({noise:.0%} bits flipped)")
    ax[1].set_ylabel("mean final overlap")
    ax[1].legend(fontsize=6, ncol=1, loc="center right")
    N2, P2 = sweep[0]["N"], sweep[0]["P"]
    ax[2].set_xlabel("fraction of bits flipped in the probe")
    ax[2].set_ylabel("mean final overlap")
    ax[2].set_title(f"retrieval under input noise, N={N2}, P={P2} (x{sweep[0]['probes'] // P2} sets)")
    ax[2].legend(fontsize=8)
    fig.suptitle("Associative memory capacity: pairwise Hopfield vs dense (F=x^3) vs exponential")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def mnist_accuracy(energies, batch_size: int = 250) -> list[dict]:
    from neuro.data.datasets import load_dataset
    from neuro.models.hopfield import DenseAMClassifier

    train, test = load_dataset("mnist", split="train"), load_dataset("mnist", split="test")
    out = []
    for p in energies:
        t0 = time.perf_counter()
        clf = DenseAMClassifier(p, dtype=torch.float32).fit(train.images, train.labels)
        acc = float((clf.predict(test.images, batch_size=batch_size) == test.labels).mean())
        out.append(dict(energy=p.energy, n=p.n, beta=p.beta, memories=len(train), test=len(test), accuracy=acc,
                        seconds=round(time.perf_counter() - t0, 1)))
        print(f"MNIST dense AM {p.energy} n={p.n} beta={p.beta}: {acc:.2%} ({out[-1]['seconds']} s)", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, nargs="+", default=[100, 150, 200])
    ap.add_argument("--noise", type=float, default=0.1, help="fraction of bits flipped in each probe")
    ap.add_argument("--probes", type=int, default=100, help="probes per (N, P) at most")
    ap.add_argument("--out", default="runs/hopfield_capacity")
    ap.add_argument("--mnist", action="store_true", help="also classify MNIST with dense memories")
    ap.add_argument("--replot", action="store_true", help="only redraw capacity.png from an existing capacity.json")
    args = ap.parse_args()
    if args.replot:
        with open(f"{args.out}/capacity.json", encoding="utf-8") as f:
            old = json.load(f)
        plot(old["capacity"], old["noise_sweep"], f"{args.out}/capacity.png", old["capacity"][0]["noise"])
        return
    t0 = time.perf_counter()
    rows = capacity(args.N, ALPHAS, args.noise, args.probes)
    print(f"{'model':<12} {'N':>4} {'P':>4} {'P/N':>6} {'probes':>6} {'exact':>6} {'overlap':>8}")
    for r in rows:
        print(f"{r['model']:<12} {r['N']:>4} {r['P']:>4} {r['load']:>6.3f} {r['probes']:>6} {r['exact']:>6.2f} "
              f"{r['overlap']:>8.3f}")
    sweep = noise_sweep(max(args.N), 0.1, (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45))
    for r in sweep:
        print(f"noise {r['noise']:.2f} {r['model']:<12} overlap {r['overlap']:.3f} exact {r['exact']:.2f}")
    t_cap = time.perf_counter() - t0
    result = dict(capacity=rows, noise_sweep=sweep, capacity_seconds=round(t_cap, 1))
    plot(rows, sweep, f"{args.out}/capacity.png", args.noise)
    if args.mnist:
        result["mnist"] = mnist_accuracy([DenseAMParams(energy="exp", beta=1.0), DenseAMParams(energy="rect_poly", n=20),
                                          DenseAMParams(energy="poly", n=3)])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(f"{args.out}/capacity.json", result)
    print(f"capacity experiment {t_cap:.1f} s, total {result['seconds']} s; wrote {args.out}/capacity.png, "
          f"{args.out}/capacity.json")
    print(json.dumps({k: v for k, v in result.items() if k == "mnist"}, indent=1))


if __name__ == "__main__":
    main()

"""Memory retention over sequence length: AM-SU vs a plain recurrent LIF layer of the same size.

Delayed recall (synthetic, seeded): one of ``K`` cues is shown for ``cue`` steps (its input channel at
1, with background noise on every channel for the whole trial), then ``delay`` silent-but-noisy steps,
then a ``go`` channel for ``go`` steps; the class is read from the output integrator's last step.
Chance is ``1/K``. Both nets (``neuro.models.amsu.AMSUNet``, ``astro=True`` / ``False``) get the same
width, initial weights (same seed), optimiser, steps and data; the AM-SU net has ``H`` extra gains.

    OMP_NUM_THREADS=1 nice -n 10 python examples/amsu_retention.py --out runs/amsu_retention
    python examples/amsu_retention.py --delays 5 20 --steps 60    # a quick look

Prints a table (test accuracy per delay, both nets, per seed and mean) and writes
``OUT/retention.json`` and ``OUT/retention.png`` (accuracy vs delay).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # idle Numba worker threads spinning next to torch slowed training 20x

from neuro.io import atomic_path, write_json  # noqa: E402
from neuro.models.amsu import AMSUNet  # noqa: E402
from neuro.neurons.amsu import AMSUParams  # noqa: E402


def delayed_recall(n: int, delay: int, *, k: int = 4, cue: int = 5, go: int = 5, noise: float = 0.05,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` trials ``[T, n, k + 1]`` (T = cue + delay + go) and their labels ``[n]``."""
    g = torch.Generator().manual_seed(seed)
    T = cue + delay + go
    y = torch.randint(0, k, (n,), generator=g)
    u = (torch.rand(T, n, k + 1, generator=g) < noise).float()
    u[:cue, torch.arange(n), y] = 1.0
    u[T - go:, :, k] = 1.0
    return u, y


def train_one(astro: bool, delay: int, args, seed: int) -> dict:
    """Train one net on the task with ``delay``; test accuracy on fresh trials."""
    torch.manual_seed(seed)
    p = AMSUParams(beta=args.beta, v_th=1.0, tau_astro=args.tau_astro, astro_gain=args.astro_gain,
                   surrogate_slope=5.0)
    net = AMSUNet(args.k + 1, args.hidden, args.k, p, astro=astro, readout="membrane_last", out_beta=0.8)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    t0 = time.perf_counter()
    for it in range(args.steps):
        u, y = delayed_recall(args.batch, delay, k=args.k, seed=10_000 * seed + it + 1)
        loss = torch.nn.functional.cross_entropy(net(u).logits, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    u, y = delayed_recall(args.test, delay, k=args.k, seed=999_999 - seed)
    out = net.run(u, "torch")
    acc = float((out.logits.argmax(1) == y).float().mean())
    nb = net.run(u.numpy(), "numba")
    agree = float((torch.from_numpy(nb.logits).argmax(1) == out.logits.argmax(1)).float().mean())
    res = {"astro": astro, "delay": delay, "seed": seed, "test_accuracy": acc, "numba_agreement": agree,
           "spike_rate": float(out.spikes.mean()), "train_s": round(time.perf_counter() - t0, 2)}
    if astro:
        res["gain_mean"] = float(net.layer.gain.detach().mean())
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delays", type=int, nargs="+", default=[10, 25, 50, 100, 200])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--k", type=int, default=4, help="number of cues (chance = 1/k)")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps per net")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--beta", type=float, default=0.9)
    ap.add_argument("--tau-astro", type=float, default=50.0)
    ap.add_argument("--astro-gain", type=float, default=4.0)
    ap.add_argument("--out", default="runs/amsu_retention")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for delay in args.delays:
        for seed in args.seeds:
            for astro in (True, False):
                r = train_one(astro, delay, args, seed)
                rows.append(r)
                print(f"delay {delay:4d} seed {seed} {'AM-SU' if astro else 'LIF  '}: acc {r['test_accuracy']:.3f} "
                      f"(numba agreement {r['numba_agreement']:.3f}, spike rate {r['spike_rate']:.3f}, "
                      f"{r['train_s']:.1f} s)", flush=True)
    table = []
    print(f"\n{'delay':>6} {'T':>5} {'AM-SU':>8} {'LIF':>8}   (mean test accuracy over seeds {args.seeds}; chance "
          f"{1 / args.k:.2f})")
    for delay in args.delays:
        a = np.mean([r["test_accuracy"] for r in rows if r["delay"] == delay and r["astro"]])
        b = np.mean([r["test_accuracy"] for r in rows if r["delay"] == delay and not r["astro"]])
        table.append({"delay": delay, "T": delay + 10, "amsu": float(a), "lif": float(b)})
        print(f"{delay:6d} {delay + 10:5d} {a:8.3f} {b:8.3f}")
    wall = time.perf_counter() - t0
    print(f"wall time {wall:.0f} s")
    write_json(out / "retention.json", {"args": vars(args), "runs": rows, "table": table, "wall_s": round(wall, 1)})
    _plot(table, args, out / "retention.png")
    print(f"wrote {out}/retention.json, {out}/retention.png")
    return 0


def _plot(table, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = [r["delay"] for r in table]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(d, [r["amsu"] for r in table], marker="o", label=f"AM-SU (tau_astro={args.tau_astro:g})")
    ax.plot(d, [r["lif"] for r in table], marker="s", label="recurrent LIF")
    ax.axhline(1 / args.k, color="grey", ls=":", label="chance")
    ax.set(xscale="log", xlabel="delay (steps)", ylabel="test accuracy", ylim=(0, 1.02),
           title=f"delayed recall, {args.hidden} units")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

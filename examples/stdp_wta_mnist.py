"""Diehl & Cook (2015) style winner-take-all STDP network on MNIST (``neuro.models.wta_stdp``).

Unsupervised: ``--neurons`` excitatory neurons learn their input weights with the project's pair
STDP (adaptive thresholds, lateral inhibition, weight normalisation) from ``--train`` training images
shown once each; then, with weights frozen, each neuron is labelled with the class it answers most on
``--assign`` training images (the first of the training subset), and the test images are classified
by the class whose neurons spike most::

    NEURO_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        python examples/stdp_wta_mnist.py --out runs/stdp_wta_mnist

Writes ``metrics.json`` (accuracy, times, settings), ``weights.pt`` (weights, thresholds, labels) and
``receptive_fields.png`` (each neuron's weights as a 28x28 image, in a grid) into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch

from neuro.data.datasets import load_dataset
from neuro.io import atomic_path, write_json
from neuro.models.wta_stdp import WTANetwork, WTAParams


def plot_fields(w: torch.Tensor, labels: torch.Tensor | None, path: Path, shape=(28, 28)) -> None:
    """Weights ``[n, H*W]`` as a near-square grid of images (label of each neuron in the corner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = w.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    h, wd = shape
    grid = np.full((rows * h, cols * wd), np.nan, np.float32)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * h:(r + 1) * h, c * wd:(c + 1) * wd] = w[k].reshape(h, wd).numpy()
    fig, ax = plt.subplots(figsize=(cols * 0.8 + 1, rows * 0.8 + 1))
    im = ax.imshow(grid, cmap="hot_r", interpolation="nearest")
    if labels is not None:
        for k in range(n):
            r, c = divmod(k, cols)
            ax.text(c * wd + 1, r * h + 4, str(int(labels[k])), color="blue", fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"input weights of {n} STDP neurons (blue: assigned class)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/stdp_wta_mnist")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--train", type=int, default=10000, help="training images, each shown once")
    ap.add_argument("--assign", type=int, default=10000, help="training images used to label the neurons")
    ap.add_argument("--test", type=int, default=10000, help="test images (the first N of the test set)")
    ap.add_argument("--t-present", type=float, default=350.0, help="ms per image")
    ap.add_argument("--dt", type=float, default=0.5, help="ms per step")
    ap.add_argument("--batch-size", type=int, default=1, help="images learned in parallel (1 = sequential)")
    ap.add_argument("--backend", default="auto", choices=["auto", "numba", "torch"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(a.out)
    t_all = time.perf_counter()
    tr = load_dataset(a.dataset, "train", flatten=True)
    te = load_dataset(a.dataset, "test", flatten=True)
    order = np.random.default_rng(a.seed).permutation(len(tr))[:a.train]
    x_tr, y_tr = tr.images[order], tr.labels[order]
    n_assign = min(a.assign, len(x_tr))
    x_te, y_te = te.images[:a.test], te.labels[:a.test]

    from neuro.rules.stdp import STDPParams

    stdp = STDPParams(a_plus=0.01, a_minus=0.0001, tau_plus=20.0, tau_minus=20.0, dt=a.dt, pairing="nearest",
                      w_min=0.0, w_max=1.0)
    p = WTAParams(n_neurons=a.neurons, n_inputs=tr.num_features, dt=a.dt, t_present=a.t_present, stdp=stdp,
                  batch_size=a.batch_size, backend=a.backend, seed=a.seed)
    net = WTANetwork(p)
    t0 = time.perf_counter()
    net.fit(x_tr, progress=not a.quiet)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    r_assign = net.responses(x_tr[:n_assign], progress=not a.quiet)
    net.assign_labels(labels=y_tr[:n_assign], n_classes=tr.num_classes, responses=r_assign)
    train_acc = float((net.vote(r_assign).numpy() == y_tr[:n_assign]).mean())
    t_assign = time.perf_counter() - t0
    t0 = time.perf_counter()
    r_test = net.responses(x_te, progress=not a.quiet)
    pred = net.vote(r_test).numpy()
    acc = float((pred == y_te).mean())
    t_test = time.perf_counter() - t0
    wall = time.perf_counter() - t_all
    classes_covered = int(len(torch.unique(net.assignments)))
    metrics = {
        "dataset": a.dataset, "neurons": a.neurons, "train_images": len(x_tr), "assign_images": n_assign,
        "test_images": len(x_te), "t_present_ms": a.t_present, "dt_ms": a.dt, "batch_size": a.batch_size,
        "backend": net.backend, "seed": a.seed, "test_accuracy": acc, "assign_set_accuracy": train_acc,
        "presentations": net.presentations, "classes_with_neurons": classes_covered,
        "neurons_per_class": torch.bincount(net.assignments, minlength=tr.num_classes).tolist(),
        "mean_test_spikes_per_image": float(r_test.sum(1).mean()),
        "theta_mean_mV": float(net.theta.mean()), "fit_s": t_fit, "assign_s": t_assign, "test_s": t_test,
        "wall_s": wall,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    with atomic_path(out / "weights.pt") as tmp:
        torch.save({"w": net.w, "theta": net.theta, "assignments": net.assignments, "params": repr(p)}, tmp)
    plot_fields(net.w, net.assignments, out / "receptive_fields.png", tr.image_shape)
    print(f"{a.dataset}: {a.neurons} neurons, {len(x_tr)} training images x 1 pass ({net.presentations} "
          f"presentations), labels from {n_assign}, test accuracy {acc:.4f} on {len(x_te)} test images "
          f"(assignment-set accuracy {train_acc:.4f}); fit {t_fit:.0f} s, assign {t_assign:.0f} s, "
          f"test {t_test:.0f} s, wall {wall:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

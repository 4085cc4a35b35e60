"""Criticality of the NALSM liquid: sweep the astrocyte weight, measure the liquid's branching factor
and the readout's test accuracy, and plot accuracy against branching factor (the paper's Fig. 3 idea:
accuracy peaks near the edge of chaos, branching factor ~1).

Each point is a full ``neuro train`` pipeline (initialisation phase, per-sample plasticity, cached
spike counts, softmax readout) on a subset of the dataset, so the sweep fits a 2-core machine::

    NEURO_DATA_DIR=/work/shared/data python examples/nalsm_criticality.py --out runs/nalsm_criticality

(resumable: a point whose run folder has metrics.json is read back, not re-run). Writes
``criticality.json``, ``criticality.md`` and ``criticality.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from neuro.io import atomic_path, write_json, write_text
from neuro.train.config import load_config
from neuro.train.trainer import train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/nalsm_criticality")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--astro-w", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.015, 0.03])
    ap.add_argument("--train", type=int, default=6000, help="training images (1/6 of them validate)")
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--init-samples", type=int, default=5000)
    ap.add_argument("--grid", type=int, nargs=3, default=[10, 10, 10])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    out = Path(a.out)
    rows = []
    for aw in a.astro_w:
        run = out / f"astro_w_{aw:g}"
        sets = [f'data.name="{a.dataset}"', "data.val_fraction=0.16666666666666666", f"data.limit_train={a.train}",
                f"data.limit_test={a.test}", 'train.rule="nalsm"', f"train.epochs={a.epochs}", "train.lr=1e-3",
                "train.batch_size=256", f"nalsm.grid={list(a.grid)}", f"nalsm.astro_w={aw}",
                f"nalsm.init_samples={a.init_samples}", "nalsm.chunk=1000"]
        t0 = time.time()
        if (run / "metrics.json").exists():
            m = json.loads((run / "metrics.json").read_text())
        else:
            m = train(load_config(None, sets), run, resume=(run / "checkpoint.pt").exists(), progress=not a.quiet)
        rows.append({"astro_w": aw, "test_accuracy": m["test_accuracy"], "branching_factor": m["branching_factor"],
                     "liquid_rate_hz": m["liquid_rate_hz"], "wall_s": m.get("wall_s", time.time() - t0)})
        print(f"astro_w={aw:g}: test accuracy {m['test_accuracy']:.4f}, branching factor "
              f"{m['branching_factor']:.3f}, liquid rate {m['liquid_rate_hz']:.1f} Hz", flush=True)
    write_json(out / "criticality.json", rows)
    lines = ["| astro_w | branching factor | liquid rate (Hz) | test accuracy |", "|---|---|---|---|"]
    lines += [f"| {r['astro_w']:g} | {r['branching_factor']:.3f} | {r['liquid_rate_hz']:.1f} | "
              f"{100 * r['test_accuracy']:.2f} % |" for r in rows]
    write_text(out / "criticality.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, out / "criticality.png", a)
    return 0


def plot(rows: list[dict], path: Path, a) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    bf = [r["branching_factor"] for r in rows]
    acc = [100 * r["test_accuracy"] for r in rows]
    ax[0].plot(bf, acc, "o")
    for r, x, y in zip(rows, bf, acc):
        ax[0].annotate(f"{r['astro_w']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax[0].axvline(1.0, color="grey", lw=0.8, ls="--")
    ax[0].set(xlabel="branching factor", ylabel="test accuracy (%)", title="accuracy vs criticality")
    ax[1].plot([r["astro_w"] for r in rows], bf, "s-")
    ax[1].set(xlabel="astrocyte weight astro_w", ylabel="branching factor")
    fig.suptitle(f"NALSM-{a.grid[0] * a.grid[1] * a.grid[2]} on {a.dataset} ({a.train} train / {a.test} test images)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

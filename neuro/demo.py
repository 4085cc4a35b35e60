"""``neuro demo``: the main job on the embedded default. Trains the spiking MLP 64-128-10 on
scikit-learn's bundled ``digits`` through the trainer (a full run folder), then reports test
accuracy on both backends (torch and numba), their agreement and the hidden spike rate. The CLI
then builds and verifies the firmware (``neuro hw build``, iCE40 UP5K), trains the conventional
twin into ``OUT/ann`` and writes the energy comparison of the two into ``OUT/energy``.

Everything is embedded (no download); on 2 CPU cores it takes well under a minute.
"""

from __future__ import annotations

from pathlib import Path

from neuro.train.config import RunConfig, load_config

RUN_FILES = ("config.toml", "checkpoint.pt", "metrics.json", "history.csv", "curves.png")

#: The demo network, as ``--set`` overrides of the config defaults (== examples/configs/snn_mlp_digits.toml).
DEMO_OVERRIDES = [
    "data.name=digits", "data.encoding=rate", "data.num_steps=25",
    "model.kind=spiking_mlp", "model.hidden=[128]", "model.beta=0.9", "model.v_th=1.0",
    "model.readout=membrane_mean",
    "train.epochs=30", "train.batch_size=64", "train.lr=2e-3", "train.loss=membrane_ce", "train.seed=0",
    'train.eval_backends=["torch", "numba"]',
]


def demo_config(overrides: list[str] | None = None) -> RunConfig:
    """The demo's RunConfig, with optional further ``--set`` overrides."""
    return load_config(None, DEMO_OVERRIDES + list(overrides or []))


def run_demo(out: str | Path = "runs/demo", overrides: list[str] | None = None, progress: bool = True) -> dict:
    """Train the demo network into ``out`` (replacing an earlier demo run there); return metrics."""
    from neuro.train.trainer import train

    out = Path(out)
    for name in RUN_FILES:  # only the files a run writes; nothing else in the folder is touched
        (out / name).unlink(missing_ok=True)
    return train(demo_config(overrides), out, progress=progress)


def run_demo_ann(out: str | Path, overrides: list[str] | None = None, progress: bool = True) -> dict:
    """Train the demo network's conventional twin (same layer sizes, ReLU, no time axis) into ``out``,
    for the energy comparison; return its metrics."""
    from neuro.train.trainer import train

    out = Path(out)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    ann = list(overrides or []) + ["model.kind=ann_mlp", 'train.eval_backends=["torch"]']
    return train(demo_config(ann), out, progress=progress)


def format_report(m: dict) -> str:
    """The demo's printed summary."""
    lines = [
        f"spiking MLP on {m['dataset']} ({m['n_eval']} test samples), {m['epochs']} epochs on {m['device']}, "
        f"{m['params']} parameters, {m['wall_s']:.1f} s",
        f"{'backend':<8} {'test accuracy':>14} {'eval s':>8}",
    ]
    for b in ("torch", "numba"):
        lines.append(f"{b:<8} {m[f'test_accuracy_{b}']:>14.4f} {m[f'eval_s_{b}']:>8.3f}")
    lines.append(f"backend agreement: {m['agreement_torch_numba']:.4f}   "
                 f"hidden spike rate: {m['spike_rate']:.4f} spikes/neuron/step")
    return "\n".join(lines)

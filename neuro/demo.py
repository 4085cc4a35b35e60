"""``neuro demo``: train a spiking MLP on scikit-learn's bundled ``digits`` and evaluate it on
both backends (torch and numba), printing test accuracy, spike rate and backend agreement.

Everything is embedded (no download); on 2 CPU cores it takes well under a minute.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from neuro.data import encoding
from neuro.data.datasets import load_dataset
from neuro.device import resolve_device
from neuro.io import atomic_path, write_json
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
from neuro.neurons.lif import LIFParams
from neuro.train.loop import accuracy, fit


def run_demo(*, epochs: int = 30, num_steps: int = 25, hidden: int = 128, seed: int = 0,
             device: str = "auto", out: str | Path | None = "runs/demo", progress: bool = True) -> dict:
    """Train, evaluate on both backends, write ``metrics.json`` and ``curves.png`` to ``out``.

    Returns the metrics dict (accuracies, agreement, spike rate, wall times).
    """
    train = load_dataset("digits", split="train")
    test = load_dataset("digits", split="test")
    flat = lambda d: np.array(d.images.reshape(len(d.images), -1))  # noqa: E731  [N, 64] in [0, 1], writable
    x_train = encoding.rate(torch.from_numpy(flat(train)), num_steps, seed=seed)
    x_test = encoding.rate(torch.from_numpy(flat(test)), num_steps, seed=seed + 1)
    y_train = torch.from_numpy(np.array(train.labels))

    cfg = SpikingMLPConfig(sizes=(x_train.shape[-1], hidden, 10), lif=LIFParams(beta=0.9, v_th=1.0))
    torch.manual_seed(seed)
    model = SpikingMLP(cfg)
    fitted = fit(model, x_train, y_train, epochs=epochs, seed=seed, device=device, progress=progress)

    metrics: dict = {"dataset": "digits", "model": "spiking_mlp", "sizes": list(cfg.sizes),
                     "lif": asdict(cfg.lif), "num_steps": num_steps, "epochs": epochs, "seed": seed,
                     "device": str(resolve_device(device)), "train_wall_s": round(fitted.wall_s, 2),
                     "train_accuracy": fitted.train_accuracy[-1], "n_test": int(len(test.labels)),
                     "python": platform.python_version(), "torch": torch.__version__}
    preds = {}
    for backend, x in (("torch", x_test), ("numba", x_test.numpy())):
        t0 = time.perf_counter()
        preds[backend] = model.predict(x, backend=backend)
        metrics[f"test_accuracy_{backend}"] = accuracy(preds[backend], test.labels)
        metrics[f"eval_wall_s_{backend}"] = round(time.perf_counter() - t0, 3)
    metrics["backend_agreement"] = float(np.mean(preds["torch"] == preds["numba"]))
    with torch.no_grad():
        hidden_spikes = model.run(x_test, "torch").hidden_spikes[0]
    metrics["spike_rate"] = float(hidden_spikes.mean())  # spikes per hidden neuron per step
    metrics["input_spike_rate"] = float(x_test.mean())
    if out is not None:
        out = Path(out)
        write_json(out / "metrics.json", metrics)
        _plot_curves(fitted, out / "curves.png")
    return metrics


def _plot_curves(fitted, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    epochs = np.arange(1, len(fitted.loss) + 1)
    ax[0].plot(epochs, fitted.loss)
    ax[0].set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    ax[1].plot(epochs, fitted.train_accuracy)
    ax[1].set(xlabel="epoch", ylabel="accuracy", title="training accuracy")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def format_report(m: dict) -> str:
    """The demo's printed summary."""
    lines = [
        f"spiking MLP {m['sizes']} on digits ({m['n_test']} test samples), T={m['num_steps']} rate-coded steps, "
        f"{m['epochs']} epochs on {m['device']} in {m['train_wall_s']:.1f} s",
        f"{'backend':<8} {'test accuracy':>14} {'eval s':>8}",
    ]
    for b in ("torch", "numba"):
        lines.append(f"{b:<8} {m[f'test_accuracy_{b}']:>14.4f} {m[f'eval_wall_s_{b}']:>8.3f}")
    lines.append(f"backend agreement: {m['backend_agreement']:.4f}   "
                 f"hidden spike rate: {m['spike_rate']:.4f} spikes/neuron/step")
    return "\n".join(lines)

"""The training API in a few lines: a spiking MLP and its ANN twin on digits, evaluated on both
backends. Run from the repo root:  python examples/train_api.py  (about 20 s on 2 cores)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from neuro.train.config import load_config
from neuro.train.trainer import train

with tempfile.TemporaryDirectory() as tmp:
    # the example config, with two keys overridden exactly as `neuro train ... --set` does
    snn_cfg = load_config(Path(__file__).parent / "configs" / "snn_mlp_digits.toml",
                          ["train.epochs=15", "model.hidden=[96]"])
    snn = train(snn_cfg, Path(tmp) / "snn", progress=False)

    # the conventional network of the same shape: same config, model.kind swapped
    ann_cfg = load_config(None, ["model.kind=ann_mlp", "model.hidden=[96]", "train.epochs=30", "train.lr=3e-3"])
    ann = train(ann_cfg, Path(tmp) / "ann", progress=False)

print(f"spiking MLP 64-96-10: torch {snn['test_accuracy_torch']:.4f}, numba {snn['test_accuracy_numba']:.4f}, "
      f"agreement {snn['agreement_torch_numba']:.4f}, spike rate {snn['spike_rate']:.3f}, {snn['params']} params")
print(f"ANN twin 64-96-10:    {ann['test_accuracy']:.4f}, {ann['params']} params")

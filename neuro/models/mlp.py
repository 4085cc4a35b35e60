"""Spiking multilayer perceptron: Linear -> LIF per layer, run on the torch or numba backend.

Shapes: input ``[T, B, n_in]`` (spikes or currents, float32), output spikes and membrane
``[T, B, n_out]``. Each layer computes its synaptic input for all ``T*B`` rows in one matmul, then
runs the registered LIF implementation over time, so the same network evaluates on any backend
in ``neuro.registry`` with the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.neurons.lif import LIFParams
from neuro.registry import BACKENDS, REGISTRY

Readout = Literal["membrane_mean", "spike_count"]
READOUTS = ("membrane_mean", "spike_count")


class MLPOutput(NamedTuple):
    """Result of a forward pass. ``spikes``/``membrane``: output layer ``[T, B, n_out]``;
    ``hidden_spikes``: one ``[T, B, n_h]`` per hidden layer; all on the backend's array type."""

    spikes: object
    membrane: object
    hidden_spikes: list


@dataclass(frozen=True)
class SpikingMLPConfig:
    """Layer sizes ``[n_in, h1, ..., n_out]``, the neuron of every layer, and the readout."""

    sizes: tuple[int, ...] = (64, 128, 10)
    lif: LIFParams = LIFParams()
    readout: Readout = "membrane_mean"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2:
            raise ConfigError(f"sizes={self.sizes!r} is too short; allowed: at least [n_in, n_out].")
        for i, n in enumerate(self.sizes):
            check_number(f"sizes[{i}]", n, lo=1, integer=True)
        if self.readout not in READOUTS:
            raise ConfigError(f"readout={self.readout!r} is not supported; allowed: {', '.join(READOUTS)}.")


class SpikingMLP(nn.Module):
    """Linear + LIF layers with explicit state (safe under DDP; no hidden module state)."""

    def __init__(self, config: SpikingMLPConfig = SpikingMLPConfig()) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(config.sizes[:-1], config.sizes[1:]))

    def forward(self, x: torch.Tensor) -> MLPOutput:
        """Torch backend (differentiable). ``x``: ``[T, B, n_in]``."""
        return self.run(x, backend="torch")

    def run(self, x, backend: str = "torch") -> MLPOutput:
        """Evaluate on ``backend`` (``torch``: tensors; ``numba``: numpy arrays, no autograd)."""
        if backend not in BACKENDS:
            raise ConfigError(f"backend={backend!r} is not supported; allowed: {', '.join(BACKENDS)}.")
        check_array("x", x, ndim=3)
        if x.shape[-1] != self.config.sizes[0]:
            raise ConfigError(
                f"x has {x.shape[-1]} input features (shape {tuple(x.shape)}); allowed: {self.config.sizes[0]} "
                "(config.sizes[0]). Flatten or resize the input."
            )
        lif = REGISTRY.get("lif", backend)
        T, B = x.shape[:2]
        hidden = []
        h = x
        for i, layer in enumerate(self.layers):
            if backend == "torch":
                cur = layer(h.reshape(T * B, -1)).reshape(T, B, -1)
            else:
                w = layer.weight.detach().cpu().numpy()
                b = layer.bias.detach().cpu().numpy()
                cur = (np.ascontiguousarray(h, dtype=np.float32).reshape(T * B, -1) @ w.T + b).reshape(T, B, -1)
            s, v, _ = lif(cur, self.config.lif)
            if i < len(self.layers) - 1:
                hidden.append(s)
            h = s
        return MLPOutput(s, v, hidden)

    def logits(self, out: MLPOutput):
        """Class scores ``[B, n_out]`` from the configured readout (same type as the output)."""
        if self.config.readout == "membrane_mean":
            return out.membrane.mean(0)
        return out.spikes.sum(0)

    @torch.no_grad()
    def predict(self, x, backend: str = "torch", batch_size: int = 256) -> np.ndarray:
        """Predicted class per sample (int64 numpy ``[B]``), evaluated in batches on ``backend``."""
        preds = []
        for lo in range(0, x.shape[1], batch_size):
            out = self.run(x[:, lo:lo + batch_size], backend)
            scores = self.logits(out)
            preds.append(scores.argmax(-1).cpu().numpy() if backend == "torch" else np.asarray(scores).argmax(-1))
        return np.concatenate(preds).astype(np.int64)

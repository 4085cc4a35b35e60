"""Spiking multilayer perceptron: Linear -> LIF (or ALIF) per layer, run on the torch or numba backend.

Shapes: input ``[T, B, n_in]`` (spikes or currents, float32), output spikes and membrane
``[T, B, n_out]``. Each layer computes its synaptic input for all ``T*B`` rows in one matmul, then
runs the registered neuron implementation (``neuro.registry``, component = ``config.neuron``) over
time, so the same network evaluates on any backend with the same weights. Class scores come from
``neuro.models.readout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import torch
from torch import nn

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.models.readout import READOUTS, ReadoutName, check_readout, readout
from neuro.neurons.alif import ALIFParams
from neuro.neurons.lif import LIFParams
from neuro.registry import BACKENDS, REGISTRY

Readout = ReadoutName  # kept for callers of the former name
NeuronName = Literal["lif", "alif"]
NEURONS: tuple[str, ...] = get_args(NeuronName)
_PARAMS = {"lif": LIFParams, "alif": ALIFParams}

__all__ = ["MLPOutput", "NEURONS", "READOUTS", "SpikingMLP", "SpikingMLPConfig", "check_backend",
           "predict_batches", "resolve_neuron"]


def resolve_neuron(owner: str, neuron: str, params: LIFParams | ALIFParams | None) -> LIFParams | ALIFParams:
    """The neuron parameters in force: ``params``, or the neuron's defaults when ``None``.
    ConfigError when ``neuron`` is unknown or ``params`` is of the other neuron's class."""
    if neuron not in _PARAMS:
        raise ConfigError(f"{owner}.neuron={neuron!r} is not supported; allowed: {', '.join(NEURONS)}.")
    cls = _PARAMS[neuron]
    if params is None:
        return cls()
    if not isinstance(params, cls):
        raise ConfigError(f"{owner}.lif is a {type(params).__name__} but neuron={neuron!r}; allowed: "
                          f"{cls.__name__} (or leave it unset for the defaults).")
    return params


def check_backend(backend: str) -> None:
    """ConfigError unless ``backend`` is a known backend."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not supported; allowed: {', '.join(BACKENDS)}.")


def predict_batches(model, x, backend: str, batch_size: int) -> np.ndarray:
    """Argmax of ``model.logits(model.run(batch, backend))`` over batches along axis 1 of ``x``
    (``[T, B, ...]``): int64 numpy ``[B]``."""
    check_number("batch_size", batch_size, lo=1, integer=True)
    preds = []
    with torch.no_grad():
        for lo in range(0, x.shape[1], batch_size):
            scores = model.logits(model.run(x[:, lo:lo + batch_size], backend))
            preds.append(scores.argmax(-1).cpu().numpy() if torch.is_tensor(scores) else np.asarray(scores).argmax(-1))
    return np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)


class MLPOutput(NamedTuple):
    """Result of a forward pass. ``spikes``/``membrane``: output layer ``[T, B, n_out]``;
    ``hidden_spikes``: one ``[T, B, n_h]`` per hidden layer; all on the backend's array type."""

    spikes: object
    membrane: object
    hidden_spikes: list


@dataclass(frozen=True)
class SpikingMLPConfig:
    """Layer sizes ``[n_in, h1, ..., n_out]``, the neuron of every layer, and the readout.

    neuron: ``"lif"`` or ``"alif"`` (the registry component every layer runs).
    lif: that neuron's parameters, ``LIFParams`` for ``lif`` and ``ALIFParams`` for ``alif``
        (the field keeps its historical name); ``None`` means the neuron's defaults.
    readout: how ``logits`` turns the output layer into class scores (``neuro.models.readout``).
    """

    sizes: tuple[int, ...] = (64, 128, 10)
    lif: LIFParams | ALIFParams | None = None
    readout: ReadoutName = "membrane_mean"
    neuron: NeuronName = "lif"

    def __post_init__(self) -> None:
        if not isinstance(self.sizes, (tuple, list)):
            raise ConfigError(f"sizes={self.sizes!r} is not a sequence; allowed: a list of layer sizes "
                              "[n_in, ..., n_out].")
        object.__setattr__(self, "sizes", tuple(self.sizes))
        if len(self.sizes) < 2:
            raise ConfigError(f"sizes={self.sizes!r} is too short; allowed: at least [n_in, n_out].")
        for i, n in enumerate(self.sizes):
            check_number(f"sizes[{i}]", n, lo=1, integer=True)
        check_readout(self.readout)
        object.__setattr__(self, "lif", resolve_neuron("SpikingMLPConfig", self.neuron, self.lif))

    @property
    def params(self) -> LIFParams | ALIFParams:
        """The neuron parameters of every layer (``lif``, under a neuron-neutral name)."""
        return self.lif


class SpikingMLP(nn.Module):
    """Linear + LIF/ALIF layers with explicit state (safe under DDP; no hidden module state)."""

    spiking = True

    def __init__(self, config: SpikingMLPConfig = SpikingMLPConfig()) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(config.sizes[:-1], config.sizes[1:]))

    def forward(self, x: torch.Tensor) -> MLPOutput:
        """Torch backend (differentiable). ``x``: ``[T, B, n_in]``."""
        return self.run(x, backend="torch")

    def run(self, x, backend: str = "torch") -> MLPOutput:
        """Evaluate on ``backend`` (``torch``: tensors; ``numba``: numpy arrays, no autograd)."""
        check_backend(backend)
        check_array("x", x, ndim=3)
        if x.shape[-1] != self.config.sizes[0]:
            raise ConfigError(
                f"x has {x.shape[-1]} input features (shape {tuple(x.shape)}); allowed: {self.config.sizes[0]} "
                "(config.sizes[0]). Flatten or resize the input."
            )
        neuron = REGISTRY.get(self.config.neuron, backend)
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
            s, v, _ = neuron(cur, self.config.lif)
            if i < len(self.layers) - 1:
                hidden.append(s)
            h = s
        return MLPOutput(s, v, hidden)

    def logits(self, out: MLPOutput):
        """Class scores ``[B, n_out]`` from the configured readout (same type as the output)."""
        return readout(self.config.readout, out)

    def predict(self, x, backend: str = "torch", batch_size: int = 256) -> np.ndarray:
        """Predicted class per sample (int64 numpy ``[B]``), evaluated in batches on ``backend``."""
        return predict_batches(self, x, backend, batch_size)

"""Spiking convolutional network: conv-LIF-maxpool, conv-LIF-maxpool, flatten, fc-LIF.

Shapes: input ``[T, B, C, H, W]`` (spikes or currents, float32), output spikes and membrane
``[T, B, n_classes]``. Every stage computes its synaptic input for all ``T*B`` frames in one call
(the time axis folded into the batch), then runs the registered neuron (``neuro.registry``,
component = ``config.neuron``) over time; max-pooling acts on the spikes (a logical OR of each
window). The same weights evaluate on two backends:

- ``torch``: ``nn.Conv2d`` / ``max_pool2d`` / ``nn.Linear`` and the torch neuron, differentiable;
- ``numba``: float32 numpy for the synaptic ops (convolution as im2col over
  ``sliding_window_view`` and one matmul per chunk of frames, pooling as reshape + max) and the
  Numba neuron kernel. Convolution sums are accumulated in another order than torch's, so a
  membrane potential within a few ulp of the threshold can spike on one backend and not the
  other; the tests bound how rarely that happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuro.checks import check_array, check_number, is_torch
from neuro.errors import ConfigError
from neuro.models.mlp import NeuronName, check_backend, predict_batches, resolve_neuron
from neuro.models.readout import ReadoutName, check_readout, readout
from neuro.neurons.alif import ALIFParams
from neuro.neurons.lif import LIFParams
from neuro.registry import REGISTRY

#: Frames per im2col chunk on the numba backend are chosen so one chunk's columns stay under this.
IM2COL_BYTES = 32 << 20


class ConvOutput(NamedTuple):
    """Result of a forward pass. ``spikes``/``membrane``: output layer ``[T, B, n_classes]``;
    ``hidden_spikes``: the spikes of the two conv stages before pooling, ``[T, B, c_i, H_i, W_i]``;
    all on the backend's array type."""

    spikes: object
    membrane: object
    hidden_spikes: list


@dataclass(frozen=True)
class SpikingConvConfig:
    """Architecture of a ``SpikingConvNet``.

    in_shape: one frame ``(C, H, W)``. channels: ``(c1, c2)`` output channels of the two convs.
    kernel_size: square kernel side, >= 1. padding: zeros added on each side of both convs;
        ``None`` means ``kernel_size // 2`` (size-preserving for odd kernels).
    pool: max-pool window and stride (floor mode: a ragged last row/column is dropped), >= 1.
    n_classes: output neurons. neuron: ``"lif"`` or ``"alif"``; lif: its parameters
        (``LIFParams`` / ``ALIFParams``, ``None`` = defaults), shared by every layer.
    readout: how ``logits`` turns the output layer into class scores (``neuro.models.readout``).
    """

    in_shape: tuple[int, int, int] = (1, 28, 28)
    channels: tuple[int, int] = (12, 32)
    kernel_size: int = 5
    padding: int | None = None
    pool: int = 2
    n_classes: int = 10
    lif: LIFParams | ALIFParams | None = None
    readout: ReadoutName = "membrane_mean"
    neuron: NeuronName = "lif"

    def __post_init__(self) -> None:
        for name, n in (("in_shape", 3), ("channels", 2)):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or len(value) != n:
                raise ConfigError(f"SpikingConvConfig.{name}={value!r} is invalid; allowed: {n} positive integers "
                                  f"{'(C, H, W)' if n == 3 else '(c1, c2)'}.")
            object.__setattr__(self, name, tuple(value))
            for i, v in enumerate(value):
                check_number(f"SpikingConvConfig.{name}[{i}]", v, lo=1, integer=True)
        check_number("SpikingConvConfig.kernel_size", self.kernel_size, lo=1, integer=True)
        if self.padding is not None:
            check_number("SpikingConvConfig.padding", self.padding, lo=0, hi=self.kernel_size - 1, integer=True)
        check_number("SpikingConvConfig.pool", self.pool, lo=1, integer=True)
        check_number("SpikingConvConfig.n_classes", self.n_classes, lo=1, integer=True)
        check_readout(self.readout)
        object.__setattr__(self, "lif", resolve_neuron("SpikingConvConfig", self.neuron, self.lif))
        shapes = self._shapes()
        if min(min(s[1:]) for s in shapes) < 1:
            raise ConfigError(
                f"in_shape={self.in_shape} with kernel_size={self.kernel_size}, padding={self.pad} and "
                f"pool={self.pool} shrinks the frame to nothing (stages: {' -> '.join(map(str, shapes))}); "
                "allowed: every stage at least 1x1. Use a smaller kernel_size or pool, or more padding."
            )

    @property
    def params(self) -> LIFParams | ALIFParams:
        """The neuron parameters of every layer (``lif``, under a neuron-neutral name)."""
        return self.lif

    @property
    def pad(self) -> int:
        """The padding in force (``kernel_size // 2`` when ``padding`` is unset)."""
        return self.kernel_size // 2 if self.padding is None else self.padding

    def _shapes(self) -> tuple[tuple[int, int, int], ...]:
        c, h, w = self.in_shape
        k, p, q = self.kernel_size, self.pad, self.pool
        out = []
        for ch in self.channels:
            h, w = h + 2 * p - k + 1, w + 2 * p - k + 1
            out.append((ch, h, w))
            h, w = h // q, w // q
            out.append((ch, h, w))
        return tuple(out)

    @property
    def feature_shapes(self) -> tuple[tuple[int, int, int], ...]:
        """``(C, H, W)`` after conv1, pool1, conv2, pool2 (the conv entries are the neuron maps)."""
        return self._shapes()

    @property
    def fc_in(self) -> int:
        """Inputs of the fully connected layer (the flattened second pooled map)."""
        c, h, w = self._shapes()[-1]
        return c * h * w


class SpikingConvNet(nn.Module):
    """conv(c1)-neuron-maxpool-conv(c2)-neuron-maxpool-flatten-fc(n_classes)-neuron, explicit state.

    Parameters: ``conv1``, ``conv2`` (``nn.Conv2d`` with bias), ``fc`` (``nn.Linear``).
    """

    spiking = True

    def __init__(self, config: SpikingConvConfig = SpikingConvConfig()) -> None:
        super().__init__()
        self.config = config
        c_in = config.in_shape[0]
        c1, c2 = config.channels
        k, p = config.kernel_size, config.pad
        self.conv1 = nn.Conv2d(c_in, c1, k, padding=p)
        self.conv2 = nn.Conv2d(c1, c2, k, padding=p)
        self.fc = nn.Linear(config.fc_in, config.n_classes)

    def forward(self, x: torch.Tensor) -> ConvOutput:
        """Torch backend (differentiable). ``x``: ``[T, B, C, H, W]``."""
        return self.run(x, backend="torch")

    def run(self, x, backend: str = "torch") -> ConvOutput:
        """Evaluate on ``backend`` (``torch``: tensors; ``numba``: numpy arrays, no autograd)."""
        check_backend(backend)
        check_array("x", x, ndim=5)
        if tuple(x.shape[2:]) != self.config.in_shape:
            raise ConfigError(
                f"x has frames of shape {tuple(x.shape[2:])} (x: {tuple(x.shape)}); allowed: "
                f"{self.config.in_shape} (config.in_shape), as [T, B, C, H, W]."
            )
        neuron = REGISTRY.get(self.config.neuron, backend)
        if backend == "torch":
            return self._run_torch(x, neuron)
        return self._run_numpy(x, neuron)

    def _run_torch(self, x: torch.Tensor, neuron) -> ConvOutput:
        T, B = x.shape[:2]
        p, q = self.config.lif, self.config.pool
        h = x.reshape(T * B, *x.shape[2:])
        hidden = []
        for conv in (self.conv1, self.conv2):
            cur = conv(h)
            s, _, _ = neuron(cur.reshape(T, B, *cur.shape[1:]), p)
            hidden.append(s)
            h = F.max_pool2d(s.reshape(T * B, *s.shape[2:]), q)
        cur = self.fc(h.reshape(T * B, -1)).reshape(T, B, -1)
        s, v, _ = neuron(cur, p)
        return ConvOutput(s, v, hidden)

    def _run_numpy(self, x, neuron) -> ConvOutput:
        x = x.detach().cpu().numpy() if is_torch(x) else x
        x = np.ascontiguousarray(x, dtype=np.float32)
        T, B = x.shape[:2]
        p, q = self.config.lif, self.config.pool
        h = x.reshape(T * B, *x.shape[2:])
        hidden = []
        for conv in (self.conv1, self.conv2):
            cur = conv2d_numpy(h, _np(conv.weight), _np(conv.bias), self.config.pad)
            s, _, _ = neuron(cur.reshape(T, B, *cur.shape[1:]), p)
            hidden.append(s)
            h = max_pool_numpy(s.reshape(T * B, *s.shape[2:]), q)
        cur = h.reshape(T * B, -1) @ _np(self.fc.weight).T + _np(self.fc.bias)
        s, v, _ = neuron(np.ascontiguousarray(cur.reshape(T, B, -1), dtype=np.float32), p)
        return ConvOutput(s, v, hidden)

    def logits(self, out: ConvOutput):
        """Class scores ``[B, n_classes]`` from the configured readout (same type as the output)."""
        return readout(self.config.readout, out)

    def predict(self, x, backend: str = "torch", batch_size: int = 256) -> np.ndarray:
        """Predicted class per sample (int64 numpy ``[B]``), evaluated in batches on ``backend``."""
        return predict_batches(self, x, backend, batch_size)


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)


def conv2d_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: int = 0) -> np.ndarray:
    """2-D cross-correlation with stride 1, as ``torch.nn.functional.conv2d``, in float32 numpy.

    x: ``[N, C, H, W]``. w: ``[O, C, k, k]``. b: ``[O]`` or None. padding: zeros on each side.
    Returns ``[N, O, H + 2p - k + 1, W + 2p - k + 1]`` float32 (C-contiguous). Frames are processed
    in chunks whose im2col matrix stays under ``IM2COL_BYTES``.
    """
    N, C, H, W = x.shape
    O, C_w, kh, kw = w.shape
    if C_w != C:
        raise ConfigError(f"conv weight has {C_w} input channels; allowed: {C} (the input's channels).")
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    wm = np.ascontiguousarray(w.reshape(O, C * kh * kw).T, dtype=np.float32)  # [C*k*k, O]
    out = np.empty((N, O, Ho, Wo), np.float32)
    chunk = max(1, IM2COL_BYTES // max(1, Ho * Wo * C * kh * kw * 4))
    for lo in range(0, N, chunk):
        xs = x[lo:lo + chunk]
        n = xs.shape[0]
        win = np.lib.stride_tricks.sliding_window_view(xs, (kh, kw), axis=(2, 3))  # [n, C, Ho, Wo, kh, kw]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * Ho * Wo, C * kh * kw)  # copies: im2col
        y = cols @ wm  # [n*Ho*Wo, O]
        if b is not None:
            y += b
        out[lo:lo + n] = y.reshape(n, Ho, Wo, O).transpose(0, 3, 1, 2)
    return out


def max_pool_numpy(x: np.ndarray, pool: int) -> np.ndarray:
    """Max-pooling with window = stride = ``pool`` (floor mode, as ``torch.nn.functional.max_pool2d``).
    x: ``[N, C, H, W]`` -> ``[N, C, H // pool, W // pool]``."""
    N, C, H, W = x.shape
    Hp, Wp = H // pool, W // pool
    x = x[:, :, :Hp * pool, :Wp * pool]
    return x.reshape(N, C, Hp, pool, Wp, pool).max(axis=(3, 5))

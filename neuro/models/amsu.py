"""A recurrent AM-SU sequence classifier (``neuro.neurons.amsu``) and its plain recurrent-LIF twin.

``AMSUNet``: input ``u`` ``[T, B, F]`` -> ``Linear(F, H)`` -> recurrent AM-SU layer of ``H`` units ->
``Linear(H, C)`` into a non-spiking leaky integrator ``o_t = out_beta * o_{t-1} + W_out s_t + b_out``;
logits = ``mean_t o_t`` (``readout = "membrane_mean"``) or ``o_T`` (``"membrane_last"``).
``astro=False`` holds the astrocyte gains at 0: the same net as a recurrent LIF layer (``H`` fewer
parameters). ``run(u, "torch" | "numba")`` evaluates on either backend; the numba path runs the
recurrent layer through ``kernels.amsu`` (numpy for the two linear maps).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from neuro.checks import check_number
from neuro.errors import ConfigError
from neuro.neurons.amsu import AMSULayer, AMSUParams

Readout = Literal["membrane_mean", "membrane_last"]
Sequence = Literal["rows", "pixels"]


class SeqOut(NamedTuple):
    """Logits ``[B, C]`` and hidden spikes ``[T, B, H]`` (torch tensors or numpy arrays by backend)."""

    logits: torch.Tensor | np.ndarray
    spikes: torch.Tensor | np.ndarray


def to_sequence(x: torch.Tensor, sequence: str, gain: float = 1.0) -> torch.Tensor:
    """Flattened square images ``[B, S*S]`` -> time-first sequences: ``"rows"`` ``[S, B, S]`` (one row per
    step, sequential MNIST by rows: 28 steps of 28 pixels) or ``"pixels"`` ``[S*S, B, 1]``."""
    B, F = x.shape
    side = int(round(F ** 0.5))
    if side * side != F:
        raise ConfigError(f"images with {F} pixels are not square; the sequence tasks need S x S images "
                          "(digits 8x8, mnist / fashion_mnist 28x28).")
    x = x * gain
    if sequence == "rows":
        return x.reshape(B, side, side).permute(1, 0, 2).contiguous()
    if sequence == "pixels":
        return x.t().unsqueeze(-1).contiguous()
    raise ConfigError(f"sequence={sequence!r} is not supported; allowed: rows, pixels.")


class AMSUNet(nn.Module):
    """Sequence classifier around one recurrent AM-SU layer (see the module docstring)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, params: AMSUParams | None = None, *,
                 astro: bool = True, learn_gain: bool = True, out_beta: float = 0.9,
                 readout: Readout = "membrane_mean", rec_scale: float = 1.0) -> None:
        super().__init__()
        check_number("AMSUNet.n_out", n_out, lo=1, integer=True)
        check_number("AMSUNet.out_beta", out_beta, lo=0.0, hi=1.0)
        if readout not in ("membrane_mean", "membrane_last"):
            raise ConfigError(f"readout={readout!r} is not supported; allowed: membrane_mean, membrane_last.")
        self.layer = AMSULayer(n_in, n_hidden, params, astro=astro, learn_gain=learn_gain, rec_scale=rec_scale)
        self.out = nn.Linear(n_hidden, n_out)
        self.out_beta = float(out_beta)
        self.readout = readout

    @property
    def params(self) -> AMSUParams:
        return self.layer.params

    def forward(self, u: torch.Tensor) -> SeqOut:
        s, _, _ = self.layer(u)
        y = self.out(s)  # [T, B, C]
        o = torch.zeros_like(y[0])
        total = torch.zeros_like(y[0])
        for t in range(y.shape[0]):
            o = self.out_beta * o + y[t]
            total = total + o
        logits = o if self.readout == "membrane_last" else total / y.shape[0]
        return SeqOut(logits, s)

    @torch.no_grad()
    def run(self, u, backend: str = "torch") -> SeqOut:
        """Evaluate ``u`` ``[T, B, F]`` on ``"torch"`` (a tensor) or ``"numba"`` (a numpy array)."""
        if backend == "torch":
            return self.forward(torch.as_tensor(u))
        if backend != "numba":
            raise ConfigError(f"backend={backend!r} is not supported; allowed: torch, numba.")
        from kernels.amsu import amsu_multistep

        u = np.asarray(u, dtype=np.float32)
        t = lambda p: p.detach().cpu().numpy()  # noqa: E731
        layer = self.layer
        cur = (u @ t(layer.fc.weight).T + t(layer.fc.bias)).astype(np.float32)
        s, _, _, _ = amsu_multistep(cur, t(layer.w_rec), layer.params, gain=t(layer.gain))
        y = (s @ t(self.out.weight).T + t(self.out.bias)).astype(np.float32)
        beta = np.float32(self.out_beta)
        o = np.zeros_like(y[0])
        total = np.zeros_like(y[0])
        for k in range(y.shape[0]):
            o = beta * o + y[k]
            total = total + o
        logits = o if self.readout == "membrane_last" else total / np.float32(y.shape[0])
        return SeqOut(logits, s)

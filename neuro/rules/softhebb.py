"""SoftHebb: soft winner-take-all Hebbian learning (Moraitis et al. 2022, "SoftHebb: Bayesian inference
in unsupervised Hebbian soft winner-take-all networks"; Journé et al. 2023, "Hebbian deep learning
without feedback", ICLR).

Units ``W [K, F]``, pre-activations ``u = W x``, soft winner-take-all ``y = softmax(u / T)`` over the
K units (temperature ``T``). The Hebbian update of one batch (their form, summed over the batch)::

    y'_bk = y_bk for the winner of sample b, -y_bk for the others   (anti_hebbian; else y' = y)
    dW_kf = sum_b y'_bk (x_bf - u_bk W_kf)
    dW   /= max|dW| + 1e-30                                        (normalize, as in their code)
    W_k  += lr_k dW_k,   lr_k = lr * sqrt(| ||W_k||_2 - 1 | + 1e-10)   (adaptive; else lr_k = lr)

The adaptive rate (Journé et al. 2023) shrinks as a unit's weight vector approaches unit length, the
fixed point of the rule for unit-norm inputs: far units move fast, converged ones settle. Units
start large (radius ~25 in the paper) and shrink onto the sphere while they specialise.

Calling convention (the registry's ``softhebb`` pair; torch tensors on any device here, numpy arrays
in ``kernels/softhebb.py``): ``softhebb_update(w, x, params, state=None) -> (w_new, state)`` with ``x``
``[B, F]`` (one update) or ``[S, B, F]`` (S updates in sequence, one fused Numba call); stateless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from neuro.errors import ConfigError
from neuro.rules.krotov import _num, check_shapes

ADAPT_EPS = 1e-10


@dataclass(frozen=True)
class SoftHebbParams:
    """lr: base learning rate (> 0). temperature: softmax temperature ``T`` (> 0; small = hard WTA).
    anti_hebbian: non-winners get ``-y`` (Journé et al.). adaptive: per-unit rate
    ``lr * sqrt(| ||w_k|| - 1 |)``. normalize: divide each batch's update by its largest entry."""

    lr: float = 0.01
    temperature: float = 1.0
    anti_hebbian: bool = True
    adaptive: bool = True
    normalize: bool = True

    def __post_init__(self) -> None:
        _num("softhebb", "lr", self.lr, 0.0, 10.0, open_lo=True)
        _num("softhebb", "temperature", self.temperature, 0.0, 1e6, open_lo=True)
        for name in ("anti_hebbian", "adaptive", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"softhebb {name}={getattr(self, name)!r} must be true or false.")


def unit_rates(w: torch.Tensor, p: SoftHebbParams) -> torch.Tensor:
    """Per-unit learning rates ``[K]``."""
    if not p.adaptive:
        return torch.full((w.shape[0],), p.lr, dtype=w.dtype, device=w.device)
    return p.lr * torch.sqrt((w.norm(dim=1) - 1.0).abs() + ADAPT_EPS)


def soft_wta(u: torch.Tensor, p: SoftHebbParams) -> torch.Tensor:
    """``y = softmax(u / T)`` over units, with the non-winners negated when ``anti_hebbian``: ``[B, K]``."""
    y = torch.softmax(u / p.temperature, dim=1)
    if p.anti_hebbian:
        win = y.argmax(1, keepdim=True)
        y = (-y).scatter(1, win, y.gather(1, win))
    return y


@torch.no_grad()
def softhebb_update(w: torch.Tensor, x: torch.Tensor, p: SoftHebbParams, state=None):
    """Soft-WTA Hebbian update. w ``[K, F]``, x ``[B, F]`` or ``[S, B, F]`` -> ``(w_new [K, F], state)``."""
    check_shapes("softhebb", w, x)
    xs = x.unsqueeze(0) if x.ndim == 2 else x
    w = w.clone()
    for xb in xs:
        u = xb @ w.T                                               # [B, K]
        y = soft_wta(u, p)
        dw = y.T @ xb - (y * u).sum(0)[:, None] * w
        if p.normalize:
            dw = dw / (dw.abs().max() + 1e-30)
        w += unit_rates(w, p)[:, None] * dw
    return w, state


def init_weights(k: int, f: int, radius: float, generator: torch.Generator | None = None,
                 dtype=torch.float32) -> torch.Tensor:
    """Gaussian weights whose rows have expected L2 norm ~``radius`` (std ``radius * sqrt(pi / (2 f))``,
    the paper's initialisation)."""
    _num("softhebb", "radius", radius, 0.0, 1e6, open_lo=True)
    return torch.randn(k, f, generator=generator, dtype=dtype) * radius * math.sqrt(math.pi / (2 * f))


def triangle(u: torch.Tensor) -> torch.Tensor:
    """Journé et al.'s triangle activation: ``relu(u - mean_k u)`` over the unit axis (dim 1)."""
    return torch.relu(u - u.mean(1, keepdim=True))

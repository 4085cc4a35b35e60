"""Surrogate gradients for the spike non-linearity.

Forward is always the Heaviside step ``H(x) = 1 if x > 0 else 0`` (strict, as snnTorch); the
backward pass replaces ``dH/dx`` with a smooth pseudo-derivative chosen by name:

===================  ============================================  ===========================
name                 d spike / d x                                  parameter ``slope``
===================  ============================================  ===========================
``fast_sigmoid``     ``1 / (slope*|x| + 1)**2`` (Zenke & Ganguli)   k, default 25
``atan``             ``slope/2 / (1 + (pi/2*slope*x)**2)``          alpha, default 2
``straight_through`` ``1`` (gradient passed unchanged)              unused
===================  ============================================  ===========================

These match ``snntorch.surrogate.fast_sigmoid``, ``atan`` and ``straight_through_estimator``
(tested against snnTorch itself).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch

from neuro.errors import ConfigError

SurrogateName = Literal["fast_sigmoid", "atan", "straight_through"]
SURROGATES: tuple[str, ...] = get_args(SurrogateName)
DEFAULT_SLOPE = {"fast_sigmoid": 25.0, "atan": 2.0, "straight_through": 1.0}


def check_surrogate(name: str, slope: float) -> None:
    """Raise ConfigError unless ``name`` is a known surrogate and ``slope`` is finite and > 0."""
    if name not in SURROGATES:
        raise ConfigError(
            f"surrogate={name!r} is not supported; allowed: {', '.join(SURROGATES)}. "
            "Pick one of those names."
        )
    if not (isinstance(slope, (int, float)) and math.isfinite(slope) and slope > 0):
        raise ConfigError(
            f"surrogate_slope={slope!r} is out of range; allowed: a finite number > 0 "
            f"(defaults: {DEFAULT_SLOPE})."
        )


def surrogate_grad(x: torch.Tensor, name: str, slope: float) -> torch.Tensor:
    """Pseudo-derivative ``d spike / d x`` evaluated at ``x`` (same shape and dtype as ``x``)."""
    if name == "fast_sigmoid":
        return 1.0 / (slope * x.abs() + 1.0) ** 2
    if name == "atan":
        return (slope / 2.0) / (1.0 + (math.pi / 2.0 * slope * x) ** 2)
    if name == "straight_through":
        return torch.ones_like(x)
    raise ConfigError(f"surrogate={name!r} is not supported; allowed: {', '.join(SURROGATES)}.")


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, surrogate backward. ``x`` is ``v - threshold``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, name: str, slope: float) -> torch.Tensor:  # noqa: D401
        ctx.save_for_backward(x)
        ctx.name = name
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * surrogate_grad(x, ctx.name, ctx.slope), None, None


def spike(x: torch.Tensor, name: str = "fast_sigmoid", slope: float | None = None) -> torch.Tensor:
    """Spike ``H(x)`` with the named surrogate gradient; ``slope=None`` takes the default."""
    s = DEFAULT_SLOPE[name] if slope is None and name in DEFAULT_SLOPE else slope
    check_surrogate(name, s)
    return _SpikeFn.apply(x, name, float(s))

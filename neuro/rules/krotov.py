"""Krotov & Hopfield (2019), "Unsupervised learning by competing hidden units" (PNAS 116, 7723).

Hidden units ``W [K, F]`` learn without labels. For a minibatch ``x [B, F]`` each unit's input is
the p-norm "inner product" ``I_bk = sum_f sign(W_kf) |W_kf|**(p-1) x_bf``; per sample the units are
ranked by ``I``: the strongest gets ``g = 1`` (Hebbian), the k-th strongest ``g = -delta``
(anti-Hebbian), all others 0. The update (their reference code, one batch)::

    ds_kf = sum_b g_bk x_bf  -  (sum_b g_bk I_bk) W_kf
    W    += lr * ds / max(max|ds|, prec)

Normalising by the largest entry makes ``lr`` the largest step any weight takes; the caller decays
``lr`` linearly over the epochs (``lr_epoch = lr0 * (1 - epoch / epochs)``, :func:`decayed_lr`).
The fixed point has unit p-norm ``sum_f |W_kf|**p = 1`` for every unit that wins sometimes.

The supervised part of the paper (a top layer on the frozen units: ``c = tanh(beta * S relu(h)**n)``,
``h = W x``, loss ``sum |c - t|**m`` with targets +-1) lives in ``neuro.train.hebbian_trainer``.

Calling convention (the registry's ``krotov`` pair; torch tensors on any device here, numpy arrays
in ``kernels/krotov.py``): ``krotov_update(w, x, params, state=None) -> (w_new, state)`` with ``x``
``[B, F]`` (one update) or ``[S, B, F]`` (S updates in sequence, one fused Numba call); stateless.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuro.checks import check_number
from neuro.errors import ConfigError


def _num(rule: str, name: str, v, lo: float, hi: float, open_lo: bool = False) -> None:
    check_number(f"{rule} {name}", v, lo=lo, hi=hi, lo_open=open_lo)


@dataclass(frozen=True)
class KrotovParams:
    """lr: step of the largest weight change per batch (> 0; the caller decays it). p: Lebesgue
    norm of the weights (>= 1; the paper's MNIST runs use 3). k: rank of the anti-Hebbian unit
    (integer >= 2; 7 in the paper's 2000-unit run). delta: anti-Hebbian strength in [0, 1] (0.4).
    prec: floor of the normaliser max|ds| (> 0)."""

    lr: float = 0.02
    p: float = 3.0
    k: int = 7
    delta: float = 0.4
    prec: float = 1e-30

    def __post_init__(self) -> None:
        _num("krotov", "lr", self.lr, 0.0, 10.0, open_lo=True)
        _num("krotov", "p", self.p, 1.0, 20.0)
        if not isinstance(self.k, int) or isinstance(self.k, bool) or not 2 <= self.k <= 1_000_000:
            raise ConfigError(f"krotov k={self.k!r} is out of range; allowed: an integer >= 2 (rank of the "
                              "anti-Hebbian unit, below the number of hidden units).")
        _num("krotov", "delta", self.delta, 0.0, 1.0)
        _num("krotov", "prec", self.prec, 0.0, 1.0, open_lo=True)


def decayed_lr(lr0: float, epoch: int, epochs: int) -> float:
    """The paper's linear decay: ``lr0 * (1 - epoch / epochs)`` for ``epoch = 0 .. epochs-1``."""
    return lr0 * (1.0 - epoch / epochs)


def check_shapes(rule: str, w, x, k: int | None = None) -> None:
    """``w [K, F]`` and ``x [B, F]`` or ``[S, B, F]`` with the same F (and K >= k)."""
    if w.ndim != 2 or x.ndim not in (2, 3) or x.shape[-1] != w.shape[-1]:
        raise ConfigError(f"{rule} update got w {tuple(w.shape)} and x {tuple(x.shape)}; allowed: w [K, F] with "
                          f"x [B, F] (one update) or [S, B, F] (S updates in sequence), same F.")
    if k is not None and w.shape[0] < k:
        raise ConfigError(f"{rule} k={k} needs at least k hidden units; w has {w.shape[0]}. Lower k or add units.")


def p_input(w: torch.Tensor, x: torch.Tensor, p: float) -> torch.Tensor:
    """``I = x (sign(W) |W|**(p-1))^T``: ``[B, K]``."""
    if p == 2.0:
        wp = w
    elif p == 3.0:
        wp = w * w.abs()
    else:
        wp = torch.sign(w) * w.abs() ** (p - 1.0)
    return x @ wp.T


@torch.no_grad()
def krotov_update(w: torch.Tensor, x: torch.Tensor, p: KrotovParams, state=None):
    """Competing hidden units. w ``[K, F]``, x ``[B, F]`` or ``[S, B, F]`` -> ``(w_new [K, F], state)``."""
    check_shapes("krotov", w, x, p.k)
    xs = x.unsqueeze(0) if x.ndim == 2 else x
    w = w.clone()
    for xb in xs:
        tot = p_input(w, xb, p.p)                                   # [B, K]
        vals, idx = torch.topk(tot, p.k, dim=1)                    # ranked, strongest first
        win, kth = idx[:, 0], idx[:, p.k - 1]
        # g has two non-zeros per sample (1 at the winner, -delta at the k-th): scatter instead of g^T x
        ds = torch.zeros_like(w).index_add_(0, win, xb).index_add_(0, kth, xb, alpha=-p.delta)
        gi = torch.zeros(w.shape[0], dtype=w.dtype, device=w.device).index_add_(0, win, vals[:, 0])
        gi.index_add_(0, kth, vals[:, p.k - 1], alpha=-p.delta)
        ds -= gi[:, None] * w
        nc = ds.abs().max().clamp_min(p.prec)
        w += p.lr * ds / nc
    return w, state


def p_norms(w, p: float):
    """Each unit's p-norm ``(sum_f |W_kf|**p)**(1/p)`` (torch or numpy)."""
    if isinstance(w, torch.Tensor):
        return (w.abs() ** p).sum(-1) ** (1.0 / p)
    import numpy as np

    return (np.abs(w) ** p).sum(-1) ** (1.0 / p)

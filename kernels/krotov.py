"""Numba kernel of Krotov & Hopfield's competing hidden units (``neuro/rules/krotov.py``).

Same calling convention as the torch side on numpy arrays: ``krotov_update(w, x, params, state) ->
(w_new, state)`` with ``x [B, F]`` (one batch update) or ``[S, B, F]`` (S updates fused into one kernel
call). The inputs are not modified. Ranking picks the k strongest units per sample by repeated
argmax (ties go to the lower index; torch's topk may break exact ties differently). float32/float64.
"""

from __future__ import annotations

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.rules.krotov import KrotovParams


@numba.njit(cache=True, nogil=True)
def krotov_kernel(w, xs, lr, p, k, delta, prec):
    """In place on W [K, F]: per step the p-input I, the rank-based g, ds and the max-normalised step."""
    S, B, F = xs.shape
    K = w.shape[0]
    wp = np.empty((K, F), dtype=w.dtype)
    tot = np.empty((B, K), dtype=w.dtype)
    row = np.empty(K, dtype=w.dtype)
    win = np.empty(B, dtype=np.int64)
    kth = np.empty(B, dtype=np.int64)
    gi = np.zeros(K, dtype=w.dtype)
    ds = np.empty((K, F), dtype=w.dtype)
    for s in range(S):
        for n in range(K):
            for f in range(F):
                v = w[n, f]
                if p == 2.0:
                    wp[n, f] = v
                else:
                    a = np.abs(v) ** (p - 1.0)
                    wp[n, f] = a if v > 0 else (-a if v < 0 else 0.0)
        for b in range(B):
            for n in range(K):
                acc = 0.0
                for f in range(F):
                    acc += xs[s, b, f] * wp[n, f]
                tot[b, n] = acc
                row[n] = acc
            for r in range(k):
                best = 0
                for n in range(1, K):
                    if row[n] > row[best]:
                        best = n
                if r == 0:
                    win[b] = best
                kth[b] = best
                row[best] = -np.inf
        for n in range(K):
            gi[n] = 0.0
            for f in range(F):
                ds[n, f] = 0.0
        for b in range(B):
            n1, n2 = win[b], kth[b]
            gi[n1] += tot[b, n1]
            gi[n2] += -delta * tot[b, n2]
            for f in range(F):
                ds[n1, f] += xs[s, b, f]
                ds[n2, f] -= delta * xs[s, b, f]
        nc = 0.0
        for n in range(K):
            for f in range(F):
                d = ds[n, f] - gi[n] * w[n, f]
                ds[n, f] = d
                if np.abs(d) > nc:
                    nc = np.abs(d)
        if nc < prec:
            nc = prec
        for n in range(K):
            for f in range(F):
                w[n, f] += lr * ds[n, f] / nc


def krotov_update(w: np.ndarray, x: np.ndarray, p: KrotovParams, state=None):
    """Numba twin of ``neuro.rules.krotov.krotov_update``: W ``[K, F]``, x ``[B, F]`` or ``[S, B, F]``."""
    dt = np.result_type(np.asarray(w).dtype, np.float32)
    w_ = np.array(w, dtype=dt, order="C", copy=True)
    xs = np.ascontiguousarray(x, dtype=dt)
    if w_.ndim != 2 or xs.ndim not in (2, 3) or xs.shape[-1] != w_.shape[-1]:
        raise ConfigError(f"krotov update got w {w_.shape} and x {xs.shape}; allowed: w [K, F] with "
                          f"x [B, F] (one update) or [S, B, F] (S updates in sequence), same F.")
    if w_.shape[0] < p.k:
        raise ConfigError(f"krotov k={p.k} needs at least k hidden units; w has {w_.shape[0]}. Lower k or add units.")
    krotov_kernel(w_, xs[None] if xs.ndim == 2 else xs, dt.type(p.lr), float(p.p), int(p.k), dt.type(p.delta),
                  dt.type(p.prec))
    return w_, state

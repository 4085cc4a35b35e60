"""Numba kernel of SoftHebb's soft winner-take-all Hebbian update (``neuro/rules/softhebb.py``).

Same calling convention as the torch side on numpy arrays: ``softhebb_update(w, x, params, state) ->
(w_new, state)`` with ``x [B, F]`` (one batch update) or ``[S, B, F]`` (S updates fused into one kernel
call). The inputs are not modified. float32/float64.
"""

from __future__ import annotations

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.rules.softhebb import ADAPT_EPS, SoftHebbParams


@numba.njit(cache=True, nogil=True)
def softhebb_kernel(w, xs, lr, temp, anti, adaptive, normalize, eps):
    """In place on W [K, F]: u = x W^T, y = softmax(u / T) (non-winners negated), dW = y^T x - (sum y u) W,
    max-normalised, per-unit rate from the current norms."""
    S, B, F = xs.shape
    K = w.shape[0]
    u = np.empty((B, K), dtype=w.dtype)
    y = np.empty((B, K), dtype=w.dtype)
    yu = np.empty(K, dtype=w.dtype)
    rate = np.empty(K, dtype=w.dtype)
    dw = np.empty((K, F), dtype=w.dtype)
    for s in range(S):
        for b in range(B):
            m = -np.inf
            best = 0
            for n in range(K):
                acc = 0.0
                for f in range(F):
                    acc += xs[s, b, f] * w[n, f]
                u[b, n] = acc
                if acc > m:
                    m = acc
                    best = n
            z = 0.0
            for n in range(K):
                e = np.exp((u[b, n] - m) / temp)
                y[b, n] = e
                z += e
            for n in range(K):
                y[b, n] /= z
                if anti and n != best:
                    y[b, n] = -y[b, n]
        for n in range(K):
            yu[n] = 0.0
            for f in range(F):
                dw[n, f] = 0.0
        for b in range(B):
            for n in range(K):
                c = y[b, n]
                yu[n] += c * u[b, n]
                for f in range(F):
                    dw[n, f] += c * xs[s, b, f]
        nc = 0.0
        for n in range(K):
            nrm = 0.0
            for f in range(F):
                d = dw[n, f] - yu[n] * w[n, f]
                dw[n, f] = d
                if np.abs(d) > nc:
                    nc = np.abs(d)
                nrm += w[n, f] * w[n, f]
            rate[n] = lr * np.sqrt(np.abs(np.sqrt(nrm) - 1.0) + eps) if adaptive else lr
        scale = 1.0 / (nc + 1e-30) if normalize else 1.0
        for n in range(K):
            for f in range(F):
                w[n, f] += rate[n] * dw[n, f] * scale


def softhebb_update(w: np.ndarray, x: np.ndarray, p: SoftHebbParams, state=None):
    """Numba twin of ``neuro.rules.softhebb.softhebb_update``: W ``[K, F]``, x ``[B, F]`` or ``[S, B, F]``."""
    dt = np.result_type(np.asarray(w).dtype, np.float32)
    w_ = np.array(w, dtype=dt, order="C", copy=True)
    xs = np.ascontiguousarray(x, dtype=dt)
    if w_.ndim != 2 or xs.ndim not in (2, 3) or xs.shape[-1] != w_.shape[-1]:
        raise ConfigError(f"softhebb update got w {w_.shape} and x {xs.shape}; allowed: w [K, F] with "
                          f"x [B, F] (one update) or [S, B, F] (S updates in sequence), same F.")
    softhebb_kernel(w_, xs[None] if xs.ndim == 2 else xs, dt.type(p.lr), dt.type(p.temperature), p.anti_hebbian,
                    p.adaptive, p.normalize, dt.type(ADAPT_EPS))
    return w_, state

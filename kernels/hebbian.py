"""Numba kernels of the Hebbian rules in ``neuro/rules/hebbian.py`` (Oja, Sanger's GHA, BCM).

Same calling convention as the torch side on numpy arrays: ``update(w, x, params, state) ->
(w_new, state)`` with ``x [B, F]`` (one batch update) or ``[S, B, F]`` (S updates, fused into one
kernel call: no Python between steps). The inputs are not modified. Serial loops: the per-step work
is small, and a thread team per step would cost more than it saves. float32 or float64.
"""

from __future__ import annotations

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.rules.hebbian import BCMParams, OjaParams, SangerParams


@numba.njit(cache=True, nogil=True)
def oja_kernel(w, xs, lr):
    """In place on w [F]: for each step s, y = xs[s] @ w; w += lr/B * (y @ xs[s] - sum(y**2) w)."""
    S, B, F = xs.shape
    y = np.empty(B, dtype=w.dtype)
    dw = np.empty(F, dtype=w.dtype)
    for s in range(S):
        yy = 0.0
        for b in range(B):
            acc = 0.0
            for f in range(F):
                acc += xs[s, b, f] * w[f]
            y[b] = acc
            yy += acc * acc
        for f in range(F):
            dw[f] = 0.0
        for b in range(B):
            for f in range(F):
                dw[f] += y[b] * xs[s, b, f]
        for f in range(F):
            w[f] += lr * (dw[f] - yy * w[f]) / B


@numba.njit(cache=True, nogil=True)
def sanger_kernel(w, xs, lr):
    """In place on W [K, F]: y = x W^T; W += lr/B * (y^T x - tril(y^T y) W)."""
    S, B, F = xs.shape
    K = w.shape[0]
    y = np.empty((B, K), dtype=w.dtype)
    yx = np.empty((K, F), dtype=w.dtype)
    yy = np.empty((K, K), dtype=w.dtype)
    for s in range(S):
        for b in range(B):
            for k in range(K):
                acc = 0.0
                for f in range(F):
                    acc += xs[s, b, f] * w[k, f]
                y[b, k] = acc
        for k in range(K):
            for f in range(F):
                yx[k, f] = 0.0
            for b in range(B):
                yb = y[b, k]
                for f in range(F):
                    yx[k, f] += yb * xs[s, b, f]
            for j in range(k + 1):
                acc = 0.0
                for b in range(B):
                    acc += y[b, k] * y[b, j]
                yy[k, j] = acc
        # row k of the new W uses rows 0..k of the old one: go from the last row to the first
        for k in range(K - 1, -1, -1):
            for f in range(F):
                acc = 0.0
                for j in range(k + 1):
                    acc += yy[k, j] * w[j, f]
                w[k, f] += lr * (yx[k, f] - acc) / B


@numba.njit(cache=True, nogil=True)
def bcm_kernel(w, xs, theta, lr, decay, relu):
    """In place on W [N, F] and theta [N]: y = act(x W^T); theta = d theta + (1-d) mean y**2;
    W += lr/B * (y (y - theta))^T x."""
    S, B, F = xs.shape
    N = w.shape[0]
    y = np.empty((B, N), dtype=w.dtype)
    for s in range(S):
        for b in range(B):
            for n in range(N):
                acc = 0.0
                for f in range(F):
                    acc += xs[s, b, f] * w[n, f]
                if relu and acc < 0:
                    acc = 0.0
                y[b, n] = acc
        for n in range(N):
            m = 0.0
            for b in range(B):
                m += y[b, n] * y[b, n]
            theta[n] = decay * theta[n] + (1.0 - decay) * (m / B)
            for b in range(B):
                c = lr * y[b, n] * (y[b, n] - theta[n]) / B
                if c != 0.0:
                    for f in range(F):
                        w[n, f] += c * xs[s, b, f]


def _prepare(w, x, rule: str, w_ndim: int):
    dt = np.result_type(np.asarray(w).dtype, np.float32)
    w_ = np.array(w, dtype=dt, order="C", copy=True)
    xs = np.ascontiguousarray(x, dtype=dt)
    if w_.ndim != w_ndim or xs.ndim not in (2, 3) or xs.shape[-1] != w_.shape[-1]:
        want = "w [F]" if w_ndim == 1 else "w [K, F]"
        raise ConfigError(f"{rule} update got w {w_.shape} and x {xs.shape}; allowed: {want} with "
                          f"x [B, F] (one update) or [S, B, F] (S updates in sequence), same F.")
    return w_, (xs[None] if xs.ndim == 2 else xs), dt


def oja_update(w: np.ndarray, x: np.ndarray, p: OjaParams, state=None):
    """Numba twin of ``neuro.rules.hebbian.oja_update``: w ``[F]``, x ``[B, F]`` or ``[S, B, F]``."""
    w_, xs, dt = _prepare(w, x, "oja", 1)
    oja_kernel(w_, xs, dt.type(p.lr))
    return w_, state


def sanger_update(w: np.ndarray, x: np.ndarray, p: SangerParams, state=None):
    """Numba twin of ``neuro.rules.hebbian.sanger_update``: W ``[K, F]``, x ``[B, F]`` or ``[S, B, F]``."""
    w_, xs, dt = _prepare(w, x, "sanger", 2)
    sanger_kernel(w_, xs, dt.type(p.lr))
    return w_, state


def bcm_update(w: np.ndarray, x: np.ndarray, p: BCMParams, state=None):
    """Numba twin of ``neuro.rules.hebbian.bcm_update``; state ``(theta [N],)`` or None (zeros).
    Returns ``(w_new, (theta_new,))``."""
    w_, xs, dt = _prepare(w, x, "bcm", 2)
    theta = np.zeros(w_.shape[0], dt) if state is None else np.array(state[0], dtype=dt, copy=True)
    if theta.shape != (w_.shape[0],):
        raise ConfigError(f"bcm state theta {theta.shape} does not fit w {w_.shape}; allowed: theta [N].")
    bcm_kernel(w_, xs, theta, dt.type(p.lr), dt.type(p.theta_decay), p.activation == "relu")
    return w_, (theta,)

"""Numba kernel of the forward-forward layer-local update: ``neuro.rules.ff.ff_layer_grad`` on numpy.

The gradient of the FF loss of one ReLU layer in closed form (formulas in ``neuro/rules/ff.py``). There
is no autograd anywhere on this path, so nothing can flow to another layer: the kernel sees only the
layer's own inputs, weights and state. Works on float32 or float64 C-contiguous arrays; parallel over
the batch for the forward pass and over units for the weight gradient.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neuro.rules.ff import FFParams


@numba.njit(cache=True, nogil=True)
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@numba.njit(cache=True, nogil=True)
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True, parallel=True, nogil=True)
def _forward(x, w, b, s, h, g):
    """h[B, N] = relu(x @ w.T + b); g[B] = s * sum_j h**2."""
    B, F = x.shape
    N = w.shape[0]
    for i in numba.prange(B):
        acc_g = 0.0
        for j in range(N):
            z = b[j]
            for k in range(F):
                z += x[i, k] * w[j, k]
            if z < 0:
                z = 0.0
            h[i, j] = z
            acc_g += z * z
        g[i] = s * acc_g


@numba.njit(cache=True, parallel=True, nogil=True)
def ff_grad_kernel(x_pos, x_neg, w, b, mean_activity, theta, s, peer, momentum, dw, db, m_out, g_pos, g_neg):
    """Fill dw [N, F], db [N], m_out [N], g_pos [B], g_neg [B]; return the loss (float)."""
    B = x_pos.shape[0]
    N, F = w.shape
    h_pos = np.empty((B, N), dtype=x_pos.dtype)
    h_neg = np.empty((B, N), dtype=x_pos.dtype)
    _forward(x_pos, w, b, s, h_pos, g_pos)
    _forward(x_neg, w, b, s, h_neg, g_neg)
    loss = 0.0
    cpos = np.empty(B, dtype=x_pos.dtype)
    cneg = np.empty(B, dtype=x_pos.dtype)
    for i in range(B):
        loss += (_softplus(theta - g_pos[i]) + _softplus(g_neg[i] - theta)) / B
        cpos[i] = -_sigmoid(theta - g_pos[i]) / B * 2.0 * s
        cneg[i] = _sigmoid(g_neg[i] - theta) / B * 2.0 * s
    mmean = 0.0
    for j in range(N):
        acc = 0.0
        for i in range(B):
            acc += h_pos[i, j]
        m_out[j] = momentum * mean_activity[j] + (1.0 - momentum) * (acc / B)
        mmean += m_out[j]
    mmean /= N
    if peer > 0:
        pen = 0.0
        for j in range(N):
            pen += (m_out[j] - mmean) ** 2
        loss += peer * pen / N
    cpeer = peer * 2.0 / N * (1.0 - momentum) / B
    for j in numba.prange(N):
        dev = m_out[j] - mmean
        accb = 0.0
        for k in range(F):
            dw[j, k] = 0.0
        for i in range(B):
            dp = cpos[i] * h_pos[i, j]
            if peer > 0 and h_pos[i, j] > 0:
                dp += cpeer * dev
            dn = cneg[i] * h_neg[i, j]
            accb += dp + dn
            if dp != 0.0:
                for k in range(F):
                    dw[j, k] += dp * x_pos[i, k]
            if dn != 0.0:
                for k in range(F):
                    dw[j, k] += dn * x_neg[i, k]
        db[j] = accb
    return loss


def ff_layer_grad(x_pos: np.ndarray, x_neg: np.ndarray, w: np.ndarray, b: np.ndarray, state, p: FFParams):
    """Numpy/Numba counterpart of ``neuro.rules.ff.ff_layer_grad``.

    x_pos, x_neg ``[B, F]``, w ``[N, F]``, b ``[N]``, state ``(mean_activity [N],)`` (not modified).
    Returns ``(dW, db, (m,), loss, g_pos, g_neg)`` as numpy arrays / a float.
    """
    dt = np.result_type(x_pos.dtype, np.float32)
    xp, xn = (np.ascontiguousarray(a, dtype=dt) for a in (x_pos, x_neg))
    w_, b_ = np.ascontiguousarray(w, dtype=dt), np.ascontiguousarray(b, dtype=dt)
    m0 = np.ascontiguousarray(state[0], dtype=dt)
    if xp.shape != xn.shape or xp.ndim != 2 or w_.shape != (b_.shape[0], xp.shape[1]) or m0.shape != b_.shape:
        from neuro.errors import ConfigError

        raise ConfigError(f"ff_layer_grad shapes x_pos {xp.shape}, x_neg {xn.shape}, w {w_.shape}, b {b_.shape}, "
                          f"state {m0.shape} do not fit; allowed: x [B, F] (both), w [N, F], b [N], state [N].")
    N, F = w_.shape
    B = xp.shape[0]
    dw, db, m = np.empty((N, F), dt), np.empty(N, dt), np.empty(N, dt)
    gp, gn = np.empty(B, dt), np.empty(B, dt)
    s = p.scale * (1.0 if p.goodness == "sum_sq" else 1.0 / N)
    loss = ff_grad_kernel(xp, xn, w_, b_, m0, dt.type(p.theta), dt.type(s), dt.type(p.peer), dt.type(p.momentum),
                          dw, db, m, gp, gn)
    return dw, db, (m,), float(loss), gp, gn

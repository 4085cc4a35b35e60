"""Numba kernels of the associative memories in ``neuro/rules/hopfield.py``.

Same arguments as the torch side on numpy arrays: ``hopfield_retrieve(s, w, params)``,
``dense_retrieve(s, xi, params, free=None)`` -> ``(s_final, steps)``, ``dense_field(s, xi, params,
units=None)`` -> ``[B, U]``, ``hebbian_weights(xi)``. Rows of a batch are independent and run in
parallel (``prange``); each row stops at its own fixed point, and ``steps`` is the largest count over
the rows, which is what the torch side's batch-wide loop reports. The asynchronous unit orders come
from ``neuro.rules.hopfield.async_orders`` (same seed, same order). Inputs are not modified.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.rules.hopfield import ENERGY_CODES, DenseAMParams, HopfieldParams, async_orders, poly_scale


@numba.njit(cache=True, nogil=True)
def _sign_keep(h, old, eps):
    if h > eps:
        return 1.0
    if h < -eps:
        return -1.0
    return old


@numba.njit(cache=True, parallel=True, nogil=True)
def hopfield_kernel(s, w, orders, max_steps, eps, sync, steps_out):
    """In place on s [B, N]. sync: all units from the previous state; else units in orders[t]."""
    B, N = s.shape
    for b in numba.prange(B):
        new = np.empty(N, dtype=s.dtype)
        steps_out[b] = max_steps
        for t in range(max_steps):
            changed = False
            if sync:
                for i in range(N):
                    h = 0.0
                    for j in range(N):
                        h += w[i, j] * s[b, j]
                    new[i] = _sign_keep(h, s[b, i], eps)
                for i in range(N):
                    if new[i] != s[b, i]:
                        changed = True
                    s[b, i] = new[i]
            else:
                for k in range(N):
                    i = orders[t, k]
                    h = 0.0
                    for j in range(N):
                        h += w[i, j] * s[b, j]
                    v = _sign_keep(h, s[b, i], eps)
                    if v != s[b, i]:
                        changed = True
                        s[b, i] = v
            if not changed:
                steps_out[b] = t + 1
                break


@numba.njit(cache=True, nogil=True)
def _F(x, code, n, beta, sc, m):
    if code == 2:
        return math.exp(beta * (x - m))
    v = x * sc
    if code == 1 and v < 0:
        return 0.0
    return v ** n


@numba.njit(cache=True, nogil=True)
def _terms(o, code, n, beta, sc, H):
    """H[mu] = (F(o+2) - F(o-2)) / 2 for one state; returns c = sum (2F(o) - F(o+2) - F(o-2)) / 2."""
    P = o.shape[0]
    m = 0.0
    if code == 2:
        m = o[0]
        for mu in range(1, P):
            if o[mu] > m:
                m = o[mu]
        m += 2.0
    c = 0.0
    for mu in range(P):
        fp = _F(o[mu] + 2.0, code, n, beta, sc, m)
        f0 = _F(o[mu], code, n, beta, sc, m)
        fm = _F(o[mu] - 2.0, code, n, beta, sc, m)
        H[mu] = (fp - fm) * 0.5
        c += (2.0 * f0 - fp - fm) * 0.5
    return c


@numba.njit(cache=True, nogil=True)
def _overlaps(s_row, xi, o):
    P, N = xi.shape
    for mu in range(P):
        acc = 0.0
        for j in range(N):
            acc += xi[mu, j] * s_row[j]
        o[mu] = acc


@numba.njit(cache=True, parallel=True, nogil=True)
def dense_field_kernel(s, xi, units, code, n, beta, sc, out):
    """out[b, k] = field of unit units[k] in state s[b] (module docstring of neuro.rules.hopfield)."""
    B, N = s.shape
    P = xi.shape[0]
    U = units.shape[0]
    for b in numba.prange(B):
        o = np.empty(P, dtype=s.dtype)
        H = np.empty(P, dtype=s.dtype)
        _overlaps(s[b], xi, o)
        c = _terms(o, code, n, beta, sc, H)
        for k in range(U):
            i = units[k]
            acc = 0.0
            for mu in range(P):
                acc += H[mu] * xi[mu, i]
            out[b, k] = acc + s[b, i] * c


@numba.njit(cache=True, parallel=True, nogil=True)
def dense_kernel(s, xi, free, orders, max_steps, sync, code, n, beta, sc, steps_out):
    """In place on s [B, N]: dense associative memory retrieval of the free units."""
    B, N = s.shape
    P = xi.shape[0]
    for b in numba.prange(B):
        o = np.empty(P, dtype=s.dtype)
        H = np.empty(P, dtype=s.dtype)
        new = np.empty(N, dtype=s.dtype)
        _overlaps(s[b], xi, o)
        steps_out[b] = max_steps
        for t in range(max_steps):
            changed = False
            if sync:
                c = _terms(o, code, n, beta, sc, H)
                for i in range(N):
                    new[i] = s[b, i]
                    if free[i]:
                        f = s[b, i] * c
                        acc = 0.0
                        for mu in range(P):
                            acc += H[mu] * xi[mu, i]
                        f += acc
                        new[i] = _sign_keep(f, s[b, i], 0.0)
                for i in range(N):
                    if new[i] != s[b, i]:
                        changed = True
                        s[b, i] = new[i]
                if changed:
                    _overlaps(s[b], xi, o)
            else:
                for k in range(N):
                    i = orders[t, k]
                    if not free[i]:
                        continue
                    c = _terms(o, code, n, beta, sc, H)
                    acc = 0.0
                    for mu in range(P):
                        acc += H[mu] * xi[mu, i]
                    v = _sign_keep(acc + s[b, i] * c, s[b, i], 0.0)
                    if v != s[b, i]:
                        changed = True
                        s[b, i] = v
                        for mu in range(P):
                            o[mu] += 2.0 * v * xi[mu, i]
            if not changed:
                steps_out[b] = t + 1
                break


def _states(s, n_units: int, name: str = "s") -> np.ndarray:
    dt = np.result_type(np.asarray(s).dtype, np.float32)
    a = np.array(s, dtype=dt, order="C", copy=True)
    if a.ndim != 2 or a.shape[1] != n_units:
        raise ConfigError(f"{name} has shape {a.shape}; allowed: [*, {n_units}].")
    if not np.all(np.abs(a) == 1):
        raise ConfigError(f"{name} has entries other than +1/-1; allowed: +-1 states (binarise with "
                          f"np.where(x > t, 1, -1)).")
    return a


def hebbian_weights(xi: np.ndarray) -> np.ndarray:
    """``W = xi^T xi / N``, zero diagonal (numpy; the twin of ``neuro.rules.hopfield.hebbian_weights``)."""
    x = _states(xi, np.shape(xi)[-1], "xi")
    w = x.T @ x / x.shape[1]
    np.fill_diagonal(w, 0)
    return w


def hopfield_retrieve(s: np.ndarray, w: np.ndarray, p: HopfieldParams):
    """Numba twin of ``neuro.rules.hopfield.hopfield_retrieve``: ``(s_final [B, N], steps)``."""
    w_ = np.ascontiguousarray(w)
    s_ = _states(s, w_.shape[0])
    w_ = w_.astype(s_.dtype, copy=False)
    N = w_.shape[0]
    orders = np.zeros((1, N), np.int64) if p.mode == "sync" else async_orders(N, p.max_steps, p.seed)
    steps = np.zeros(s_.shape[0], np.int64)
    hopfield_kernel(s_, w_, orders, p.max_steps, s_.dtype.type(p.tie_eps), p.mode == "sync", steps)
    return s_, int(steps.max()) if len(steps) else 0


def _dense_args(xi, s, p: DenseAMParams):
    xi_ = _states(xi, np.shape(xi)[-1], "xi")
    s_ = _states(s, xi_.shape[1])
    xi_ = xi_.astype(s_.dtype, copy=False)
    N = xi_.shape[1]
    return xi_, s_, (ENERGY_CODES[p.energy], p.n, s_.dtype.type(p.beta), s_.dtype.type(poly_scale(N)))


def dense_field(s: np.ndarray, xi: np.ndarray, p: DenseAMParams, units=None) -> np.ndarray:
    """Numba twin of ``neuro.rules.hopfield.dense_field``: ``[B, U]``."""
    xi_, s_, e = _dense_args(xi, s, p)
    u = np.arange(xi_.shape[1]) if units is None else np.asarray(units)
    u = np.flatnonzero(u) if u.dtype == bool else u.astype(np.int64)
    out = np.empty((s_.shape[0], len(u)), s_.dtype)
    dense_field_kernel(s_, xi_, u, *e, out)
    return out


def dense_retrieve(s: np.ndarray, xi: np.ndarray, p: DenseAMParams, free=None):
    """Numba twin of ``neuro.rules.hopfield.dense_retrieve``: ``(s_final [B, N], steps)``."""
    xi_, s_, e = _dense_args(xi, s, p)
    N = xi_.shape[1]
    if free is None:
        mask = np.ones(N, np.bool_)
    else:
        f = np.asarray(free)
        mask = f.astype(np.bool_) if f.dtype == bool else np.isin(np.arange(N), f)
        if mask.shape != (N,):
            raise ConfigError(f"free has shape {f.shape}; allowed: a bool mask [{N}] or unit indices.")
    orders = np.zeros((1, N), np.int64) if p.mode == "sync" else async_orders(N, p.max_steps, p.seed)
    steps = np.zeros(s_.shape[0], np.int64)
    dense_kernel(s_, xi_, mask, orders, p.max_steps, p.mode == "sync", *e, steps)
    return s_, int(steps.max()) if len(steps) else 0

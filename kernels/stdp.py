"""Numba twin of ``neuro.rules.stdp.stdp_run``: trace-based pair STDP over ``T`` steps, parallel over the
independent samples of the batch. Only the synapses of presynaptic neurons that spiked (depression)
and of postsynaptic neurons that spiked (potentiation) are touched each step, so the cost follows
the spike count, not ``n_post * n_pre * T``; clipping and the mask apply to those rows/columns (the
others did not change)."""

from __future__ import annotations

import math

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.rules.stdp import check_shapes


@numba.njit(cache=True, parallel=True, nogil=True)
def _stdp_kernel(w, pre, post, x, y, ap, am, mask, has_mask, m, lo, hi, dp, dm, nearest, decay):
    T, B, n_pre = pre.shape
    n_post = post.shape[2]
    for b in numba.prange(B):
        for t in range(T):
            for i in range(n_pre):
                x[b, i] *= dp
            for j in range(n_post):
                y[b, j] *= dm
            # pre spikes: depression with the post trace before this step's post spikes
            for i in range(n_pre):
                if pre[t, b, i] != 0:
                    for j in range(n_post):
                        if has_mask and mask[j, i] == 0:
                            continue
                        v = w[b, j, i] - am[b] * (m[b, j] * y[b, j]) * pre[t, b, i]
                        w[b, j, i] = min(max(v, lo[j, i]), hi[j, i])
                    if nearest:
                        x[b, i] = 1.0
                    else:
                        x[b, i] += pre[t, b, i]
            # post spikes: potentiation with the pre trace including this step's pre spikes
            for j in range(n_post):
                if post[t, b, j] != 0:
                    f = ap[b] * (m[b, j] * post[t, b, j])
                    for i in range(n_pre):
                        if has_mask and mask[j, i] == 0:
                            continue
                        v = w[b, j, i] + f * x[b, i]
                        w[b, j, i] = min(max(v, lo[j, i]), hi[j, i])
                    if nearest:
                        y[b, j] = 1.0
                    else:
                        y[b, j] += post[t, b, j]
            ap[b] *= decay
            am[b] *= decay


def stdp_run(w, pre, post, p, state=None, mask=None, modulation=1.0, w_min=None, w_max=None):
    """``neuro.rules.stdp.stdp_run`` on numpy arrays: returns ``(w_new, (x, y, a_plus, a_minus))``.

    Note: synapses whose pre and post neuron both stay silent are never clipped here, while the torch
    version clips every synapse every step; they agree whenever the initial weights lie within the
    bounds (and masked-out weights are 0), which ``stdp_run`` checks."""
    w = np.array(w, copy=True)
    check_shapes(w, pre, post)
    B, n_post, n_pre = w.shape
    f = w.dtype.type
    lo = np.full((n_post, n_pre), p.w_min, w.dtype) if w_min is None else np.asarray(w_min, w.dtype)
    hi = np.full((n_post, n_pre), p.w_max, w.dtype) if w_max is None else np.asarray(w_max, w.dtype)
    msk = np.ones((1, 1), np.uint8) if mask is None else (np.asarray(mask) != 0).astype(np.uint8)
    if np.any(w < lo - 1e-12) or np.any(w > hi + 1e-12) or (mask is not None and np.any(w[:, msk == 0] != 0)):
        raise ConfigError("stdp_run (numba): the initial weights must lie within [w_min, w_max] and be 0 where "
                          "mask is 0; clip them first (np.clip) or pass matching bounds.")
    if state is None:
        x, y = np.zeros((B, n_pre), w.dtype), np.zeros((B, n_post), w.dtype)
        ap, am = np.full(B, p.a_plus, w.dtype), np.full(B, p.a_minus, w.dtype)
    else:
        x, y, ap, am = (np.array(a, dtype=w.dtype, copy=True) for a in state)
    m = np.broadcast_to(np.asarray(modulation, w.dtype), (B, n_post)).copy()
    _stdp_kernel(w, np.ascontiguousarray(pre, w.dtype), np.ascontiguousarray(post, w.dtype), x, y, ap, am, msk,
                 mask is not None, m, lo, hi, f(math.exp(-p.dt / p.tau_plus)), f(math.exp(-p.dt / p.tau_minus)),
                 p.pairing == "nearest", f(p.decay))
    return w, (x, y, ap, am)

"""Numba inference kernel of the AM-SU recurrent population (``neuro.neurons.amsu``), forward only.

``amsu_forward_kernel`` takes the Params unpacked to scalars and runs ``T`` steps over ``[T, B, N]``
input currents with recurrent weights ``[N, N]`` (post, pre) and per-unit astrocyte gains ``[N]``,
parallel over the batch (``prange``): each sample's units depend on each other through the recurrent
weights, so the batch is the independent axis. Same equations and per-element operation order as the
torch reference (the recurrent sum is a plain dot product, whose summation order differs from
torch's matmul: spikes agree exactly and membranes to rounding in float64, see tests/neurons/test_amsu.py).
Works in the dtype of ``x`` (float32 or float64).
"""

from __future__ import annotations

import numba
import numpy as np

from neuro.errors import ConfigError
from neuro.neurons.amsu import AMSUParams, check_shapes


@numba.njit(cache=True, parallel=True, nogil=True)
def amsu_forward_kernel(x, w_rec, gain, beta, v_th, alpha, one_minus_alpha, one, zero, reset_zero,
                        threshold_feedback, v, s, a, spk_out, v_out, a_out):
    """Run T steps in place.

    x: [T, B, N] input currents. w_rec: [N, N] (post, pre). gain: [N]. beta, v_th, alpha,
    one_minus_alpha, one, zero: scalars of x's dtype. reset_zero, threshold_feedback: bools.
    v, s, a: [B, N] state, updated in place to the final state.
    spk_out, v_out, a_out: [T, B, N] outputs (spikes 0/1, membrane and astrocyte state after each step).
    """
    T, B, N = x.shape
    for b in numba.prange(B):
        s_new = np.empty_like(v[b])
        for t in range(T):
            for i in range(N):
                rec = zero
                for j in range(N):
                    rec += w_rec[i, j] * s[b, j]
                reset = s[b, i]
                ga = gain[i] * a[b, i]
                it = x[t, b, i] + rec
                theta = v_th
                if threshold_feedback:
                    theta = v_th + ga
                else:
                    it = it + ga
                if reset_zero:
                    vi = beta * ((one - reset) * v[b, i]) + it
                else:
                    vi = beta * v[b, i] + it - reset * v_th
                si = one if (vi - theta) > zero else zero
                ai = alpha * a[b, i] + one_minus_alpha * si
                v[b, i] = vi
                a[b, i] = ai
                s_new[i] = si
                v_out[t, b, i] = vi
                a_out[t, b, i] = ai
            for i in range(N):
                s[b, i] = s_new[i]
                spk_out[t, b, i] = s_new[i]


def amsu_multistep(x: np.ndarray, w_rec: np.ndarray, p: AMSUParams, state=None, gain: np.ndarray | None = None):
    """Numpy/Numba counterpart of ``neuro.neurons.amsu.amsu_multistep`` (forward only).

    x: float32 or float64 ``[T, B, N]``; w_rec ``[N, N]``; gain ``[N]`` (default ``p.astro_gain``);
    state: optional ``(v, s, a)`` each ``[B, N]`` (copied, not modified). Returns spikes, membrane,
    astrocyte state ``[T, B, N]`` and the final ``(v, s, a)``."""
    check_shapes(x, w_rec, gain)
    if x.dtype not in (np.float32, np.float64):
        raise ConfigError(f"x has dtype {x.dtype}; allowed: float32 or float64 for the numba AM-SU kernel.")
    dt = x.dtype
    T, B, N = x.shape
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w_rec, dtype=dt)
    g = np.full(N, p.astro_gain, dt) if gain is None else np.ascontiguousarray(gain, dtype=dt)
    if state is None:
        v, s, a = (np.zeros((B, N), dt) for _ in range(3))
    else:
        if len(state) != 3:
            raise ConfigError(f"state has {len(state)} fields; allowed: 3 (v, s, a).")
        for name, arr in zip("vsa", state):
            if np.shape(arr) != (B, N):
                raise ConfigError(f"state.{name} has shape {np.shape(arr)}; allowed: {(B, N)} (one time step of x).")
        v, s, a = (np.array(arr, dtype=dt) for arr in state)
    spk, mem, ast = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    alpha = p.alpha
    amsu_forward_kernel(x, w, g, dt.type(p.beta), dt.type(p.v_th), dt.type(alpha), dt.type(1.0 - alpha),
                        dt.type(1.0), dt.type(0.0), p.reset == "zero", p.feedback == "threshold", v, s, a, spk, mem, ast)
    return spk, mem, ast, (v, s, a)

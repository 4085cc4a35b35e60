"""Numba twin of ``neuro.models.wta_stdp.wta_dynamics``: the excitatory layer of the Diehl & Cook (2015)
network over ``T`` steps of given input spikes (conductance LIF, adaptive threshold, refractory period,
lateral inhibition from every other neuron's spike). Event-driven input: each step only the columns of
inputs that spiked are added, so the cost follows the input spike count, not ``T * n_in * n``."""

from __future__ import annotations

import numba
import numpy as np

from kernels.rng import GOLDEN, mix64


@numba.njit(cache=True, nogil=True)
def _wta_one(pre, w, v, ge, gi, refr, theta, post, learn, dge, dgi, k_v, v_rest, v_reset, v_thresh, e_exc, e_inh,
             refrac, dt, theta_plus, w_inh):
    """One sample: ``pre [T, n_in]``, state ``[n]`` in place, ``post [T, n]`` written."""
    T, n_in = pre.shape
    n = w.shape[0]
    for t in range(T):
        for j in range(n):
            ge[j] *= dge
            gi[j] *= dgi
        for i in range(n_in):
            if pre[t, i] != 0:
                for j in range(n):
                    ge[j] += w[j, i]
        count = 0
        for j in range(n):
            if refr[j] > 0:
                refr[j] -= dt
                post[t, j] = 0
                continue
            vj = v[j]
            vj += k_v * ((v_rest - vj) + ge[j] * (e_exc - vj) + gi[j] * (e_inh - vj))
            if vj > v_thresh + theta[j]:
                post[t, j] = 1
                count += 1
                vj = v_reset
                refr[j] = refrac
                if learn:
                    theta[j] += theta_plus
            else:
                post[t, j] = 0
            v[j] = vj
        if count > 0:
            for j in range(n):
                gi[j] += w_inh * (count - post[t, j])


@numba.njit(cache=True, parallel=True, nogil=True)
def _wta_kernel(pre, w, v, ge, gi, refr, theta, post, learn, dge, dgi, k_v, v_rest, v_reset, v_thresh, e_exc, e_inh,
                refrac, dt, theta_plus, w_inh):
    for b in numba.prange(pre.shape[1]):
        _wta_one(pre[:, b, :], w, v[b], ge[b], gi[b], refr[b], theta[b], post[:, b, :], learn, dge, dgi, k_v, v_rest,
                 v_reset, v_thresh, e_exc, e_inh, refrac, dt, theta_plus, w_inh)


def _scalars(p):
    """The float32 scalars ``_wta_one`` takes after ``learn``, from a ``WTAParams``."""
    f = np.float32
    c = p.constants()
    return (f(c["dge"]), f(c["dgi"]), f(c["k_v"]), f(p.v_rest), f(p.v_reset), f(p.v_thresh), f(p.e_exc),
            f(p.e_inh), f(p.refractory), f(p.dt), f(p.theta_plus), f(p.w_inh))


def wta_dynamics(pre, w, state, p, learn):
    """``wta_dynamics`` on numpy arrays: ``pre [T, B, n_in]`` (0/1), ``w [n, n_in]``, ``state`` a tuple
    ``(v, ge, gi, refr, theta)`` of ``[B, n]`` float32 arrays (updated in place), ``p`` a ``WTAParams``.
    Returns the post spikes ``[T, B, n]`` uint8."""
    pre = np.ascontiguousarray(pre, dtype=np.uint8)
    w = np.ascontiguousarray(w, dtype=np.float32)
    T, B, _ = pre.shape
    post = np.zeros((T, B, w.shape[0]), np.uint8)
    _wta_kernel(pre, w, *state, post, bool(learn), *_scalars(p))
    return post


@numba.njit(cache=True, nogil=True)
def _poisson_one(prob, seed, out):
    """One sample: ``prob [n_in]`` per step, ``out [T, n_in]`` (zeros) gets the spikes."""
    T, n_in = out.shape
    s = np.uint64(seed)
    for i in range(n_in):
        pr = prob[i]
        if pr <= 0.0:
            continue
        if pr >= 1.0:
            for t in range(T):
                out[t, i] = 1
            continue
        lq = np.log1p(-pr)
        t = -1
        while True:
            # splitmix64: a fresh uniform in (0, 1) per spike
            s += GOLDEN
            z = mix64(s)
            u = (np.float64(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
            t += int(np.floor(np.log(u) / lq)) + 1  # geometric gap: Bernoulli(pr) per step, exactly
            if t >= T:
                break
            out[t, i] = 1


@numba.njit(cache=True, parallel=True, nogil=True)
def _poisson_kernel(prob, seeds, out):
    for b in numba.prange(out.shape[1]):
        _poisson_one(prob[b], seeds[b], out[:, b, :])


@numba.njit(cache=True, parallel=True, nogil=True)
def _counts_kernel(prob, seeds, T, w, v, ge, gi, refr, theta, counts, dge, dgi, k_v, v_rest, v_reset, v_thresh,
                   e_exc, e_inh, refrac, dt, theta_plus, w_inh):
    B, n_in = prob.shape
    n = w.shape[0]
    for b in numba.prange(B):
        pre = np.zeros((T, n_in), np.uint8)
        post = np.zeros((T, n), np.uint8)
        _poisson_one(prob[b], seeds[b], pre)
        _wta_one(pre, w, v[b], ge[b], gi[b], refr[b], theta[b], post, False, dge, dgi, k_v, v_rest, v_reset,
                 v_thresh, e_exc, e_inh, refrac, dt, theta_plus, w_inh)
        for t in range(T):
            for j in range(n):
                counts[b, j] += post[t, j]


def spike_counts(prob, T, seeds, w, state, p):
    """Inference without the trains: per sample, draw its input (as :func:`poisson_spikes`) and run the
    layer (thresholds frozen) in a cache-sized buffer; returns the spike counts ``[B, n]`` float32."""
    prob = np.ascontiguousarray(prob, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float32)
    counts = np.zeros((prob.shape[0], w.shape[0]), np.float32)
    _counts_kernel(prob, np.ascontiguousarray(seeds, dtype=np.uint64), int(T), w, *state, counts, *_scalars(p))
    return counts


def poisson_spikes(prob, T, seeds):
    """Bernoulli spike trains ``[T, B, n_in]`` uint8 with per-step probability ``prob [B, n_in]``, drawn
    as geometric gaps (one random number per spike; pixels at 0 cost nothing). ``seeds [B]`` (uint64)
    make each sample's train reproducible."""
    prob = np.ascontiguousarray(prob, dtype=np.float64)
    out = np.zeros((int(T), prob.shape[0], prob.shape[1]), np.uint8)
    _poisson_kernel(prob, np.ascontiguousarray(seeds, dtype=np.uint64), out)
    return out

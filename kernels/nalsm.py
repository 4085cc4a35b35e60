"""Numba kernels of the neuron-astrocyte liquid state machine (``neuro.models.nalsm``): the LIF liquid
with exponential synaptic current kernels, refractory period, astrocyte-modulated STDP and Bernoulli
input, simulated event-driven and in parallel over the independent samples of a batch.

Event-driven synaptic current: every postsynaptic neuron keeps ``I[j] = sum_i w_ji g(age_i)`` (``age_i``:
steps since presynaptic neuron ``i`` last spiked, ``g(a) = exp(-a / tau) / tau``), decayed by
``exp(-1 / tau)`` each step. A presynaptic spike resets its kernel (only the last spike counts, as in
the NALSM reference), so it adds ``w (g(0) - g(age))`` to each of its targets, and an STDP change
``dw`` adds ``dw g(age)``. Work per step is ``O(neurons + spikes x fan-out)``, not ``O(synapses)``;
the dense torch twin (``neuro.models.nalsm.simulate_torch``) sums over all synapses every step.

Bernoulli input draws come from a counter-based hash of ``(key, t, input)`` (:func:`bernoulli_draws`
gives the same draws as an array for the torch twin), so a sample's input does not depend on the
batch it runs in or on the thread that runs it.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels.rng import GOLDEN, mix64


@numba.njit(cache=True, inline="always")
def _uniform(key, t, i, n_in):
    """A uniform in [0, 1) from (key, t, i): the splitmix64 finaliser of ``key * phi + t * n_in + i``."""
    x = mix64(np.uint64(key) * GOLDEN + np.uint64(t * n_in + i) + GOLDEN)
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, parallel=True)
def bernoulli_draws(p, keys, T):
    """``uint8 [B, T, n_in]``: 1 where input ``i`` of sample ``b`` fires at step ``t`` (probability ``p[b, i]``)."""
    B, n_in = p.shape
    out = np.zeros((B, T, n_in), np.uint8)
    for b in numba.prange(B):
        for t in range(T):
            for i in range(n_in):
                if p[b, i] > 0.0 and _uniform(keys[b], t, i, n_in) < p[b, i]:
                    out[b, t, i] = 1
    return out


@numba.njit(cache=True, nogil=True)
def simulate_sample(p, key, T, w, n_liq, out_ptr, out_post, in_ptr, in_syn, in_pre, w_lo, w_hi, pre_inh,
                    vth, tau_v, bias, t_ref, gtab, kdec, input_current, plastic, a_plus0, trace_a, trace_dec,
                    lr_decay, astro_w0, astro_bias0, astro_tau, astro_a0, counts, raster, record, astro_trace):
    """Simulate one sample for ``T`` steps, updating ``w`` (its own copy) in place when ``plastic > 0``
    (clipped to ``[w_lo[pre], w_hi[pre]]``: the bounds follow the presynaptic neuron's class)
    (1: STDP with depression rate = potentiation rate; 2: depression rate set by the astrocyte).
    Adds liquid spike counts to ``counts [n_liq]``; writes the liquid raster ``raster [T, n_liq]`` when
    ``record``; the astrocyte's rate per step goes to ``astro_trace [T]`` when it has ``T`` entries."""
    N = vth.shape[0]
    n_in = N - n_liq
    amax = gtab.shape[0] - 1
    dt = w.dtype
    V = np.zeros(N, dt)
    I = np.zeros(n_liq, dt)
    trace = np.zeros(N, dt)
    refr = np.zeros(N, np.int32)
    age = np.full(N, amax, np.int32)
    s = np.zeros(N, np.uint8)
    spk = np.empty(N, np.int32)
    a_plus = a_plus0
    A = astro_a0
    aw = astro_w0
    abias = astro_bias0
    for t in range(T):
        # 1. spikes (not refractory and at threshold), reset to 0
        nsp = 0
        n_res = 0
        for i in range(N):
            if refr[i] <= 0 and V[i] >= vth[i]:
                s[i] = 1
                V[i] = 0.0
                spk[nsp] = i
                nsp += 1
                if i < n_liq:
                    n_res += 1
                    counts[i] += 1.0
                    if record:
                        raster[t, i] = 1
            else:
                s[i] = 0
        # 2. propagate: a presynaptic spike restarts its current kernel
        g0 = gtab[0]
        for k in range(nsp):
            i = spk[k]
            gi = g0 - gtab[age[i]]
            for e in range(out_ptr[i], out_ptr[i + 1]):
                I[out_post[e]] += w[e] * gi
            age[i] = 0
        # 3. membrane: leak, synaptic current, input current, bias
        for i in range(n_liq):
            V[i] += I[i] + bias[i] - V[i] / tau_v[i]
        for q in range(n_in):
            i = n_liq + q
            drive = 0.0
            if p[q] > 0.0 and _uniform(key, t, q, n_in) < p[q]:
                drive = input_current
            V[i] += drive + bias[i] - V[i] / tau_v[i]
        # 4. kernels age one step; refractory countdown
        for i in range(N):
            if age[i] < amax:
                age[i] += 1
            if s[i] != 0:
                refr[i] = t_ref[i]
            else:
                refr[i] -= 1
        for j in range(n_liq):
            I[j] *= kdec
        if plastic > 0:
            dep = a_plus if plastic == 1 else A
            # 5a. postsynaptic spikes: pre-before-post pairs (pre trace); pairs whose pre also spiked
            # this step are done in 5b so each synapse is clipped once, as in the reference
            for k in range(nsp):
                j = spk[k]
                if j >= n_liq:
                    continue
                for r in range(in_ptr[j], in_ptr[j + 1]):
                    i = in_pre[r]
                    if trace[i] == 0.0 or s[i] != 0:  # no change (most inputs never fire): skip the weight
                        continue
                    e = in_syn[r]
                    lr = -dep if pre_inh[i] else a_plus
                    wn = min(max(w[e] + lr * trace[i], w_lo[i]), w_hi[i])
                    I[j] += (wn - w[e]) * gtab[age[i]]
                    w[e] = wn
            # 5b. presynaptic spikes: post-before-pre pairs (post trace)
            for k in range(nsp):
                i = spk[k]
                lr_dep = a_plus if pre_inh[i] else -dep
                lr_pot = -dep if pre_inh[i] else a_plus
                gi = gtab[age[i]]
                lo = w_lo[i]
                hi = w_hi[i]
                for e in range(out_ptr[i], out_ptr[i + 1]):
                    j = out_post[e]
                    if trace[j] == 0.0 and s[j] == 0:
                        continue
                    d = lr_dep * trace[j]
                    if s[j] != 0:
                        d += lr_pot * trace[i]
                    wn = min(max(w[e] + d, lo), hi)
                    I[j] += (wn - w[e]) * gi
                    w[e] = wn
            # 6. traces, astrocyte (liquid minus input activity), rate decay
            for i in range(N):
                trace[i] = trace_dec * (trace_a * s[i] + trace[i])
            A += (aw * (n_res - (nsp - n_res)) + abias - A) / astro_tau
            if astro_trace.shape[0] == T:
                astro_trace[t] = A
            a_plus *= lr_decay
            A *= lr_decay
            aw *= lr_decay
            abias *= lr_decay


@numba.njit(cache=True, parallel=True)
def run_batch(p, keys, T, w0, n_liq, out_ptr, out_post, in_ptr, in_syn, in_pre, w_lo, w_hi, pre_inh,
              vth, tau_v, bias, t_ref, gtab, kdec, input_current, plastic, a_plus0, trace_a, trace_dec,
              lr_decay, astro_w0, astro_bias0, astro_tau, astro_a0, n_record):
    """Independent samples in parallel, each from the weights ``w0`` (reset per sample). Returns liquid
    spike counts ``[B, n_liq]`` (float32), the rasters of the first ``n_record`` samples
    ``uint8 [n_record, T, n_liq]`` and the astrocyte traces ``[n_record, T]``."""
    B = p.shape[0]
    counts = np.zeros((B, n_liq), np.float32)
    raster = np.zeros((n_record, T, n_liq), np.uint8)
    atr = np.zeros((n_record, T), w0.dtype)
    dummy_r = np.zeros((0, n_liq), np.uint8)
    dummy_a = np.zeros(0, w0.dtype)
    for b in numba.prange(B):
        w = w0.copy()
        rec = b < n_record
        rb = dummy_r
        ab = dummy_a
        if rec:
            rb = raster[b]
            ab = atr[b]
        simulate_sample(p[b], keys[b], T, w, n_liq, out_ptr, out_post, in_ptr, in_syn, in_pre, w_lo, w_hi,
                        pre_inh, vth, tau_v, bias, t_ref, gtab, kdec, input_current, plastic, a_plus0, trace_a,
                        trace_dec, lr_decay, astro_w0, astro_bias0, astro_tau, astro_a0, counts[b], rb, rec, ab)
    return counts, raster, atr


@numba.njit(cache=True)
def run_sequential(p, keys, T, w, n_liq, out_ptr, out_post, in_ptr, in_syn, in_pre, w_lo, w_hi, pre_inh,
                   vth, tau_v, bias, t_ref, gtab, kdec, input_current, plastic, a_plus0, trace_a, trace_dec,
                   lr_decay, astro_w0, astro_bias0, astro_tau, astro_a0):
    """The initialisation phase: samples one after another on one weight vector ``w`` (updated in
    place and kept across samples); neuron, trace and astrocyte states restart with every sample."""
    counts = np.zeros(n_liq, np.float32)
    dummy_r = np.zeros((0, n_liq), np.uint8)
    dummy_a = np.zeros(0, w.dtype)
    for b in range(p.shape[0]):
        simulate_sample(p[b], keys[b], T, w, n_liq, out_ptr, out_post, in_ptr, in_syn, in_pre, w_lo, w_hi,
                        pre_inh, vth, tau_v, bias, t_ref, gtab, kdec, input_current, plastic, a_plus0, trace_a,
                        trace_dec, lr_decay, astro_w0, astro_bias0, astro_tau, astro_a0, counts, dummy_r, False,
                        dummy_a)
    return counts


def run(p, net, probs, keys, *, w, mode, duration, decay=True, n_record=0):
    """``neuro.models.nalsm.simulate`` on the Numba kernel (the registry's ``("nalsm", "numba")``; same
    arguments as ``neuro.models.nalsm.simulate_torch``): weights ``w`` (their dtype is the kernel's)."""
    from neuro.models import nalsm as nm

    dtype = np.asarray(w).dtype
    gtab, kdec = nm._tables(p, dtype)
    vth, tau_v, bias, t_ref, pre_inh = nm._neuron_arrays(p, net, dtype)
    counts, raster, astro = run_batch(
        probs, keys, int(duration), np.ascontiguousarray(w), net.n_liq, net.out_ptr, net.out_post, net.in_ptr,
        net.in_syn, net.in_pre, *nm._bounds(p, net, dtype), pre_inh, vth, tau_v, bias, t_ref, gtab, kdec,
        p.input_current, n_record=int(n_record), **nm._rates(p, mode, decay))
    return nm.SimResult(counts, raster, astro)

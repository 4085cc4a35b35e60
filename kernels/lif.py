"""Numba multi-step LIF kernels: the equations of ``neuro.neurons.lif`` over ``[T, M]`` arrays.

Every kernel works on C-contiguous ``[T, M]`` views (M = every non-time axis flattened), the Params
unpacked to scalars. They split the neurons into blocks of ``BLOCK`` (parallel over blocks for large
arrays, serial for small ones) and walk time inside each block: the block's state lives in local
arrays (in cache, and known not to alias the outputs, so LLVM vectorises the loop), and each step
reads and writes one contiguous row slice. The branch on reset mode and refractory period is taken
once per row, not per neuron. The float32 operation order is the torch reference's, so results agree
bit for bit on the same inputs.
"""

from __future__ import annotations

import numba
import numpy as np

from kernels.layout import finish, prepare
from neuro.neurons.lif import LIFParams

BLOCK = 4096  # neurons per block: local state (3 x 16 KB) stays in L1/L2, each row slice is 16 KB


def lif_multistep(x: np.ndarray, p: LIFParams, state: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Numpy/Numba counterpart of ``neuro.neurons.lif.lif_multistep``.

    x: float32 ``[T, B, N...]``. state: optional ``(v, s, r)`` each ``[B, N...]`` float32 (copied,
    not modified). Returns spikes ``[T, ...]``, membrane ``[T, ...]``, final ``(v, s, r)``.
    """
    x2, (v, s, r), spk, mem = prepare(x, state, "vsr", "LIF")
    flags = np.empty(x2.shape if p.refractory_steps > 0 else (1, 1), np.uint8)
    lif_train_forward_kernel(x2, np.float32(p.beta), np.float32(p.v_th), np.float32(1.0), np.float32(0.0),
                             p.reset == "zero", int(p.refractory_steps), v, s, r, spk, mem, flags)
    return finish(x, spk, mem, (v, s, r))


# -- the kernels: forward (also used for inference) and the reverse-time backward -------------------
#
# Used by ``lif_multistep`` above and the ``torch.autograd.Function`` of ``neuro.neurons.fused``. They
# work on float32 or float64 ``[T, M]`` arrays; ``one``/``zero`` and every scalar arrive in the arrays'
# dtype so that float32 arithmetic is never promoted (bit-identical to torch).
# ``flags`` (uint8 ``[T, M]``, written only when ``refractory_steps > 0``, else a 1x1 placeholder) holds
# bit 0 = spike, bit 1 = input gate (not refractory); without a refractory period the gate is always 1
# and the spikes are recomputed exactly from the saved membrane (``v - v_th > 0``), so the membrane
# output is all the backward needs.

SG_FAST_SIGMOID, SG_ATAN, SG_STRAIGHT_THROUGH = 0, 1, 2
SPIKE_BIT, GATE_BIT = np.uint8(1), np.uint8(2)


@numba.njit(inline="always")
def surrogate_grad(u, kind, c1, c2, one):
    """d spike / d u at ``u`` (``neuro.rules.surrogate``): kind 0 fast_sigmoid (c1 = slope),
    1 atan (c1 = slope / 2, c2 = pi / 2 * slope), 2 straight_through."""
    if kind == 0:
        d = c1 * abs(u) + one
        return one / (d * d)
    if kind == 1:
        w = c2 * u
        return c1 / (one + w * w)
    return one


@numba.njit(cache=True, nogil=True)
def _lif_train_forward_block(lo, hi, x, beta, v_th, one, zero, reset_zero, refractory_steps, v, s, r,
                             spk_out, v_out, flags):
    """T steps of neurons ``[lo, hi)``: writes spikes, membrane (and flags with a refractory period)
    per step and leaves the final state in ``v, s, r``."""
    T = x.shape[0]
    n = hi - lo
    vv, ss, rr = v[lo:hi].copy(), s[lo:hi].copy(), r[lo:hi].copy()
    refr = one * refractory_steps
    for t in range(T):
        xr, so, vo = x[t, lo:hi], spk_out[t, lo:hi], v_out[t, lo:hi]
        if refractory_steps > 0:
            fl = flags[t, lo:hi]
            for j in range(n):
                reset = ss[j]
                if reset > zero:
                    rr[j] = refr
                elif rr[j] > zero:
                    rr[j] = rr[j] - one
                gate = one if rr[j] == zero else zero
                xin = xr[j] * gate
                if reset_zero:
                    vj = beta * ((one - reset) * vv[j]) + xin
                else:
                    vj = beta * vv[j] + xin - reset * v_th
                sj = (one if (vj - v_th) > zero else zero) * gate
                vv[j] = vj
                ss[j] = sj
                so[j] = sj
                vo[j] = vj
                f = SPIKE_BIT if sj > zero else np.uint8(0)
                fl[j] = f | GATE_BIT if gate > zero else f
        elif reset_zero:
            for j in range(n):
                vj = beta * ((one - ss[j]) * vv[j]) + xr[j]
                sj = one if (vj - v_th) > zero else zero
                vv[j] = vj
                ss[j] = sj
                so[j] = sj
                vo[j] = vj
        else:
            for j in range(n):
                vj = beta * vv[j] + xr[j] - ss[j] * v_th
                sj = one if (vj - v_th) > zero else zero
                vv[j] = vj
                ss[j] = sj
                so[j] = sj
                vo[j] = vj
    v[lo:hi] = vv
    s[lo:hi] = ss
    r[lo:hi] = rr


@numba.njit(cache=True, nogil=True)
def _lif_backward_block(lo, hi, v_out, flags, has_flags, s_init, g_spk, g_mem, has_g_spk, has_g_mem, beta, v_th, one, zero,
                        reset_zero, sg_kind, c1, c2, g_x, g_v):
    """Reverse-time BPTT of the LIF equations (reset detached, as the torch reference), neurons [lo, hi).

    v_out, flags: the forward's membrane [T, M] and flags (read only when has_flags, i.e. the forward
    had a refractory period; else gate = 1 and spikes come from v_out). s_init: the initial spikes [M].
    g_spk, g_mem: dL/d spikes and dL/d membrane [T, M]; has_g_*: 0 = absent (zero), 1 = the
    array, 2 = every element equals ``[0, 0]`` (the gradient of a sum: no [T, M] array needed).
    Writes g_x [T, M] (dL/dx) and g_v [M] (dL/d initial membrane, must enter as zeros)."""
    T = v_out.shape[0]
    n = hi - lo
    gvs = g_v[lo:hi].copy()
    gs_const = g_spk[0, 0] if has_g_spk == 2 else zero
    gm_const = g_mem[0, 0] if has_g_mem == 2 else zero
    for t in range(T - 1, -1, -1):
        vr, gxr = v_out[t, lo:hi], g_x[t, lo:hi]
        gsr = g_spk[t, lo:hi] if has_g_spk == 1 else g_spk[0, 0:1]
        gmr = g_mem[t, lo:hi] if has_g_mem == 1 else g_mem[0, 0:1]
        if has_flags:
            fl = flags[t, lo:hi]
        else:
            fl = flags[0, 0:1]
        if reset_zero and t > 0:
            vprev = v_out[t - 1, lo:hi]
            flp = flags[t - 1, lo:hi] if has_flags else flags[0, 0:1]
        else:
            vprev = v_out[t, lo:hi]
            flp = fl
        for j in range(n):
            gate = one
            if has_flags:
                gate = one if (fl[j] & GATE_BIT) else zero
            gs = gsr[j] if has_g_spk == 1 else gs_const
            gu = (gs * gate) * surrogate_grad(vr[j] - v_th, sg_kind, c1, c2, one)
            gv = gu + gvs[j]
            if has_g_mem == 1:
                gv = gv + gmr[j]
            elif has_g_mem == 2:
                gv = gv + gm_const
            gxr[j] = gv * gate
            if reset_zero:
                if t == 0:
                    prev = s_init[lo + j]
                elif has_flags:
                    prev = one if (flp[j] & SPIKE_BIT) else zero
                else:
                    prev = one if (vprev[j] - v_th) > zero else zero
                gvs[j] = (gv * beta) * (one - prev)
            else:
                gvs[j] = gv * beta
    g_v[lo:hi] = gvs


SERIAL_BELOW = 1 << 18  # elements (T * M) under which the serial driver runs: a parallel launch costs
#                         more than the work, and under load an OpenMP hand-off can take milliseconds


def _run(serial, parallel, *args) -> None:
    """Run a block function's driver over all neurons: serial for small arrays, parallel otherwise
    (``args[0]`` is the [T, M] array whose size decides)."""
    (serial if args[0].size < SERIAL_BELOW else parallel)(*args)


@numba.njit(cache=True, nogil=True)
def _lif_train_forward_serial(*args):
    _lif_train_forward_block(0, args[0].shape[1], *args)


@numba.njit(cache=True, parallel=True, nogil=True)
def _lif_train_forward_parallel(*args):
    M = args[0].shape[1]
    for blk in numba.prange((M + BLOCK - 1) // BLOCK):
        _lif_train_forward_block(blk * BLOCK, min(blk * BLOCK + BLOCK, M), *args)


@numba.njit(cache=True, nogil=True)
def _lif_backward_serial(*args):
    _lif_backward_block(0, args[0].shape[1], *args)


@numba.njit(cache=True, parallel=True, nogil=True)
def _lif_backward_parallel(*args):
    M = args[0].shape[1]
    for blk in numba.prange((M + BLOCK - 1) // BLOCK):
        _lif_backward_block(blk * BLOCK, min(blk * BLOCK + BLOCK, M), *args)


def lif_train_forward_kernel(*args) -> None:
    """``_lif_train_forward_block`` over all neurons (arguments after ``lo, hi``)."""
    _run(_lif_train_forward_serial, _lif_train_forward_parallel, *args)


def lif_backward_kernel(*args) -> None:
    """``_lif_backward_block`` over all neurons (arguments after ``lo, hi``)."""
    _run(_lif_backward_serial, _lif_backward_parallel, *args)

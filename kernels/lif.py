"""Numba multi-step LIF kernel: the equations of ``neuro.neurons.lif`` over ``[T, M]`` arrays.

``lif_forward_kernel`` takes the Params unpacked to scalars and works on a C-contiguous float32
``[T, M]`` view (M = every non-time axis flattened). It parallelises over blocks of neurons and
walks time inside each block, so each block's state stays in cache and the inner loop is
contiguous. The float32 operation order is the torch reference's, so results agree bit for bit
on the same inputs (the parity test allows 1e-6).
"""

from __future__ import annotations

import numba
import numpy as np

from kernels.layout import finish, prepare
from neuro.neurons.lif import LIFParams

BLOCK = 2048  # neurons per parallel block: state (3 x 8 KB) stays in L1/L2


@numba.njit(cache=True, parallel=True, nogil=True)
def lif_forward_kernel(x, beta, v_th, reset_zero, refractory_steps, v, s, r, spk_out, v_out):
    """Run T steps in place.

    x: float32 [T, M] input currents. beta, v_th: float32 scalars. reset_zero: bool.
    refractory_steps: int. v, s, r: float32 [M] state, updated in place to the final state.
    spk_out, v_out: float32 [T, M] outputs (spikes 0/1 and membrane after each update).
    """
    T, M = x.shape
    one = np.float32(1.0)
    zero = np.float32(0.0)
    refr = np.float32(refractory_steps)
    nblocks = (M + BLOCK - 1) // BLOCK
    for blk in numba.prange(nblocks):
        lo = blk * BLOCK
        hi = min(lo + BLOCK, M)
        for t in range(T):
            for j in range(lo, hi):
                reset = s[j]
                xin = x[t, j]
                gate = one
                if refractory_steps > 0:
                    if reset > zero:
                        r[j] = refr
                    elif r[j] > zero:
                        r[j] = r[j] - one
                    if r[j] != zero:
                        gate = zero
                    xin = xin * gate
                if reset_zero:
                    vj = beta * ((one - reset) * v[j]) + xin
                else:
                    vj = beta * v[j] + xin - reset * v_th
                sj = one if (vj - v_th) > zero else zero
                sj = sj * gate
                v[j] = vj
                s[j] = sj
                spk_out[t, j] = sj
                v_out[t, j] = vj


def lif_multistep(x: np.ndarray, p: LIFParams, state: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Numpy/Numba counterpart of ``neuro.neurons.lif.lif_multistep``.

    x: float32 ``[T, B, N...]``. state: optional ``(v, s, r)`` each ``[B, N...]`` float32 (copied,
    not modified). Returns spikes ``[T, ...]``, membrane ``[T, ...]``, final ``(v, s, r)``.
    """
    x2, (v, s, r), spk, mem = prepare(x, state, "vsr", "LIF")
    lif_forward_kernel(x2, np.float32(p.beta), np.float32(p.v_th), p.reset == "zero",
                       int(p.refractory_steps), v, s, r, spk, mem)
    return finish(x, spk, mem, (v, s, r))


# -- training kernels: forward that saves what backward needs, and the reverse-time backward ------
#
# Used by the ``torch.autograd.Function`` of ``neuro.neurons.fused``. They work on float32 or float64
# ``[T, M]`` arrays; ``one``/``zero`` and every scalar arrive in the arrays' dtype so that the float32
# arithmetic is never promoted (the forward is bit-identical to ``lif_forward_kernel`` and to torch).
# ``flags`` (uint8 ``[T, M]``, written only when ``refractory_steps > 0``) holds bit 0 = spike, bit 1 =
# input gate (not refractory); without a refractory period the gate is always 1 and the spikes are
# recomputed exactly from the saved membrane (``v - v_th > 0``), so the membrane output is all the
# backward needs.

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
    """``lif_forward_kernel``'s equations for neurons ``[lo, hi)``, float32/float64, also writing
    ``flags`` (uint8 [T, M])."""
    T = x.shape[0]
    refr = one * refractory_steps
    for t in range(T):
        for j in range(lo, hi):
            reset = s[j]
            xin = x[t, j]
            gate = one
            if refractory_steps > 0:
                if reset > zero:
                    r[j] = refr
                elif r[j] > zero:
                    r[j] = r[j] - one
                if r[j] != zero:
                    gate = zero
                xin = xin * gate
            if reset_zero:
                vj = beta * ((one - reset) * v[j]) + xin
            else:
                vj = beta * v[j] + xin - reset * v_th
            sj = one if (vj - v_th) > zero else zero
            sj = sj * gate
            v[j] = vj
            s[j] = sj
            spk_out[t, j] = sj
            v_out[t, j] = vj
            if refractory_steps > 0:  # else spikes are recomputed from the membrane, gate = 1
                f = SPIKE_BIT if sj > zero else np.uint8(0)
                if gate > zero:
                    f = f | GATE_BIT
                flags[t, j] = f


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
    for t in range(T - 1, -1, -1):
        for j in range(lo, hi):
            gate = one
            if has_flags:
                gate = one if (flags[t, j] & GATE_BIT) else zero
            gs = g_spk[t, j] if has_g_spk == 1 else (g_spk[0, 0] if has_g_spk == 2 else zero)
            gu = (gs * gate) * surrogate_grad(v_out[t, j] - v_th, sg_kind, c1, c2, one)
            gv = gu + g_v[j]
            if has_g_mem == 1:
                gv = gv + g_mem[t, j]
            elif has_g_mem == 2:
                gv = gv + g_mem[0, 0]
            g_x[t, j] = gv * gate
            if reset_zero:
                if t == 0:
                    prev = s_init[j]
                elif has_flags:
                    prev = one if (flags[t - 1, j] & SPIKE_BIT) else zero
                else:
                    prev = one if (v_out[t - 1, j] - v_th) > zero else zero
                g_v[j] = (gv * beta) * (one - prev)
            else:
                g_v[j] = gv * beta


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

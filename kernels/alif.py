"""Numba multi-step ALIF kernel: the equations of ``neuro.neurons.alif`` over ``[T, M]`` arrays.

``alif_forward_kernel`` takes the Params unpacked to scalars and works on a C-contiguous float32
``[T, M]`` view (M = every non-time axis flattened). Like ``kernels/lif.py`` it parallelises over
blocks of neurons and walks time inside each block. The float32 operation order is the torch
reference's (``theta' = v_th + adapt * a``, ``v = beta * v + x - reset * theta'``,
``a = rho * a + s``, ``s = H(v - (v_th + adapt * a))``), so results agree bit for bit on the same
inputs (the parity test allows 1e-6).
"""

from __future__ import annotations

import numba
import numpy as np

from kernels.layout import finish, prepare
from neuro.neurons.alif import ALIFParams

BLOCK = 2048  # neurons per parallel block: state (4 x 8 KB) stays in L1/L2


@numba.njit(cache=True, parallel=True, nogil=True)
def alif_forward_kernel(x, beta, rho, v_th, adapt, reset_zero, refractory_steps, v, s, r, a, spk_out, v_out):
    """Run T steps in place.

    x: float32 [T, M] input currents. beta, rho, v_th, adapt: float32 scalars. reset_zero: bool.
    refractory_steps: int. v, s, r, a: float32 [M] state, updated in place to the final state.
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
                aj = a[j]
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
                    theta_prev = v_th + adapt * aj
                    vj = beta * v[j] + xin - reset * theta_prev
                aj = rho * aj + reset
                theta = v_th + adapt * aj
                sj = one if (vj - theta) > zero else zero
                sj = sj * gate
                v[j] = vj
                s[j] = sj
                a[j] = aj
                spk_out[t, j] = sj
                v_out[t, j] = vj


def alif_multistep(x: np.ndarray, p: ALIFParams,
                   state: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Numpy/Numba counterpart of ``neuro.neurons.alif.alif_multistep``.

    x: float32 ``[T, B, N...]``. state: optional ``(v, s, r, a)`` each ``[B, N...]`` float32 (copied,
    not modified). Returns spikes ``[T, ...]``, membrane ``[T, ...]``, final ``(v, s, r, a)``.
    """
    x2, (v, s, r, a), spk, mem = prepare(x, state, "vsra", "ALIF")
    alif_forward_kernel(x2, np.float32(p.beta), np.float32(p.rho), np.float32(p.v_th), np.float32(p.adapt),
                        p.reset == "zero", int(p.refractory_steps), v, s, r, a, spk, mem)
    return finish(x, spk, mem, (v, s, r, a))


# -- training kernels (see kernels/lif.py): forward saving flags and v - theta, reverse-time backward

from kernels.lif import BLOCK as _BLOCK, GATE_BIT, SPIKE_BIT, _run, surrogate_grad  # noqa: E402


@numba.njit(cache=True, nogil=True)
def _alif_train_forward_block(lo, hi, x, beta, rho, v_th, adapt, one, zero, reset_zero, refractory_steps,
                              v, s, r, a, spk_out, v_out, u_out, flags):
    """``alif_forward_kernel``'s equations for neurons [lo, hi), float32/float64, also writing
    ``u_out = v - theta`` [T, M] (the surrogate's argument) and, with a refractory period, ``flags``
    (uint8 [T, M]: bit 0 spike, bit 1 input gate)."""
    T = x.shape[0]
    refr = one * refractory_steps
    for t in range(T):
        for j in range(lo, hi):
            reset = s[j]
            aj = a[j]
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
                theta_prev = v_th + adapt * aj
                vj = beta * v[j] + xin - reset * theta_prev
            aj = rho * aj + reset
            theta = v_th + adapt * aj
            uj = vj - theta
            sj = one if uj > zero else zero
            sj = sj * gate
            v[j] = vj
            s[j] = sj
            a[j] = aj
            spk_out[t, j] = sj
            v_out[t, j] = vj
            u_out[t, j] = uj
            if refractory_steps > 0:  # else spikes are recomputed from the membrane, gate = 1
                f = SPIKE_BIT if sj > zero else np.uint8(0)
                if gate > zero:
                    f = f | GATE_BIT
                flags[t, j] = f


@numba.njit(cache=True, nogil=True)
def _alif_backward_block(lo, hi, u_out, flags, has_flags, s_init, g_spk, g_mem, has_g_spk, has_g_mem, beta, rho, adapt, one,
                         zero, reset_zero, sg_kind, c1, c2, g_x, g_v, g_a, g_s):
    """Reverse-time BPTT of the ALIF equations: the reset term is detached, the adaptation
    ``a_t = rho a_{t-1} + s_{t-1}`` is not (the gradient reaches earlier spikes through the threshold).

    u_out, flags: the forward's ``v - theta`` and flags (read only when has_flags; else gate = 1 and
    spikes are ``u_out > 0``). s_init: initial spikes [M].
    g_spk, g_mem: dL/d spikes, dL/d membrane [T, M]; has_g_*: 0 absent, 1 array, 2 scalar ``[0, 0]``.
    g_a enters holding dL/d final a [M], g_v and
    g_s as zeros. Writes g_x [T, M] and the gradients of the initial v, a, s into g_v, g_a, g_s."""
    T = u_out.shape[0]
    for t in range(T - 1, -1, -1):
        for j in range(lo, hi):
            gate = one
            if has_flags:
                gate = one if (flags[t, j] & GATE_BIT) else zero
            gs = (g_spk[t, j] if has_g_spk == 1 else (g_spk[0, 0] if has_g_spk == 2 else zero)) + g_s[j]
            gu = (gs * gate) * surrogate_grad(u_out[t, j], sg_kind, c1, c2, one)
            gv = gu + g_v[j]
            if has_g_mem == 1:
                gv = gv + g_mem[t, j]
            elif has_g_mem == 2:
                gv = gv + g_mem[0, 0]
            ga = g_a[j] - adapt * gu
            g_x[t, j] = gv * gate
            if reset_zero:
                if t == 0:
                    prev = s_init[j]
                elif has_flags:
                    prev = one if (flags[t - 1, j] & SPIKE_BIT) else zero
                else:
                    prev = one if u_out[t - 1, j] > zero else zero
                g_v[j] = (gv * beta) * (one - prev)
            else:
                g_v[j] = gv * beta
            g_a[j] = rho * ga
            g_s[j] = ga


@numba.njit(cache=True, nogil=True)
def _alif_train_forward_serial(*args):
    _alif_train_forward_block(0, args[0].shape[1], *args)


@numba.njit(cache=True, parallel=True, nogil=True)
def _alif_train_forward_parallel(*args):
    M = args[0].shape[1]
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        _alif_train_forward_block(blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M), *args)


@numba.njit(cache=True, nogil=True)
def _alif_backward_serial(*args):
    _alif_backward_block(0, args[0].shape[1], *args)


@numba.njit(cache=True, parallel=True, nogil=True)
def _alif_backward_parallel(*args):
    M = args[0].shape[1]
    for blk in numba.prange((M + _BLOCK - 1) // _BLOCK):
        _alif_backward_block(blk * _BLOCK, min(blk * _BLOCK + _BLOCK, M), *args)


def alif_train_forward_kernel(*args) -> None:
    """``_alif_train_forward_block`` over all neurons (arguments after ``lo, hi``)."""
    _run(_alif_train_forward_serial, _alif_train_forward_parallel, *args)


def alif_backward_kernel(*args) -> None:
    """``_alif_backward_block`` over all neurons (arguments after ``lo, hi``)."""
    _run(_alif_backward_serial, _alif_backward_parallel, *args)

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

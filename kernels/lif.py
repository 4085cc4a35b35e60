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

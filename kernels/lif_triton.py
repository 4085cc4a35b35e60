"""Triton multi-step LIF kernels: the GPU engine of ``neuro.neurons.fused`` (``impl="triton"``).

The same equations, saved tensors and gradient semantics as ``kernels/lif.py`` (the Numba engine):
one program per block of ``BLOCK`` neurons walks all ``T`` steps with the state in registers, so the
forward is one kernel launch and the backward one more, instead of a handful of launches per step.
Reset mode, refractory period and surrogate are compile-time constants (one specialisation each).

On CUDA tensors this runs compiled. On CPU it runs only under Triton's interpreter
(``TRITON_INTERPRET=1`` set before this module is imported), which the tests use to check it against
the torch reference without a GPU. Arithmetic order follows the torch reference; the GPU compiler
may contract multiply-adds into FMAs, so on a GPU the membrane can differ from torch in the last bit.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

BLOCK = 256
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"


@triton.jit
def _lif_fwd(x_ptr, v_ptr, s_ptr, r_ptr, spk_ptr, mem_ptr, flags_ptr, M, T, beta, v_th, refr,
             RESET_ZERO: tl.constexpr, REFRACTORY: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < M
    v = tl.load(v_ptr + offs, mask=m, other=0.0)
    s = tl.load(s_ptr + offs, mask=m, other=0.0)
    r = tl.load(r_ptr + offs, mask=m, other=0.0)
    for t in range(T):
        row = t * M + offs
        xin = tl.load(x_ptr + row, mask=m, other=0.0)
        gate = tl.full([BLOCK], 1.0, v.dtype)
        if REFRACTORY:
            r = tl.where(s > 0.0, refr, tl.where(r > 0.0, r - 1.0, r))
            gate = tl.where(r == 0.0, 1.0, 0.0).to(v.dtype)
            xin = xin * gate
        if RESET_ZERO:
            v = beta * ((1.0 - s) * v) + xin
        else:
            v = beta * v + xin - s * v_th
        s = tl.where((v - v_th) > 0.0, 1.0, 0.0).to(v.dtype) * gate
        tl.store(spk_ptr + row, s, mask=m)
        tl.store(mem_ptr + row, v, mask=m)
        if REFRACTORY:
            f = tl.where(s > 0.0, 1, 0) + tl.where(gate > 0.0, 2, 0)
            tl.store(flags_ptr + row, f.to(tl.uint8), mask=m)
    tl.store(v_ptr + offs, v, mask=m)
    tl.store(s_ptr + offs, s, mask=m)
    tl.store(r_ptr + offs, r, mask=m)


@triton.jit
def _surrogate(u, c1, c2, SG: tl.constexpr):
    if SG == 0:  # fast sigmoid
        d = c1 * tl.abs(u) + 1.0
        out = 1.0 / (d * d)
    elif SG == 1:  # atan
        w = c2 * u
        out = c1 / (1.0 + w * w)
    else:  # straight-through
        out = u * 0.0 + 1.0
    return out


@triton.jit
def _lif_bwd(mem_ptr, flags_ptr, s_init_ptr, gs_ptr, gm_ptr, gx_ptr, gv_ptr, M, T, beta, v_th, c1, c2,
             gs_const, gm_const, HAS_FLAGS: tl.constexpr, GS_MODE: tl.constexpr, GM_MODE: tl.constexpr,
             RESET_ZERO: tl.constexpr, SG: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < M
    gv_next = tl.load(gv_ptr + offs, mask=m, other=0.0)
    s_init = tl.load(s_init_ptr + offs, mask=m, other=0.0)
    for i in range(T):
        t = T - 1 - i
        row = t * M + offs
        vt = tl.load(mem_ptr + row, mask=m, other=0.0)
        gate = vt * 0.0 + 1.0
        if HAS_FLAGS:
            fl = tl.load(flags_ptr + row, mask=m, other=0)
            gate = tl.where((fl & 2) != 0, 1.0, 0.0).to(vt.dtype)
        if GS_MODE == 1:
            gs = tl.load(gs_ptr + row, mask=m, other=0.0)
        elif GS_MODE == 2:
            gs = vt * 0.0 + gs_const
        else:
            gs = vt * 0.0
        gu = (gs * gate) * _surrogate(vt - v_th, c1, c2, SG)
        gv = gu + gv_next
        if GM_MODE == 1:
            gv = gv + tl.load(gm_ptr + row, mask=m, other=0.0)
        elif GM_MODE == 2:
            gv = gv + gm_const
        tl.store(gx_ptr + row, gv * gate, mask=m)
        if RESET_ZERO:
            prow = tl.maximum(t - 1, 0) * M + offs
            if HAS_FLAGS:
                pfl = tl.load(flags_ptr + prow, mask=m, other=0)
                prev = tl.where((pfl & 1) != 0, 1.0, 0.0).to(vt.dtype)
            else:
                pv = tl.load(mem_ptr + prow, mask=m, other=0.0)
                prev = tl.where((pv - v_th) > 0.0, 1.0, 0.0).to(vt.dtype)
            prev = tl.where(t == 0, s_init, prev)
            gv_next = (gv * beta) * (1.0 - prev)
        else:
            gv_next = gv * beta
    tl.store(gv_ptr + offs, gv_next, mask=m)


def _grid(M: int):
    return (triton.cdiv(M, BLOCK),)


def check_device(x: torch.Tensor) -> None:
    """BackendError unless ``x`` can run here: a CUDA tensor, or any tensor under the interpreter."""
    from neuro.errors import BackendError
    if x.device.type != "cuda" and not INTERPRETED:
        raise BackendError(f"impl='triton' needs a CUDA tensor; got one on {x.device}. Use impl='auto' (Numba "
                           "on CPU), or set TRITON_INTERPRET=1 before import to run Triton's interpreter on CPU.")


def lif_forward(x, beta, v_th, reset_zero: bool, refractory: int, v, s, r, spk, mem, flags) -> None:
    """Forward over ``x [T, M]`` (contiguous); state ``v, s, r [M]`` updated in place; writes spikes,
    membrane and (with a refractory period) the uint8 flags (bit 0 spike, bit 1 gate)."""
    T, M = x.shape
    _lif_fwd[_grid(M)](x, v, s, r, spk, mem, flags, M, T, float(beta), float(v_th), float(refractory),
                       RESET_ZERO=bool(reset_zero), REFRACTORY=refractory > 0, BLOCK=BLOCK)


def lif_backward(mem, flags, has_flags: bool, s_init, g_spk, g_mem, beta, v_th, reset_zero: bool, sg_kind: int,
                 c1, c2, g_x, g_v) -> None:
    """Reverse-time backward; ``g_spk``/``g_mem`` are ``None`` (absent), a [T, M] tensor, or an
    expanded scalar (every element equal: the gradient of a sum, read as one number)."""
    T, M = mem.shape
    modes, consts, ptrs = [], [], []
    for g in (g_spk, g_mem):
        if g is None:
            modes.append(0), consts.append(0.0), ptrs.append(mem)
        elif all(st == 0 for st in g.stride()):
            modes.append(2), consts.append(float(g.reshape(-1)[0])), ptrs.append(mem)
        else:
            modes.append(1), consts.append(0.0), ptrs.append(g.contiguous())
    _lif_bwd[_grid(M)](mem, flags, s_init.contiguous(), ptrs[0], ptrs[1], g_x, g_v, M, T, float(beta), float(v_th),
                       float(c1), float(c2), consts[0], consts[1], HAS_FLAGS=bool(has_flags), GS_MODE=modes[0],
                       GM_MODE=modes[1], RESET_ZERO=bool(reset_zero), SG=int(sg_kind), BLOCK=BLOCK)

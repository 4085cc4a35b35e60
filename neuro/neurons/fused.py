"""Fused multi-step LIF and ALIF: one ``torch.autograd.Function`` per neuron whose forward runs the
whole time loop at once and whose backward runs the reverse-time recurrence at once.

Two engines share the same saved tensors and the same gradient semantics as the unfused torch
reference (``neuro.neurons.lif`` / ``neuro.neurons.alif``: reset detached; ALIF's adaptation not):

- ``numba`` (CPU, float32/float64): ``kernels.lif`` / ``kernels.alif`` training kernels on zero-copy
  numpy views of the tensors, parallel over neurons, time inside.
- ``triton`` (CUDA, float32; LIF): ``kernels.lif_triton``, one Triton kernel for the forward and one
  for the backward, each walking all steps with the state in registers (the GPU counterpart of the
  Numba engine; tested on CPU under Triton's interpreter, ``TRITON_INTERPRET=1``).
- ``torch`` (any device; the CUDA path of ALIF, float64, or when Triton is missing): a loop of
  in-place tensor ops with no autograd graph per step, and a hand-written reverse-time loop in
  ``backward``.

Saved for backward (per step and neuron): the membrane (already an output, so no extra copy for LIF),
ALIF's ``v - theta`` instead, and, only with a refractory period, one uint8 of flags (bit 0 spike,
bit 1 input gate; without one the spikes are recomputed exactly from what is saved). Nothing else.

Which implementation ``lif_multistep``/``alif_multistep`` take is chosen by ``impl`` (argument) or the
environment variable ``NEURO_NEURON_IMPL`` (read per call):

=============  =================================================================================
``auto``       default: CPU float32/float64 -> ``numba``; CUDA float32 with Triton installed ->
               ``triton`` (ALIF: ``torch``); other devices/dtypes -> ``torch`` when a gradient is
               needed, the in-place reference loop otherwise; other CPU dtypes -> ``reference``
``reference``  the unfused torch autograd loop (per-step graph), for debugging
``numba``      the Numba Function (CPU tensors only)
``triton``     the Triton Function (CUDA float32 tensors; on CPU only under ``TRITON_INTERPRET=1``)
``torch``      the torch-loop Function (any device)
=============  =================================================================================
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from neuro.errors import BackendError, ConfigError

IMPLS = ("auto", "reference", "numba", "triton", "torch")
ENV_VAR = "NEURO_NEURON_IMPL"
_SG_KIND = {"fast_sigmoid": 0, "atan": 1, "straight_through": 2}
_NUMBA_DTYPES = (torch.float32, torch.float64)
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def empty_like(t: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor like ``t``. On CPU it is backed by a numpy array: numpy asks the kernel
    for transparent huge pages on large allocations (``madvise``), so the first touch of a fresh
    multi-100-MB output costs a fraction of torch's 4 KB page faults (the fused LIF over
    [100, 16, 65536] spent more time faulting in its outputs than computing them)."""
    if t.device.type != "cpu" or t.dtype not in _NUMPY_DTYPES:
        return torch.empty_like(t, memory_format=torch.contiguous_format)
    return torch.from_numpy(np.empty(tuple(t.shape), dtype=_NUMPY_DTYPES[t.dtype]))


def resolve_impl(impl: str | None, x: torch.Tensor) -> str:
    """The concrete implementation (``reference``/``numba``/``torch``) for input ``x``.

    ``impl=None`` reads ``NEURO_NEURON_IMPL`` (default ``auto``)."""
    name = impl if impl is not None else os.environ.get(ENV_VAR, "auto")
    if name not in IMPLS:
        src = "impl" if impl is not None else ENV_VAR
        raise ConfigError(f"{src}={name!r} is not supported; allowed: {', '.join(IMPLS)}. "
                          f"Unset {ENV_VAR} or pick one of those.")
    if name == "auto":
        if x.device.type == "cpu":
            return "numba" if x.dtype in _NUMBA_DTYPES else "reference"
        return "triton" if x.device.type == "cuda" and x.dtype == torch.float32 and triton_available() else "torch"
    if name == "numba" and (x.device.type != "cpu" or x.dtype not in _NUMBA_DTYPES):
        raise BackendError(f"impl='numba' needs a CPU float32/float64 tensor; got {x.dtype} on {x.device}. "
                           "Use impl='torch' or 'auto'.")
    if name == "triton":
        if not triton_available():
            raise BackendError("impl='triton' needs the triton package (pip install triton; CUDA builds of torch "
                               "ship it). Use impl='auto' or 'torch'.")
        if x.dtype != torch.float32:
            raise BackendError(f"impl='triton' runs float32 only; got {x.dtype}. Use impl='torch' or 'auto'.")
        from kernels.lif_triton import check_device
        check_device(x)
    return name


def triton_available() -> bool:
    """Whether ``import triton`` works (cached after the first call)."""
    global _TRITON
    if _TRITON is None:
        try:
            import triton  # noqa: F401
            _TRITON = True
        except ImportError:
            _TRITON = False
    return _TRITON


_TRITON: bool | None = None


def _scalars(x: torch.Tensor, p) -> dict:
    """The kernels' typed scalars: every float in x's dtype so float32 arithmetic is never promoted."""
    f = np.float32 if x.dtype == torch.float32 else np.float64
    slope = float(p.slope)
    c1, c2 = {"fast_sigmoid": (slope, 0.0), "atan": (slope / 2.0, math.pi / 2.0 * slope),
              "straight_through": (0.0, 0.0)}[p.surrogate]
    d = dict(one=f(1.0), zero=f(0.0), beta=f(p.beta), v_th=f(p.v_th), c1=f(c1), c2=f(c2),
             sg_kind=_SG_KIND[p.surrogate], reset_zero=p.reset == "zero", refractory=int(p.refractory_steps))
    if hasattr(p, "adapt"):
        d.update(rho=f(p.rho), adapt=f(p.adapt))
    return d


def _flat(t: torch.Tensor, M: int) -> torch.Tensor:
    """A contiguous detached ``[M]`` copy (the kernels update state in place)."""
    return t.detach().reshape(M).clone(memory_format=torch.contiguous_format)


def _grad_array(g, dtype) -> tuple[np.ndarray, int]:
    """An incoming gradient for the kernels: ``(array, mode)`` with mode 0 = absent (a 1x1 dummy),
    2 = one value broadcast to every element (``g`` is an expanded scalar, e.g. the gradient of
    ``.sum()``: passed as 1x1, no [T, M] copy), 1 = a contiguous [T, M] numpy view."""
    if g is None:
        return np.zeros((1, 1), dtype=np.float32 if dtype == torch.float32 else np.float64), 0
    if all(st == 0 for st in g.stride()):
        return g.reshape(-1)[:1].reshape(1, 1).contiguous().numpy(), 2
    return g.contiguous().numpy(), 1


def _grad_arrays(g_spk, g_mem, dtype):
    """``(spike grad array, membrane grad array, spike mode, membrane mode)`` (see ``_grad_array``)."""
    (a, ma), (b, mb) = _grad_array(g_spk, dtype), _grad_array(g_mem, dtype)
    return a, b, ma, mb


def _flags(T: int, M: int, p, engine: str, device) -> torch.Tensor:
    """uint8 flags [T, M] (bit 0 spike, bit 1 gate); the Numba engine needs them only with a
    refractory period (else a 1x1 placeholder: spikes are recomputed from the saved membrane)."""
    full = engine not in ("numba", "triton") or p.refractory_steps > 0
    return torch.empty((T, M) if full else (1, 1), dtype=torch.uint8, device=device)


def _surrogate(u: torch.Tensor, p) -> torch.Tensor:
    from neuro.rules.surrogate import surrogate_grad
    return surrogate_grad(u, p.surrogate, p.slope)


# -- LIF --------------------------------------------------------------------------------------------

class LIFFused(torch.autograd.Function):
    """``(x [T, M], v0, s0, r0 [M], p, engine) -> (spikes, membrane [T, M], r_final [M])``."""

    @staticmethod
    def forward(ctx, x, v0, s0, r0, p, engine):
        T, M = x.shape
        v, s, r = _flat(v0, M), _flat(s0, M), _flat(r0, M)
        xd = x.detach().contiguous()
        spk, mem = empty_like(xd), empty_like(xd)
        flags = _flags(T, M, p, engine, x.device)
        if engine == "numba":
            from kernels.lif import lif_train_forward_kernel
            k = _scalars(x, p)
            lif_train_forward_kernel(xd.numpy(), k["beta"], k["v_th"], k["one"], k["zero"], k["reset_zero"],
                                     k["refractory"], v.numpy(), s.numpy(), r.numpy(), spk.numpy(), mem.numpy(),
                                     flags.numpy())
        elif engine == "triton":
            from kernels.lif_triton import lif_forward
            lif_forward(xd, p.beta, p.v_th, p.reset == "zero", int(p.refractory_steps), v, s, r, spk, mem, flags)
        else:
            _lif_torch_forward(xd, p, v, s, r, spk, mem, flags)
        ctx.save_for_backward(mem, flags, s0.detach().reshape(M))
        ctx.p, ctx.engine, ctx.state_shape = p, engine, v0.shape
        ctx.mark_non_differentiable(r)
        ctx.set_materialize_grads(False)
        return spk, mem, r.reshape(v0.shape)

    @staticmethod
    def backward(ctx, g_spk, g_mem, _g_r):
        mem, flags, s_init = ctx.saved_tensors
        p = ctx.p
        T, M = mem.shape
        g_x = empty_like(mem)
        g_v = torch.zeros(M, dtype=mem.dtype, device=mem.device)
        if g_spk is None and g_mem is None:
            return None, None, None, None, None, None
        if ctx.engine == "numba":
            from kernels.lif import lif_backward_kernel
            k = _scalars(mem, p)
            gs, gm, has_s, has_m = _grad_arrays(g_spk, g_mem, mem.dtype)
            lif_backward_kernel(mem.numpy(), flags.numpy(), p.refractory_steps > 0, s_init.contiguous().numpy(), gs, gm, has_s, has_m,
                                k["beta"], k["v_th"], k["one"], k["zero"], k["reset_zero"], k["sg_kind"],
                                k["c1"], k["c2"], g_x.numpy(), g_v.numpy())
        elif ctx.engine == "triton":
            from kernels.lif_triton import lif_backward
            k = _scalars(mem, p)
            lif_backward(mem, flags, p.refractory_steps > 0, s_init, g_spk, g_mem, p.beta, p.v_th, p.reset == "zero",
                         k["sg_kind"], k["c1"], k["c2"], g_x, g_v)
        else:
            _lif_torch_backward(mem, flags, s_init, g_spk, g_mem, p, g_x, g_v)
        return (g_x if ctx.needs_input_grad[0] else None,
                g_v.reshape(ctx.state_shape) if ctx.needs_input_grad[1] else None, None, None, None, None)


def _gate_and_spike(flags_t: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return (flags_t & 2).to(dtype) / 2, (flags_t & 1).to(dtype)


def _gate_spikes(st: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
    """Block ``st`` (in place) where ``gate`` is 0; the step's flags: bit 0 spike, bit 1 input gate open."""
    if gate is None:
        return st.to(torch.uint8) | 2
    st.mul_(gate)
    return st.to(torch.uint8) | ((gate > 0).to(torch.uint8) << 1)


@torch.no_grad()
def _lif_torch_forward(x, p, v, s, r, spk, mem, flags):
    """The in-place torch loop (same float order as ``neuro.neurons.lif``), writing flags."""
    beta = torch.tensor(p.beta, dtype=x.dtype, device=x.device)
    v_th = torch.tensor(p.v_th, dtype=x.dtype, device=x.device)
    refractory = float(p.refractory_steps)
    for t in range(x.shape[0]):
        xt, vt, st = x[t], mem[t], spk[t]
        gate = None
        if refractory > 0:
            r.copy_(torch.where(s > 0, torch.full_like(r, refractory), (r - 1).clamp_min(0)))
            gate = (r == 0).to(x.dtype)
            xt = xt * gate
        if p.reset == "subtract":
            torch.mul(beta, v, out=vt)
            vt.add_(xt).sub_(s * v_th)
        else:
            torch.mul(1 - s, v, out=vt)
            vt.mul_(beta).add_(xt)
        torch.gt(vt, v_th, out=st)
        flags[t] = _gate_spikes(st, gate)
        v.copy_(vt)
        s.copy_(st)


@torch.no_grad()
def _lif_torch_backward(mem, flags, s_init, g_spk, g_mem, p, g_x, g_v):
    dtype = mem.dtype
    for t in range(mem.shape[0] - 1, -1, -1):
        gate, _ = _gate_and_spike(flags[t], dtype)
        gu = (g_spk[t] * gate) * _surrogate(mem[t] - p.v_th, p) if g_spk is not None else torch.zeros_like(g_v)
        gv = gu + g_v
        if g_mem is not None:
            gv = gv + g_mem[t]
        g_x[t] = gv * gate
        if p.reset == "zero":
            prev = _gate_and_spike(flags[t - 1], dtype)[1] if t > 0 else s_init.to(dtype)
            g_v.copy_((gv * p.beta) * (1 - prev))
        else:
            g_v.copy_(gv * p.beta)


def lif_fused(x: torch.Tensor, p, state, engine: str):
    """LIF over ``x [T, B, N...]`` through ``LIFFused``; returns ``(spikes, membrane, LIFState)``."""
    from neuro.neurons.lif import LIFState
    T, inner = x.shape[0], x.shape[1:]
    M = math.prod(inner)
    spk, mem, r = LIFFused.apply(x.reshape(T, M), state.v, state.s, state.r, p, engine)
    spk, mem = spk.reshape(x.shape), mem.reshape(x.shape)
    return spk, mem, LIFState(mem[-1], spk[-1], r.reshape(inner))


# -- ALIF -------------------------------------------------------------------------------------------

class ALIFFused(torch.autograd.Function):
    """``(x [T, M], v0, s0, r0, a0 [M], p, engine) -> (spikes, membrane [T, M], r_final, a_final [M])``."""

    @staticmethod
    def forward(ctx, x, v0, s0, r0, a0, p, engine):
        T, M = x.shape
        v, s, r, a = _flat(v0, M), _flat(s0, M), _flat(r0, M), _flat(a0, M)
        xd = x.detach().contiguous()
        spk, mem, u = empty_like(xd), empty_like(xd), empty_like(xd)
        flags = _flags(T, M, p, engine, x.device)
        if engine == "numba":
            from kernels.alif import alif_train_forward_kernel
            k = _scalars(x, p)
            alif_train_forward_kernel(xd.numpy(), k["beta"], k["rho"], k["v_th"], k["adapt"], k["one"], k["zero"],
                                      k["reset_zero"], k["refractory"], v.numpy(), s.numpy(), r.numpy(), a.numpy(),
                                      spk.numpy(), mem.numpy(), u.numpy(), flags.numpy())
        else:
            _alif_torch_forward(xd, p, v, s, r, a, spk, mem, u, flags)
        ctx.save_for_backward(u, flags, s0.detach().reshape(M))
        ctx.p, ctx.engine, ctx.state_shape = p, engine, v0.shape
        ctx.mark_non_differentiable(r)
        ctx.set_materialize_grads(False)
        return spk, mem, r.reshape(v0.shape), a.reshape(v0.shape)

    @staticmethod
    def backward(ctx, g_spk, g_mem, _g_r, g_afinal):
        u, flags, s_init = ctx.saved_tensors
        p = ctx.p
        T, M = u.shape
        if g_spk is None and g_mem is None and g_afinal is None:
            return (None,) * 7
        g_x = empty_like(u)
        g_v = torch.zeros(M, dtype=u.dtype, device=u.device)
        g_s = torch.zeros(M, dtype=u.dtype, device=u.device)
        g_a = (g_afinal.detach().reshape(M).clone(memory_format=torch.contiguous_format) if g_afinal is not None
               else torch.zeros(M, dtype=u.dtype, device=u.device))
        if ctx.engine == "numba":
            from kernels.alif import alif_backward_kernel
            k = _scalars(u, p)
            gs, gm, has_s, has_m = _grad_arrays(g_spk, g_mem, u.dtype)
            alif_backward_kernel(u.numpy(), flags.numpy(), p.refractory_steps > 0, s_init.contiguous().numpy(), gs, gm, has_s, has_m,
                                 k["beta"], k["rho"], k["adapt"], k["one"], k["zero"], k["reset_zero"],
                                 k["sg_kind"], k["c1"], k["c2"], g_x.numpy(), g_v.numpy(), g_a.numpy(),
                                 g_s.numpy())
        else:
            _alif_torch_backward(u, flags, s_init, g_spk, g_mem, p, g_x, g_v, g_a, g_s)
        need, shape = ctx.needs_input_grad, ctx.state_shape
        return (g_x if need[0] else None, g_v.reshape(shape) if need[1] else None,
                g_s.reshape(shape) if need[2] else None, None, g_a.reshape(shape) if need[4] else None, None, None)


@torch.no_grad()
def _alif_torch_forward(x, p, v, s, r, a, spk, mem, u, flags):
    c = [torch.tensor(q, dtype=x.dtype, device=x.device) for q in (p.beta, p.rho, p.v_th, p.adapt)]
    beta, rho, v_th, adapt = c
    refractory = float(p.refractory_steps)
    for t in range(x.shape[0]):
        xt, vt, st = x[t], mem[t], spk[t]
        gate = None
        if refractory > 0:
            r.copy_(torch.where(s > 0, torch.full_like(r, refractory), (r - 1).clamp_min(0)))
            gate = (r == 0).to(x.dtype)
            xt = xt * gate
        if p.reset == "subtract":
            vt.copy_(beta * v + xt - s * (v_th + adapt * a))
        else:
            vt.copy_(beta * ((1 - s) * v) + xt)
        a.copy_(rho * a + s)
        torch.sub(vt, v_th + adapt * a, out=u[t])
        torch.gt(u[t], 0, out=st)
        flags[t] = _gate_spikes(st, gate)
        v.copy_(vt)
        s.copy_(st)


@torch.no_grad()
def _alif_torch_backward(u, flags, s_init, g_spk, g_mem, p, g_x, g_v, g_a, g_s):
    dtype = u.dtype
    for t in range(u.shape[0] - 1, -1, -1):
        gate, _ = _gate_and_spike(flags[t], dtype)
        gs = g_s if g_spk is None else g_spk[t] + g_s
        gu = (gs * gate) * _surrogate(u[t], p)
        gv = gu + g_v
        if g_mem is not None:
            gv = gv + g_mem[t]
        ga = g_a - p.adapt * gu
        g_x[t] = gv * gate
        if p.reset == "zero":
            prev = _gate_and_spike(flags[t - 1], dtype)[1] if t > 0 else s_init.to(dtype)
            g_v.copy_((gv * p.beta) * (1 - prev))
        else:
            g_v.copy_(gv * p.beta)
        g_a.copy_(p.rho * ga)
        g_s.copy_(ga)


def alif_fused(x: torch.Tensor, p, state, engine: str):
    """ALIF over ``x [T, B, N...]`` through ``ALIFFused``; returns ``(spikes, membrane, ALIFState)``."""
    from neuro.neurons.alif import ALIFState
    T, inner = x.shape[0], x.shape[1:]
    M = math.prod(inner)
    spk, mem, r, a = ALIFFused.apply(x.reshape(T, M), state.v, state.s, state.r, state.a, p, engine)
    spk, mem = spk.reshape(x.shape), mem.reshape(x.shape)
    return spk, mem, ALIFState(mem[-1], spk[-1], r.reshape(inner), a.reshape(inner))

"""Leaky integrate-and-fire neuron: the spec (Params, State, step) and its torch implementation.

Discrete-time dynamics per step ``t`` (all arithmetic in the input's float dtype)::

    reset_t  = s_{t-1}                                   (the previous step's spike; detached)
    r_t      = R if reset_t else max(r_{t-1} - 1, 0)     (refractory counter, R = refractory_steps)
    a_t      = 1 if r_t == 0 else 0                      (input gate: blocked while refractory)
    subtract: v_t = beta * v_{t-1} + a_t * x_t - reset_t * v_th
    zero:     v_t = beta * ((1 - reset_t) * v_{t-1}) + a_t * x_t
    s_t      = H(v_t - v_th) * a_t                       (surrogate gradient in backward)

With ``refractory_steps = 0`` this is exactly ``snntorch.Leaky(beta, threshold, reset_mechanism)``
with its default ``reset_delay=True`` (tested against snnTorch). The Numba kernel in
``kernels/lif.py`` implements the same equations with the same float32 operation order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import torch

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.rules.surrogate import DEFAULT_SLOPE, SurrogateName, check_surrogate, spike

ResetMode = Literal["subtract", "zero"]
RESET_MODES: tuple[str, ...] = get_args(ResetMode)


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a LIF population (dimensionless, per time step).

    beta: membrane decay per step in [0, 1] (``exp(-dt/tau_mem)``).
    v_th: firing threshold, > 0.
    reset: ``"subtract"`` (v -= v_th after a spike) or ``"zero"`` (v := 0).
    refractory_steps: steps after a spike during which input is ignored and no spike fires, >= 0.
    surrogate, surrogate_slope: pseudo-derivative used by the torch backward pass.
    """

    beta: float = 0.9
    v_th: float = 1.0
    reset: ResetMode = "subtract"
    refractory_steps: int = 0
    surrogate: SurrogateName = "fast_sigmoid"
    surrogate_slope: float | None = None

    def __post_init__(self) -> None:
        check_number("LIFParams.beta", self.beta, lo=0.0, hi=1.0)
        check_number("LIFParams.v_th", self.v_th, lo=0.0, lo_open=True)
        if self.reset not in RESET_MODES:
            raise ConfigError(
                f"LIFParams.reset={self.reset!r} is not supported; allowed: {', '.join(RESET_MODES)}."
            )
        check_number("LIFParams.refractory_steps", self.refractory_steps, lo=0, integer=True)
        check_surrogate(self.surrogate, self.slope)

    @property
    def slope(self) -> float:
        """The surrogate slope in force (the surrogate's default when unset)."""
        return DEFAULT_SLOPE.get(self.surrogate, 1.0) if self.surrogate_slope is None else self.surrogate_slope

    @classmethod
    def from_tau(cls, tau_mem_ms: float, dt_ms: float = 1.0, **kw) -> "LIFParams":
        """Build from a membrane time constant: ``beta = exp(-dt_ms / tau_mem_ms)``."""
        import math

        check_number("tau_mem_ms", tau_mem_ms, lo=0.0, lo_open=True)
        check_number("dt_ms", dt_ms, lo=0.0, lo_open=True)
        return cls(beta=math.exp(-dt_ms / tau_mem_ms), **kw)


class LIFState(NamedTuple):
    """State of a LIF population; every field has the population's shape ``[B, N...]``.

    v: membrane potential. s: last step's spikes (0/1). r: refractory steps left (same dtype as v).
    """

    v: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor


def initial_state(like: torch.Tensor) -> LIFState:
    """All-zero state shaped like one time step of input ``like`` ``[B, N...]``."""
    z = torch.zeros_like(like)
    return LIFState(z, z.clone(), z.clone())


def step(x: torch.Tensor, state: LIFState, p: LIFParams) -> tuple[torch.Tensor, LIFState]:
    """One time step. ``x``: input current ``[B, N...]``. Returns ``(spikes, new_state)``."""
    return _step(x, state, p, *_constants(p, x))


def _constants(p: LIFParams, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """beta and v_th as 0-d tensors of x's dtype and device (float32 arithmetic, as the kernel)."""
    return (torch.tensor(p.beta, dtype=x.dtype, device=x.device),
            torch.tensor(p.v_th, dtype=x.dtype, device=x.device))


def _step(x: torch.Tensor, state: LIFState, p: LIFParams, beta: torch.Tensor, v_th: torch.Tensor
          ) -> tuple[torch.Tensor, LIFState]:
    reset = state.s.detach()
    if p.refractory_steps > 0:
        r = torch.where(reset > 0, torch.full_like(state.r, float(p.refractory_steps)), (state.r - 1).clamp_min(0))
        gate = (r == 0).to(x.dtype)
        x = x * gate
    else:
        r, gate = state.r, None
    if p.reset == "subtract":
        v = beta * state.v + x - reset * v_th
    else:
        v = beta * ((1 - reset) * state.v) + x
    s = spike(v - v_th, p.surrogate, p.slope)
    if gate is not None:
        s = s * gate
    return s, LIFState(v, s, r)


def scan(step_fn, x: torch.Tensor, state):
    """Apply ``step_fn(x_t, state) -> (spikes, state)`` over the time axis of ``x``; returns the
    stacked spikes, the stacked ``state.v`` and the final state (the autograd path of every neuron)."""
    spikes, mems = [], []
    for t in range(x.shape[0]):
        s, state = step_fn(x[t], state)
        spikes.append(s)
        mems.append(state.v)
    return torch.stack(spikes), torch.stack(mems), state


def lif_multistep(x: torch.Tensor, p: LIFParams, state: LIFState | None = None, impl: str | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Run ``T`` steps. ``x``: currents ``[T, B, N...]`` (float). Returns spikes ``[T, ...]``,
    membrane ``[T, ...]`` (after the update, before the next step's reset) and the final state.
    Differentiable with respect to ``x`` and ``state.v`` (BPTT).

    ``impl`` (default: env ``NEURO_NEURON_IMPL``, else ``auto``) picks the implementation: ``auto``
    runs the fused Numba kernels on CPU (``neuro.neurons.fused``: one kernel forward, one backward)
    and the fused torch loop on other devices; ``reference`` is the per-step torch autograd loop
    below. Every implementation gives the same spikes and membrane bit for bit in float32."""
    check_array("x (input currents)", x, ndim=tuple(range(2, 8)))
    if state is None:
        state = initial_state(x[0])
    from neuro.neurons import fused
    engine = fused.resolve_impl(impl, x)
    grad = torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in state))
    if engine == "numba" and not grad and x.dtype == torch.float32:
        return _multistep_numba_inference(x, p, state)
    if engine != "reference" and grad:
        return fused.lif_fused(x, p, state, engine)
    if engine in ("numba", "triton") and not grad:
        with torch.no_grad():
            return fused.lif_fused(x, p, state, engine)
    beta, v_th = _constants(p, x)
    if torch.is_grad_enabled():
        return scan(lambda xt, st: _step(xt, st, p, beta, v_th), x, state)
    return _multistep_inference(x, p, state, beta, v_th)


def _multistep_numba_inference(x: torch.Tensor, p: LIFParams, state: LIFState
                               ) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """Forward only through the Numba kernel on zero-copy views (float32, CPU): the training forward
    of ``kernels.lif``, serial for small arrays."""
    from kernels.lif import lif_train_forward_kernel
    from neuro.neurons.fused import empty_like

    T, inner = x.shape[0], x.shape[1:]
    xd = x.detach().contiguous().reshape(T, -1)
    M = xd.shape[1]
    v, s, r = (t.detach().reshape(M).clone(memory_format=torch.contiguous_format) for t in state)
    spk, mem = empty_like(xd), empty_like(xd)
    flags = np.empty((T, M) if p.refractory_steps > 0 else (1, 1), np.uint8)
    one, zero = np.float32(1.0), np.float32(0.0)
    lif_train_forward_kernel(xd.numpy(), np.float32(p.beta), np.float32(p.v_th), one, zero, p.reset == "zero",
                             int(p.refractory_steps), v.numpy(), s.numpy(), r.numpy(), spk.numpy(), mem.numpy(),
                             flags)
    return spk.reshape(x.shape), mem.reshape(x.shape), LIFState(v.reshape(inner), s.reshape(inner), r.reshape(inner))


@torch.no_grad()
def _multistep_inference(x: torch.Tensor, p: LIFParams, state: LIFState, beta: torch.Tensor,
                         v_th: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """The same equations as ``_step`` with in-place ops writing straight into the outputs
    (no autograd, no per-step temporaries for v and s). Same float32 operation order."""
    spikes, mems = torch.empty_like(x), torch.empty_like(x)
    v, s, r = state
    refractory = float(p.refractory_steps)
    for t in range(x.shape[0]):
        vt, st, xt = mems[t], spikes[t], x[t]
        gate = None
        if refractory > 0:
            r = torch.where(s > 0, torch.full_like(r, refractory), (r - 1).clamp_min(0))
            gate = (r == 0).to(x.dtype)
            xt = xt * gate
        if p.reset == "subtract":
            torch.mul(beta, v, out=vt)
            vt.add_(xt).sub_(s * v_th)
        else:
            torch.mul(1 - s, v, out=vt)
            vt.mul_(beta).add_(xt)  # beta * ((1 - s) * v) + x: multiplication is commutative
        torch.gt(vt, v_th, out=st)  # v - v_th > 0  <=>  v > v_th for finite IEEE floats
        if gate is not None:
            st.mul_(gate)
        v, s = vt, st
    return spikes, mems, LIFState(v.clone(), s.clone(), r)


class LIF(torch.nn.Module):
    """A LIF population as a module: ``forward(x[T, B, N...]) -> (spikes, membrane)``.

    Holds no hidden state between calls (state is explicit), so it is safe under DDP.
    """

    def __init__(self, params: LIFParams | None = None) -> None:
        super().__init__()
        self.params = params or LIFParams()

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s, v, _ = lif_multistep(x, self.params, state)
        return s, v

    def extra_repr(self) -> str:
        return repr(self.params)

"""Adaptive-threshold LIF neuron (ALIF): the spec (Params, State, step) and its torch implementation.

The LIF neuron of ``neuro.neurons.lif`` with a spike-triggered threshold that decays back to its
baseline, as the adaptive neurons of the LSNN (Bellec et al. 2018, "Long short-term memory and
learning-to-learn in networks of spiking neurons"; discrete-time form of Bellec et al. 2020,
e-prop). Discrete-time dynamics per step ``t`` (all arithmetic in the input's float dtype)::

    reset_t  = s_{t-1}                                   (the previous step's spike; detached)
    r_t      = R if reset_t else max(r_{t-1} - 1, 0)     (refractory counter, R = refractory_steps)
    g_t      = 1 if r_t == 0 else 0                      (input gate: blocked while refractory)
    theta'   = v_th + adapt * a_{t-1}                    (the threshold in force at step t-1)
    subtract: v_t = beta * v_{t-1} + g_t * x_t - reset_t * theta'
    zero:     v_t = beta * ((1 - reset_t) * v_{t-1}) + g_t * x_t
    a_t      = rho * a_{t-1} + s_{t-1}                   (adaptation variable, a_{-1} = 0)
    theta_t  = v_th + adapt * a_t                        (adaptive threshold)
    s_t      = H(v_t - theta_t) * g_t                    (surrogate gradient on v_t - theta_t)

``rho = exp(-dt / tau_adapt)`` is the adaptation decay and ``adapt`` (``beta`` in Bellec's notation,
``beta_a`` here to keep ``beta`` for the membrane) the threshold increment per unit of ``a``: every
spike raises the threshold by ``adapt`` from the next step on, and that increment then decays by
``rho`` per step. Reset by subtraction removes the threshold that the spike crossed (``theta'`` is
recomputed from the state's ``a``, so the state stays ``(v, s, r, a)``), which keeps
``v - theta`` continuous across a spike exactly as LIF's subtractive reset does.

With ``adapt = 0`` every threshold is exactly ``v_th`` (``v_th + 0 * a`` rounds to ``v_th``) and the
updates are LIF's, operation for operation, so spikes and membrane are bit-identical to
``neuro.neurons.lif.lif_multistep`` (tested).

Gradients (BPTT): as in LIF the reset is detached: the whole term ``reset_t * theta'`` is treated as
a constant (both the triggering spike and the threshold it subtracts). The adaptation variable is
*not* detached: ``a_t`` is built from the spikes ``s_{t-1}`` with their surrogate gradients, so
the gradient reaches earlier steps through the threshold, as in the LSNN. The Numba kernel in
``kernels/alif.py`` implements the same equations with the same float32 operation order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.neurons.lif import RESET_MODES, ResetMode, scan
from neuro.rules.surrogate import DEFAULT_SLOPE, SurrogateName, check_surrogate, spike


@dataclass(frozen=True)
class ALIFParams:
    """Parameters of an ALIF population (dimensionless, per time step).

    beta: membrane decay per step in [0, 1] (``exp(-dt/tau_mem)``).
    rho: threshold-adaptation decay per step in [0, 1] (``exp(-dt/tau_adapt)``; 1 = no decay).
    v_th: baseline firing threshold, > 0.
    adapt: threshold increase per unit of the adaptation variable (LSNN's ``beta``), >= 0;
        0 gives the plain LIF neuron.
    reset: ``"subtract"`` (v -= the threshold the spike crossed) or ``"zero"`` (v := 0).
    refractory_steps: steps after a spike during which input is ignored and no spike fires, >= 0.
    surrogate, surrogate_slope: pseudo-derivative used by the torch backward pass.
    """

    beta: float = 0.9
    rho: float = 0.95
    v_th: float = 1.0
    adapt: float = 0.2
    reset: ResetMode = "subtract"
    refractory_steps: int = 0
    surrogate: SurrogateName = "fast_sigmoid"
    surrogate_slope: float | None = None

    def __post_init__(self) -> None:
        check_number("ALIFParams.beta", self.beta, lo=0.0, hi=1.0)
        check_number("ALIFParams.rho", self.rho, lo=0.0, hi=1.0)
        check_number("ALIFParams.v_th", self.v_th, lo=0.0, lo_open=True)
        check_number("ALIFParams.adapt", self.adapt, lo=0.0)
        if self.reset not in RESET_MODES:
            raise ConfigError(
                f"ALIFParams.reset={self.reset!r} is not supported; allowed: {', '.join(RESET_MODES)}."
            )
        check_number("ALIFParams.refractory_steps", self.refractory_steps, lo=0, integer=True)
        check_surrogate(self.surrogate, self.slope)

    @property
    def slope(self) -> float:
        """The surrogate slope in force (the surrogate's default when unset)."""
        return DEFAULT_SLOPE.get(self.surrogate, 1.0) if self.surrogate_slope is None else self.surrogate_slope

    @classmethod
    def from_tau(cls, tau_mem_ms: float, tau_adapt_ms: float, dt_ms: float = 1.0, **kw) -> "ALIFParams":
        """Build from time constants: ``beta = exp(-dt_ms/tau_mem_ms)``, ``rho = exp(-dt_ms/tau_adapt_ms)``."""
        check_number("tau_mem_ms", tau_mem_ms, lo=0.0, lo_open=True)
        check_number("tau_adapt_ms", tau_adapt_ms, lo=0.0, lo_open=True)
        check_number("dt_ms", dt_ms, lo=0.0, lo_open=True)
        return cls(beta=math.exp(-dt_ms / tau_mem_ms), rho=math.exp(-dt_ms / tau_adapt_ms), **kw)


class ALIFState(NamedTuple):
    """State of an ALIF population; every field has the population's shape ``[B, N...]``.

    v: membrane potential. s: last step's spikes (0/1). r: refractory steps left (same dtype as v).
    a: adaptation variable (the threshold is ``v_th + adapt * a``).
    """

    v: torch.Tensor
    s: torch.Tensor
    r: torch.Tensor
    a: torch.Tensor


def initial_state(like: torch.Tensor) -> ALIFState:
    """All-zero state shaped like one time step of input ``like`` ``[B, N...]``."""
    z = torch.zeros_like(like)
    return ALIFState(z, z.clone(), z.clone(), z.clone())


def step(x: torch.Tensor, state: ALIFState, p: ALIFParams) -> tuple[torch.Tensor, ALIFState]:
    """One time step. ``x``: input current ``[B, N...]``. Returns ``(spikes, new_state)``."""
    return _step(x, state, p, *_constants(p, x))


def threshold(state: ALIFState, p: ALIFParams) -> torch.Tensor:
    """The threshold in force for ``state`` (``v_th + adapt * a``, the kernel's float order)."""
    _, _, v_th, adapt = _constants(p, state.a)
    return v_th + adapt * state.a


def _constants(p: ALIFParams, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """beta, rho, v_th, adapt as 0-d tensors of x's dtype and device (float32 arithmetic, as the kernel)."""
    return tuple(torch.tensor(c, dtype=x.dtype, device=x.device) for c in (p.beta, p.rho, p.v_th, p.adapt))


def _step(x: torch.Tensor, state: ALIFState, p: ALIFParams, beta: torch.Tensor, rho: torch.Tensor,
          v_th: torch.Tensor, adapt: torch.Tensor) -> tuple[torch.Tensor, ALIFState]:
    reset = state.s.detach()
    if p.refractory_steps > 0:
        r = torch.where(reset > 0, torch.full_like(state.r, float(p.refractory_steps)), (state.r - 1).clamp_min(0))
        gate = (r == 0).to(x.dtype)
        x = x * gate
    else:
        r, gate = state.r, None
    if p.reset == "subtract":
        theta_prev = (v_th + adapt * state.a).detach()
        v = beta * state.v + x - reset * theta_prev
    else:
        v = beta * ((1 - reset) * state.v) + x
    a = rho * state.a + state.s  # not detached: the gradient flows through the threshold (LSNN)
    theta = v_th + adapt * a
    s = spike(v - theta, p.surrogate, p.slope)
    if gate is not None:
        s = s * gate
    return s, ALIFState(v, s, r, a)


def alif_multistep(x: torch.Tensor, p: ALIFParams, state: ALIFState | None = None, impl: str | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, ALIFState]:
    """Run ``T`` steps. ``x``: currents ``[T, B, N...]`` (float). Returns spikes ``[T, ...]``,
    membrane ``[T, ...]`` (after the update, before the next step's reset) and the final state.
    Differentiable with respect to ``x`` and the state's ``v``, ``s``, ``a`` (BPTT).

    ``impl`` (default: env ``NEURO_NEURON_IMPL``, else ``auto``) picks the implementation as for
    ``neuro.neurons.lif.lif_multistep``: fused Numba kernels on CPU, the fused torch loop elsewhere
    (``triton`` selects it too: there is no Triton ALIF kernel),
    ``reference`` = the per-step torch autograd loop below (same spikes and membrane bit for bit)."""
    check_array("x (input currents)", x, ndim=tuple(range(2, 8)))
    if state is None:
        state = initial_state(x[0])
    from neuro.neurons import fused
    engine = fused.resolve_impl(impl, x)
    if engine == "triton":  # no Triton ALIF kernel: the fused torch loop on the same device
        engine = "torch"
    if engine != "reference":
        grad = torch.is_grad_enabled() and (x.requires_grad or any(t.requires_grad for t in state))
        if grad or engine == "numba":
            with torch.set_grad_enabled(grad):
                return fused.alif_fused(x, p, state, engine)
    consts = _constants(p, x)
    return scan(lambda xt, st: _step(xt, st, p, *consts), x, state)


class ALIF(torch.nn.Module):
    """An ALIF population as a module: ``forward(x[T, B, N...]) -> (spikes, membrane)``.

    Holds no hidden state between calls (state is explicit), so it is safe under DDP.
    """

    def __init__(self, params: ALIFParams | None = None) -> None:
        super().__init__()
        self.params = params or ALIFParams()

    def forward(self, x: torch.Tensor, state: ALIFState | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        s, v, _ = alif_multistep(x, self.params, state)
        return s, v

    def extra_repr(self) -> str:
        return repr(self.params)

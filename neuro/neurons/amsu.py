"""AM-SU: astrocyte-modulated spiking unit, as a recurrent layer (spec, torch implementation, module).

After Shen, Zhao, Dong, Li, Li, Sun & Zeng, *Astrocyte-Enabled Advancements in Spiking Neural
Networks for Large Language Modeling* (arXiv 2312.07625): a spiking unit paired with a slow
astrocyte state that integrates the unit's own spikes and feeds back into the neuron. The paper's
equations could not be retrieved here (only its abstract and front matter were reachable), so the
formulation below is ours; it keeps what the abstract states (neuron-astrocyte interaction, a slow
astrocytic time scale, memory retention) on top of this package's LIF conventions
(``neuro.neurons.lif``: subtract/zero reset with the previous step's spike, detached reset,
Heaviside forward with a surrogate backward).

Per time step ``t``, for a population of ``N`` units with recurrent weights ``W`` ``[N, N]`` (post,
pre) and per-unit astrocyte gains ``g`` ``[N]`` (learnable in ``AMSULayer``)::

    r_t   = s_{t-1}                                        (previous spikes; detached as reset)
    I_t   = x_t + s_{t-1} @ W.T                            (x_t: feed-forward input current)
    c_t   = g * a_{t-1}            if feedback == "current"   else 0      (astrocytic current)
    th_t  = v_th + g * a_{t-1}     if feedback == "threshold" else v_th   (astrocytic threshold)
    subtract: v_t = beta * v_{t-1} + I_t + c_t - r_t * v_th
    zero:     v_t = beta * ((1 - r_t) * v_{t-1}) + I_t + c_t
    s_t   = H(v_t - th_t)                                   (surrogate gradient in backward)
    a_t   = alpha * a_{t-1} + (1 - alpha) * s_t,   alpha = exp(-1 / tau_astro)

``a`` is an exponential moving average of the unit's spike train (in [0, 1], time constant
``tau_astro`` steps, typically 10-100x the membrane's ``-1/ln(beta)``). With a positive gain the
astrocyte sustains the units that were active (a slow, unit-local memory trace); with a negative gain
(or ``feedback = "threshold"``, positive gain) it acts as slow adaptation. Gradients flow through
``s`` (surrogate), ``a`` and ``g``; the reset term is detached as in ``neuro.neurons.lif``. With
``g = 0`` the unit is exactly a recurrent LIF (the comparison baseline).

The Numba twin (``kernels/amsu.py``, forward only) implements the same equations; both are registered
as ``amsu`` in ``neuro.registry``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.rules.surrogate import DEFAULT_SLOPE, SurrogateName, check_surrogate, spike

ResetMode = Literal["subtract", "zero"]
Feedback = Literal["current", "threshold"]
RESET_MODES: tuple[str, ...] = get_args(ResetMode)
FEEDBACKS: tuple[str, ...] = get_args(Feedback)


@dataclass(frozen=True)
class AMSUParams:
    """Parameters of an AM-SU population (dimensionless, per time step).

    beta: membrane decay per step in [0, 1].
    v_th: firing threshold, > 0.
    reset: ``"subtract"`` (v -= v_th after a spike) or ``"zero"``.
    tau_astro: astrocyte time constant in steps, > 0 (``alpha = exp(-1 / tau_astro)``).
    astro_gain: the feedback gain used when no per-unit gain is given (and the initial value of
        ``AMSULayer``'s learnable gains); 0 turns the unit into a plain recurrent LIF.
    feedback: ``"current"`` (``g * a`` added to the membrane) or ``"threshold"`` (added to the threshold).
    surrogate, surrogate_slope: pseudo-derivative of the spike (``neuro.rules.surrogate``).
    """

    beta: float = 0.9
    v_th: float = 1.0
    reset: ResetMode = "subtract"
    tau_astro: float = 50.0
    astro_gain: float = 0.5
    feedback: Feedback = "current"
    surrogate: SurrogateName = "fast_sigmoid"
    surrogate_slope: float | None = None

    def __post_init__(self) -> None:
        check_number("AMSUParams.beta", self.beta, lo=0.0, hi=1.0)
        check_number("AMSUParams.v_th", self.v_th, lo=0.0, lo_open=True)
        if self.reset not in RESET_MODES:
            raise ConfigError(f"AMSUParams.reset={self.reset!r} is not supported; allowed: {', '.join(RESET_MODES)}.")
        check_number("AMSUParams.tau_astro", self.tau_astro, lo=0.0, lo_open=True, hi=1e9)
        check_number("AMSUParams.astro_gain", self.astro_gain, lo=-100.0, hi=100.0)
        if self.feedback not in FEEDBACKS:
            raise ConfigError(f"AMSUParams.feedback={self.feedback!r} is not supported; allowed: "
                              f"{', '.join(FEEDBACKS)}.")
        check_surrogate(self.surrogate, self.slope)

    @property
    def slope(self) -> float:
        """The surrogate slope in force (the surrogate's default when unset)."""
        return DEFAULT_SLOPE.get(self.surrogate, 1.0) if self.surrogate_slope is None else self.surrogate_slope

    @property
    def alpha(self) -> float:
        """Astrocyte decay per step, ``exp(-1 / tau_astro)``."""
        return math.exp(-1.0 / self.tau_astro)


class AMSUState(NamedTuple):
    """State of an AM-SU population, each ``[B, N]``: membrane ``v``, last spikes ``s``, astrocyte ``a``."""

    v: torch.Tensor
    s: torch.Tensor
    a: torch.Tensor


def initial_state(like: torch.Tensor) -> AMSUState:
    """All-zero state shaped like one time step ``[B, N]`` of ``like``."""
    z = torch.zeros_like(like)
    return AMSUState(z, z.clone(), z.clone())


def check_shapes(x, w_rec, gain) -> None:
    """x ``[T, B, N]``, w_rec ``[N, N]``, gain ``[N]`` (or None); ConfigError naming the mismatch."""
    check_array("x (input currents)", x, ndim=3)
    n = x.shape[2]
    check_array("w_rec (recurrent weights)", w_rec, ndim=2)
    if tuple(w_rec.shape) != (n, n):
        raise ConfigError(f"w_rec has shape {tuple(w_rec.shape)}; allowed: ({n}, {n}) for x of shape "
                          f"{tuple(x.shape)} ([T, B, N]; w_rec is [post, pre]).")
    if gain is not None:
        check_array("gain (astrocyte gains)", gain, ndim=1)
        if tuple(gain.shape) != (n,):
            raise ConfigError(f"gain has shape {tuple(gain.shape)}; allowed: ({n},), one gain per unit.")


def step(x: torch.Tensor, w_rec: torch.Tensor, gain: torch.Tensor, state: AMSUState, p: AMSUParams
         ) -> tuple[torch.Tensor, AMSUState]:
    """One time step. ``x``: input current ``[B, N]``; returns ``(spikes, new_state)``."""
    reset = state.s.detach()
    ga = gain * state.a
    i_t = x + state.s @ w_rec.t()
    if p.feedback == "current":
        i_t = i_t + ga
        theta = p.v_th
    else:
        theta = p.v_th + ga
    if p.reset == "subtract":
        v = p.beta * state.v + i_t - reset * p.v_th
    else:
        v = p.beta * ((1 - reset) * state.v) + i_t
    s = spike(v - theta, p.surrogate, p.slope)
    alpha = p.alpha
    a = alpha * state.a + (1.0 - alpha) * s
    return s, AMSUState(v, s, a)


def amsu_multistep(x: torch.Tensor, w_rec: torch.Tensor, p: AMSUParams, state: AMSUState | None = None,
                   gain: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, AMSUState]:
    """Run ``T`` steps of a recurrent AM-SU population (torch, any device, differentiable).

    x: input currents ``[T, B, N]``; w_rec: ``[N, N]`` (post, pre); gain: ``[N]`` (default: every unit
    ``p.astro_gain``); state: ``AMSUState`` (default zeros). Returns spikes, membrane and astrocyte
    state, each ``[T, B, N]``, and the final state."""
    check_shapes(x, w_rec, gain)
    if gain is None:
        gain = torch.full((x.shape[2],), float(p.astro_gain), dtype=x.dtype, device=x.device)
    if state is None:
        state = initial_state(x[0])
    spikes, mems, astro = [], [], []
    for t in range(x.shape[0]):
        s, state = step(x[t], w_rec, gain, state, p)
        spikes.append(s)
        mems.append(state.v)
        astro.append(state.a)
    return torch.stack(spikes), torch.stack(mems), torch.stack(astro), state


class AMSULayer(torch.nn.Module):
    """A recurrent AM-SU layer: ``Linear(n_in, n)`` input, recurrent weights ``[n, n]`` and per-unit
    astrocyte gains. ``astro=False`` fixes the gains at 0 (a buffer, not a parameter): a plain
    recurrent LIF layer of the same size. ``forward(u[T, B, n_in]) -> (spikes, membrane, astro)``."""

    def __init__(self, n_in: int, n: int, params: AMSUParams | None = None, *, astro: bool = True,
                 learn_gain: bool = True, rec_scale: float = 1.0) -> None:
        super().__init__()
        check_number("AMSULayer.n_in", n_in, lo=1, integer=True)
        check_number("AMSULayer.n", n, lo=1, integer=True)
        check_number("AMSULayer.rec_scale", rec_scale, lo=0.0, hi=100.0)
        self.params = params or AMSUParams()
        self.astro = astro
        self.fc = torch.nn.Linear(n_in, n)
        bound = rec_scale / math.sqrt(n)
        self.w_rec = torch.nn.Parameter(torch.empty(n, n).uniform_(-bound, bound))
        g0 = torch.full((n,), float(self.params.astro_gain) if astro else 0.0)
        if astro and learn_gain:
            self.gain = torch.nn.Parameter(g0)
        else:
            self.register_buffer("gain", g0)

    def forward(self, u: torch.Tensor, state: AMSUState | None = None):
        s, v, a, _ = amsu_multistep(self.fc(u), self.w_rec, self.params, state, self.gain)
        return s, v, a

    def extra_repr(self) -> str:
        return f"astro={self.astro}, {self.params!r}"

"""Trace-based pair STDP with sign masks, per-class clipping, rate decay and a third factor; and the
NALSM astrocyte that sets the depression rate from liquid minus input activity.

Weights ``w [B, n_post, n_pre]`` (one copy per independent sample, as the per-sample protocol of
NALSM needs) hold *magnitudes*; the sign of a synapse comes from its presynaptic class and is applied
by the network (``sign`` of :func:`signed`). Each step, with pre spikes ``s_i`` and post spikes ``s_j``
(0/1) and traces ``x`` (pre) and ``y`` (post)::

    x <- x * exp(-dt / tau_plus)      y <- y * exp(-dt / tau_minus)          (decay)
    w_ji <- clip(w_ji - m * a_minus * y_j * s_i)                            (pre spike: depression,
    x_i <- x_i + s_i   (all_to_all)  or  x_i <- 1 if s_i else x_i (nearest)  with the post trace before
    w_ji <- clip(w_ji + m * a_plus * s_j * x_i)                              this step's post spike)
    y_j <- y_j + s_j   (all_to_all)  or  y_j <- 1 if s_j else y_j (nearest)
    a_plus, a_minus *= decay

(clip to ``[w_min, w_max]`` per synapse; only existing synapses (``mask``) change)

so a pre spike ``d`` steps before a post spike changes ``w`` by ``+a_plus exp(-d dt / tau_plus)``
(``d = 0`` counts as pre-before-post) and a post spike ``d >= 1`` steps before a pre spike by
``-a_minus exp(-d dt / tau_minus)``. ``m`` is the third factor (a scalar or one value per sample and
post neuron, e.g. a reward or an astrocyte signal; 1 = plain STDP). ``a_minus`` may be given per
sample (``[B]``), which is how the astrocyte sets it.

``kernels/stdp.py`` is the Numba twin of :func:`stdp_run` (same signature on numpy arrays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch

from neuro.checks import check_number
from neuro.errors import ConfigError

PairingName = Literal["all_to_all", "nearest"]
PAIRINGS: tuple[str, ...] = get_args(PairingName)


def _check(name: str, v, lo: float, hi: float, open_lo: bool = False) -> None:
    check_number(f"stdp.{name}", v, lo=lo, hi=hi, lo_open=open_lo)


@dataclass(frozen=True)
class STDPParams:
    """a_plus, a_minus: potentiation / depression rates (>= 0). tau_plus, tau_minus: trace time
    constants (ms, > 0). dt: step (ms). pairing: ``"all_to_all"`` or ``"nearest"``. w_min, w_max:
    clipping bounds of the magnitudes (a per-class matrix may be passed to :func:`stdp_run` instead).
    decay: factor applied to both rates after every step (1 = constant rates)."""

    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    dt: float = 1.0
    pairing: PairingName = "all_to_all"
    w_min: float = 0.0
    w_max: float = 1.0
    decay: float = 1.0

    def __post_init__(self) -> None:
        _check("a_plus", self.a_plus, 0.0, 10.0)
        _check("a_minus", self.a_minus, 0.0, 10.0)
        _check("tau_plus", self.tau_plus, 0.0, 1e6, open_lo=True)
        _check("tau_minus", self.tau_minus, 0.0, 1e6, open_lo=True)
        _check("dt", self.dt, 0.0, 1e3, open_lo=True)
        _check("decay", self.decay, 0.0, 1.0, open_lo=True)
        _check("w_min", self.w_min, -1e9, 1e9)
        _check("w_max", self.w_max, self.w_min, 1e9)
        if self.pairing not in PAIRINGS:
            raise ConfigError(f"stdp.pairing={self.pairing!r} is not supported; allowed: {', '.join(PAIRINGS)}.")


class STDPState(NamedTuple):
    """Pre trace ``x [B, n_pre]``, post trace ``y [B, n_post]``, current rates ``a_plus``, ``a_minus`` ``[B]``."""

    x: torch.Tensor
    y: torch.Tensor
    a_plus: torch.Tensor
    a_minus: torch.Tensor


def initial_state(B: int, n_pre: int, n_post: int, p: STDPParams, a_minus=None, dtype=torch.float32,
                  device=None) -> STDPState:
    """Zero traces and the Params' rates (``a_minus``: optional per-sample depression rates ``[B]``)."""
    am = torch.full((B,), p.a_minus, dtype=dtype, device=device) if a_minus is None else \
        torch.as_tensor(a_minus, dtype=dtype, device=device).expand(B).clone()
    return STDPState(torch.zeros(B, n_pre, dtype=dtype, device=device), torch.zeros(B, n_post, dtype=dtype, device=device),
                     torch.full((B,), p.a_plus, dtype=dtype, device=device), am)


def check_shapes(w, pre, post) -> None:
    """ConfigError unless ``w [B, n_post, n_pre]``, ``pre [T, B, n_pre]``, ``post [T, B, n_post]`` fit
    (torch tensors or numpy arrays)."""
    if w.ndim != 3 or pre.ndim != 3 or post.ndim != 3:
        raise ConfigError(f"stdp_run needs w [B, n_post, n_pre], pre [T, B, n_pre], post [T, B, n_post]; got "
                          f"{tuple(w.shape)}, {tuple(pre.shape)}, {tuple(post.shape)}.")
    B, n_post, n_pre = w.shape
    if tuple(pre.shape[1:]) != (B, n_pre) or tuple(post.shape[1:]) != (B, n_post) or pre.shape[0] != post.shape[0]:
        raise ConfigError(f"stdp_run shapes do not match: w {tuple(w.shape)}, pre {tuple(pre.shape)}, post "
                          f"{tuple(post.shape)}; allowed: pre [T, {B}, {n_pre}] and post [T, {B}, {n_post}].")


@torch.no_grad()
def stdp_run(w: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, p: STDPParams, state: STDPState | None = None,
             mask: torch.Tensor | None = None, modulation: torch.Tensor | float = 1.0,
             w_min: torch.Tensor | None = None, w_max: torch.Tensor | None = None) -> tuple[torch.Tensor, STDPState]:
    """Apply STDP over ``T`` steps of given spikes; returns ``(w_new, state)`` (``w`` is not modified).

    mask: ``[n_post, n_pre]`` 0/1, the existing synapses (others stay 0). modulation: the third factor,
    a number or ``[B, n_post]``. w_min / w_max: optional ``[n_post, n_pre]`` bounds (per synapse class,
    e.g. built by :func:`class_bounds`), else the Params' scalars."""
    check_shapes(w, pre, post)
    T, B, n_pre = pre.shape
    n_post = post.shape[2]
    dtype, dev = w.dtype, w.device
    st = initial_state(B, n_pre, n_post, p, dtype=dtype, device=dev) if state is None else state
    x, y, ap, am = (t.clone() for t in st)
    w = w.clone()
    dp, dm = math.exp(-p.dt / p.tau_plus), math.exp(-p.dt / p.tau_minus)
    lo = torch.full((n_post, n_pre), p.w_min, dtype=dtype, device=dev) if w_min is None else w_min.to(dtype)
    hi = torch.full((n_post, n_pre), p.w_max, dtype=dtype, device=dev) if w_max is None else w_max.to(dtype)
    m = torch.as_tensor(modulation, dtype=dtype, device=dev)
    m = m.reshape(1, 1).expand(B, n_post) if m.ndim == 0 else m
    msk = None if mask is None else mask.to(dtype)
    for t in range(T):
        s_pre, s_post = pre[t].to(dtype), post[t].to(dtype)
        x.mul_(dp)
        y.mul_(dm)
        for dw, upd in (((-(am[:, None, None] * (m * y)[:, :, None])) * s_pre[:, None, :], "pre"), (None, "post")):
            if upd == "pre":  # depression with the post trace before this step's post spikes
                if p.pairing == "all_to_all":
                    x.add_(s_pre)
                else:
                    x.copy_(torch.where(s_pre > 0, torch.ones_like(x), x))
            else:  # potentiation with the pre trace including this step's pre spikes
                dw = (ap[:, None, None] * (m * s_post)[:, :, None]) * x[:, None, :]
                if p.pairing == "all_to_all":
                    y.add_(s_post)
                else:
                    y.copy_(torch.where(s_post > 0, torch.ones_like(y), y))
            if msk is not None:
                dw = dw * msk
            w.add_(dw)
            w.copy_(torch.minimum(torch.maximum(w, lo), hi))
            if msk is not None:
                w.mul_(msk)
        ap.mul_(p.decay)
        am.mul_(p.decay)
    return w, STDPState(x, y, ap, am)


def class_bounds(pre_class: torch.Tensor, post_class: torch.Tensor, bounds: dict[tuple[int, int], tuple[float, float]],
                 dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-synapse ``(w_min, w_max) [n_post, n_pre]`` from the classes of the pre and post neurons
    (e.g. 0 = input, 1 = excitatory, 2 = inhibitory) and ``{(pre_class, post_class): (lo, hi)}``.
    Every pair of classes that occurs must have bounds (ConfigError naming the missing pair)."""
    n_post, n_pre = len(post_class), len(pre_class)
    lo, hi = torch.zeros(n_post, n_pre, dtype=dtype), torch.zeros(n_post, n_pre, dtype=dtype)
    for a in torch.unique(pre_class).tolist():
        for b in torch.unique(post_class).tolist():
            if (a, b) not in bounds:
                raise ConfigError(f"class_bounds has no bounds for synapses from class {a} to class {b}; allowed: "
                                  f"give bounds[({a}, {b})] = (w_min, w_max).")
            sel = (post_class == b)[:, None] & (pre_class == a)[None, :]
            lo[sel], hi[sel] = bounds[a, b]
    return lo, hi


def signed(w: torch.Tensor, pre_sign: torch.Tensor) -> torch.Tensor:
    """Effective weights: the magnitudes times the sign of each presynaptic neuron (+1 / -1, ``[n_pre]``)."""
    return w * pre_sign.to(w.dtype)


# -- the NALSM astrocyte ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AstrocyteParams:
    """One astrocyte per liquid (Ivanov & Michmizos 2021): its state ``a`` integrates the liquid's
    spikes minus the input's, ``a <- a + dt / tau * (-a + w_liquid * n_liquid - w_input * n_input)``,
    and sets the STDP depression rate ``a_minus = a_minus0 + gain * max(a, 0)`` (clipped to
    ``a_minus_max``): more liquid than input activity depresses more, pulling the liquid back towards
    the edge of chaos. tau in ms; w_liquid / w_input weigh the two spike counts per step."""

    tau: float = 100.0
    w_liquid: float = 0.01
    w_input: float = 0.01
    a_minus0: float = 0.0
    gain: float = 0.01
    a_minus_max: float = 1.0
    dt: float = 1.0

    def __post_init__(self) -> None:
        for name in ("tau", "dt"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"astrocyte.{name}={v!r} is out of range; allowed: a number > 0.")
        for name in ("w_liquid", "w_input", "a_minus0", "gain", "a_minus_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"astrocyte.{name}={v!r} is out of range; allowed: a number >= 0.")


def astrocyte_step(a: torch.Tensor, n_liquid: torch.Tensor, n_input: torch.Tensor, p: AstrocyteParams
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step for ``B`` independent liquids: ``a [B]`` and this step's spike counts ``[B]``.
    Returns ``(a_new, a_minus [B])``."""
    a = a + (p.dt / p.tau) * (-a + p.w_liquid * n_liquid - p.w_input * n_input)
    return a, torch.clamp(p.a_minus0 + p.gain * torch.clamp(a, min=0.0), max=p.a_minus_max)

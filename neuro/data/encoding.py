"""Spike encoders: intensities or signals in, spike trains out, time first ``[T, B, ...]``.

Every encoder takes a numpy array (and returns numpy) or a torch tensor (and returns a torch
tensor on the same device). Spikes are float32 0/1 and carry no gradient (the output is computed
from a detached input). Bad input raises :class:`~neuro.errors.ConfigError` naming the parameter,
its value and the allowed range.

- :func:`rate`: Bernoulli rate code, ``P(spike at t) = clip(gain * x, 0, 1)`` for every step.
- :func:`latency`: time-to-first-spike code, at most one spike per input, stronger fires earlier.
- :func:`delta`: send-on-delta code of a time series, ON (and optionally OFF) events.

Randomness (``rate``) comes only from the ``seed`` argument, never from module state: the same
seed and input give the same spikes on the same backend and device. The numpy and torch streams
differ (and torch's CPU and CUDA streams differ), so across backends only the statistics agree.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Union

import numpy as np

from neuro.checks import check_number, is_torch
from neuro.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    Array = Union[np.ndarray, torch.Tensor]
    Seed = Union[None, int, np.random.Generator, torch.Generator]
else:
    Array = Any
    Seed = Any

DeltaReference = Literal["spike", "sample"]


# --------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------


def rate(x: Array, num_steps: int, *, gain: float = 1.0, seed: Seed = None) -> Array:
    """Rate code: each step, each input fires independently with ``p = clip(gain * x, 0, 1)``.

    x: intensities in [0, 1], float, shape ``[B, ...]`` (at least 1 dim).
    num_steps: T, an integer >= 1.
    gain: scale >= 0 applied before clipping (``gain > 1`` saturates bright inputs at p = 1).
    seed: ``None`` (fresh randomness; for torch the global torch generator), an int >= 0, a
        ``numpy.random.Generator`` (advanced in place), or a ``torch.Generator`` on x's device
        (torch input only).

    Returns float32 ``[T, B, ...]``; the spike count of an input over T steps is Binomial(T, p).
    """
    fn = "rate"
    torch_in = _check_input(fn, x, unit_interval=True)
    _check_steps(fn, num_steps)
    check_number(f"{fn}: gain", gain, lo=0.0)
    shape = (int(num_steps), *tuple(x.shape))
    if torch_in:
        import torch

        gen = _torch_generator(fn, seed, x.device)
        p = (x.detach().to(torch.float32) * float(gain)).clamp_(0.0, 1.0)
        u = torch.rand(shape, generator=gen, device=x.device, dtype=torch.float32)
        return (u < p).to(torch.float32)
    rng = _numpy_rng(fn, seed)
    p = np.clip(x.astype(np.float32) * np.float32(gain), 0.0, 1.0)
    u = rng.random(shape, dtype=np.float32)
    return (u < p).astype(np.float32)


def latency(x: Array, num_steps: int, *, tau: float = 5.0, threshold: float = 0.01,
            linear: bool = False, normalize: bool = False) -> Array:
    """Time-to-first-spike code: each input fires at most once, stronger inputs earlier.

    x: intensities in [0, 1], float, shape ``[B, ...]``. Inputs ``x <= threshold`` never fire.
    num_steps: T, an integer >= 1. tau: time constant in steps, > 0. threshold: in [0, 1).

    Firing time in steps, before rounding (``θ`` = threshold):

    ========  ==================  =============================  ==================================
    linear    normalize           t(x)                           x = 1 fires at
    ========  ==================  =============================  ==================================
    False     False               ``tau * ln(x / (x - θ))``       ``tau * ln(1 / (1 - θ))`` (≈ 0)
    True      False               ``tau * (1 - x)``               0
    False     True                ``(T-1) * ln(x) / ln(θ)``       0; x -> θ fires at T-1 (θ > 0)
    True      True                ``(T-1) * (1-x) / (1-θ)``       0; x -> θ fires at T-1
    ========  ==================  =============================  ==================================

    The first row is the time an RC membrane with time constant ``tau`` driven by a constant
    current ``x`` takes to charge from 0 to ``θ``. Its latency is unbounded as x -> θ, so the
    normalized logarithmic code (third row) uses the log-latency form ``t ∝ -ln x`` scaled to
    span the window exactly; ``tau`` plays no part when ``normalize=True``.

    The spike lands at step ``round(t)`` (half to even); a time >= T falls outside the window and
    gives no spike. Returns float32 ``[T, B, ...]`` with at most one 1 along T per input.
    """
    fn = "latency"
    torch_in = _check_input(fn, x, unit_interval=True)
    _check_steps(fn, num_steps)
    check_number(f"{fn}: tau", tau, lo=0.0, lo_open=True)
    check_number(f"{fn}: threshold", threshold, lo=0.0, hi=1.0, hi_open=True)
    _check_bool(fn, "linear", linear)
    _check_bool(fn, "normalize", normalize)
    if normalize and not linear and threshold <= 0:
        raise ConfigError(f"{fn}: threshold={threshold!r} with normalize=True and linear=False is out of range; "
                          "allowed: threshold in (0, 1) (the log code maps x = threshold to the last step). "
                          "Use a small positive threshold such as 0.01, or linear=True.")
    T, thr = int(num_steps), float(threshold)

    if torch_in:
        import torch

        dt = torch.float32 if x.device.type == "mps" else torch.float64
        xf = x.detach().to(dt)
        fires = xf > thr
        safe = torch.where(fires, xf, torch.ones_like(xf))
        t = _latency_time(torch, safe, T, float(tau), thr, bool(linear), bool(normalize))
        step = torch.where(fires, torch.round(t), torch.full_like(t, -1.0))
        grid = torch.arange(T, device=x.device, dtype=dt).reshape((T,) + (1,) * x.ndim)
        return (grid == step.unsqueeze(0)).to(torch.float32)

    xf = x.astype(np.float64)
    fires = xf > thr
    safe = np.where(fires, xf, 1.0)
    t = _latency_time(np, safe, T, float(tau), thr, bool(linear), bool(normalize))
    step = np.where(fires, np.rint(t), -1.0)  # compared as floats: a huge t never overflows an int
    grid = np.arange(T, dtype=np.float64).reshape((T,) + (1,) * x.ndim)
    return (grid == step[None]).astype(np.float32)


def delta(x_seq: Array, threshold: float, *, off_spikes: bool = False,
          reference: DeltaReference = "spike") -> Array:
    """Delta (send-on-delta) code of a time series: a spike when the signal changed by more than ``threshold``.

    x_seq: float, finite, time first ``[T, B, ...]`` (at least 2 dims), any range.
    threshold: >= 0, in the units of x_seq; a change must exceed it strictly.
    off_spikes: also emit OFF events (decreases) in a separate channel.
    reference: what the change is measured from.
        ``"spike"`` (default): the input's value at its last event (ON or OFF); the first sample
        is the initial reference. A slow drift fires once it has accumulated past ``threshold``.
        ``"sample"``: the previous sample; a drift slower than ``threshold`` per step never fires.

    Per input and step ``t >= 1``: ON if ``x_t - ref > threshold``, OFF if ``x_t - ref < -threshold``,
    then (``"spike"``) ``ref := x_t`` after either event. Step 0 never fires; at most one event per
    step, however large the jump. OFF events update the reference even when not emitted.

    Returns float32 ``[T, B, ...]`` (ON only) or, with ``off_spikes``, ``[T, B, 2, ...]`` with
    channel 0 = ON and channel 1 = OFF.
    """
    fn = "delta"
    torch_in = _check_input(fn, x_seq, unit_interval=False, min_ndim=2, layout="[T, B, ...]", name="x_seq")
    check_number(f"{fn}: threshold", threshold, lo=0.0)
    _check_bool(fn, "off_spikes", off_spikes)
    if reference not in ("spike", "sample"):
        raise ConfigError(f"{fn}: reference={reference!r} is not supported; allowed: 'spike', 'sample'.")
    thr = float(threshold)

    if torch_in:
        import torch

        xs = x_seq.detach()
        if xs.dtype in (torch.float16, torch.bfloat16):
            xs = xs.to(torch.float32)
        on = torch.zeros(xs.shape, dtype=torch.bool, device=xs.device)
        off = torch.zeros_like(on)
        _delta_fill(xs, on, off, thr, reference, where=torch.where)
        if off_spikes:
            return torch.stack((on, off), dim=2).to(torch.float32)
        return on.to(torch.float32)

    xs = x_seq.astype(np.result_type(x_seq.dtype, np.float32), copy=False)
    on = np.zeros(xs.shape, dtype=bool)
    off = np.zeros_like(on)
    _delta_fill(xs, on, off, thr, reference, where=np.where)
    if off_spikes:
        return np.stack((on, off), axis=2).astype(np.float32)
    return on.astype(np.float32)


ENCODERS: Mapping[str, Callable[..., Any]] = MappingProxyType({"rate": rate, "latency": latency, "delta": delta})
"""The encoders by name (read-only), for configs that pick one with a string."""


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _latency_time(xp: Any, x: Any, T: int, tau: float, thr: float, linear: bool, normalize: bool) -> Any:
    """Firing time in (fractional) steps for inputs ``x > thr``; ``xp`` is numpy or torch."""
    if normalize:
        if linear:
            return (T - 1) * (1.0 - x) / (1.0 - thr)
        return (T - 1) * xp.log(x) / math.log(thr)
    if linear:
        return tau * (1.0 - x)
    return tau * xp.log(x / (x - thr))


def _delta_fill(xs: Any, on: Any, off: Any, thr: float, reference: str, *, where: Callable) -> None:
    """Fill the ON/OFF event masks ``[T, ...]`` in place (works for numpy and torch alike)."""
    if xs.shape[0] < 2:
        return
    if reference == "sample":
        d = xs[1:] - xs[:-1]
        on[1:] = d > thr
        off[1:] = d < -thr
        return
    ref = xs[0]
    for t in range(1, xs.shape[0]):
        d = xs[t] - ref
        up, down = d > thr, d < -thr
        on[t] = up
        off[t] = down
        ref = where(up | down, xs[t], ref)


def _check_input(fn: str, x: Any, *, unit_interval: bool, min_ndim: int = 1,
                 layout: str = "[B, ...]", name: str = "x") -> bool:
    """Validate an encoder input; returns True for a torch tensor, False for a numpy array."""
    torch_in = is_torch(x)
    if not torch_in and not isinstance(x, np.ndarray):
        raise ConfigError(f"{fn}: {name} has type {type(x).__name__}; allowed: a numpy array or a torch tensor "
                          f"of floats, shape {layout}.")
    shape = tuple(x.shape)
    if len(shape) < min_ndim:
        raise ConfigError(f"{fn}: {name} has shape {shape} ({len(shape)} dims); allowed: at least {min_ndim} "
                          f"dim{'s' if min_ndim > 1 else ''}, shape {layout}.")
    is_float = x.is_floating_point() if torch_in else np.issubdtype(x.dtype, np.floating)
    if not is_float:
        hint = " Scale integer images to [0, 1] first, e.g. x / 255." if unit_interval else " Cast it to float32."
        raise ConfigError(f"{fn}: {name} has dtype {x.dtype}; allowed: a floating dtype (float32 recommended).{hint}")
    if (x.numel() if torch_in else x.size) == 0:
        return torch_in
    if torch_in:
        xd = x.detach()
        finite = bool(xd.isfinite().all())
        lo, hi = (float(xd.min()), float(xd.max())) if finite else (math.nan, math.nan)
    else:
        finite = bool(np.isfinite(x).all())
        lo, hi = (float(x.min()), float(x.max())) if finite else (math.nan, math.nan)
    if not finite:
        raise ConfigError(f"{fn}: {name} contains NaN or inf; allowed: finite values only. Clean the input first.")
    if unit_interval and (lo < 0.0 or hi > 1.0):
        raise ConfigError(f"{fn}: {name} has values in [{lo:g}, {hi:g}]; allowed: intensities in [0, 1]. "
                          "Normalize the input first (e.g. x / 255 for 8-bit images); use gain to scale rates.")
    return torch_in


def _check_steps(fn: str, num_steps: Any) -> None:
    check_number(f"{fn}: num_steps", num_steps, lo=1, integer=True)


def _check_bool(fn: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{fn}: {name}={value!r} is invalid; allowed: True or False.")


def _numpy_rng(fn: str, seed: Any) -> np.random.Generator:
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    what = "a torch.Generator, but x is a numpy array" if _is_torch_generator(seed) else repr(seed)
    raise ConfigError(f"{fn}: seed={what}; allowed: None, an integer >= 0 or a numpy.random.Generator.")


def _torch_generator(fn: str, seed: Any, device: Any) -> "torch.Generator | None":
    import torch

    if seed is None:
        return None
    if isinstance(seed, torch.Generator):
        if seed.device.type != device.type:
            raise ConfigError(f"{fn}: seed is a torch.Generator on {seed.device}, x is on {device}; allowed: a "
                              f"generator on x's device, e.g. torch.Generator(device='{device.type}').")
        return seed
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        return gen
    raise ConfigError(f"{fn}: seed={seed!r}; allowed: None, an integer >= 0, a numpy.random.Generator or a "
                      "torch.Generator on x's device.")


def _is_torch_generator(obj: Any) -> bool:
    """True for a ``torch.Generator`` (without importing torch when it is not loaded)."""
    return type(obj).__module__.startswith("torch") and type(obj).__name__ == "Generator"

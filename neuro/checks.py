"""Input checks shared by the torch and numpy sides. Each raises ConfigError naming the value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neuro.errors import ConfigError


def is_torch(x: Any) -> bool:
    """True for a ``torch.Tensor`` (without importing torch when it is not loaded)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def check_number(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False, integer: bool = False) -> None:
    """Check that ``value`` is a finite (integer) number in the given interval."""
    kind = "an integer" if integer else "a finite number"
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(float(value))):
        raise ConfigError(f"{name}={value!r} is invalid; allowed: {kind}{_interval(lo, hi, lo_open, hi_open)}.")
    v = float(value)
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and (v >= hi if hi_open else v > hi)):
        raise ConfigError(f"{name}={value!r} is out of range; allowed: {kind}{_interval(lo, hi, lo_open, hi_open)}.")


def _interval(lo, hi, lo_open, hi_open) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {lo}"
    if lo is None:
        return f" {'<' if hi_open else '<='} {hi}"
    return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def check_array(name: str, x: Any, *, ndim: int | tuple[int, ...] | None = None,
                floating: bool = True, finite: bool = True) -> None:
    """Check a numpy array or torch tensor: type, number of dims, float dtype, no NaN/inf."""
    if is_torch(x):
        shape, is_float = tuple(x.shape), x.is_floating_point()
        # a finite sum proves every element finite in one pass without a mask; only when the
        # sum is not finite (NaN/inf present, or overflow) is the exact element check run
        bad = (not math.isfinite(float(x.detach().sum())) and not bool(x.isfinite().all())) if (finite and is_float) else False
        dtype = str(x.dtype)
    elif isinstance(x, np.ndarray):
        shape, is_float = x.shape, np.issubdtype(x.dtype, np.floating)
        bad = (not math.isfinite(float(x.sum())) and not bool(np.isfinite(x).all())) if (finite and is_float) else False
        dtype = str(x.dtype)
    else:
        raise ConfigError(f"{name} has type {type(x).__name__}; allowed: a numpy array or torch tensor.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if len(shape) not in allowed:
            raise ConfigError(
                f"{name} has shape {shape} ({len(shape)} dims); allowed: {' or '.join(map(str, allowed))} dims "
                "(time first: [T, B, ...])."
            )
    if floating and not is_float:
        raise ConfigError(f"{name} has dtype {dtype}; allowed: a floating dtype (float32 recommended). Cast it first.")
    if bad:
        raise ConfigError(f"{name} contains NaN or inf; allowed: finite values only. Clean the input first.")

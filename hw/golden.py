"""Integer golden model of the fixed-point LIF neuron: the single reference for the RTL.

Every integer here is two's complement. With ``W = mem_w`` (membrane bits) and ``I = in_w``
(input bits)::

    V_MIN, V_MAX = -2**(W-1), 2**(W-1) - 1          membrane range
    I_MIN, I_MAX = -2**(I-1), 2**(I-1) - 1          input current range (out of range: ConfigError)

One step, given the state ``(v, r)`` (membrane, refractory steps left) and an input ``i``::

    gate   = (r == 0)                               input and spikes blocked while refractory
    leak   = v >>> LEAK_SHIFT                       arithmetic shift: floor(v / 2**LEAK_SHIFT),
                                                    i.e. rounds toward -inf (-5 >>> 2 == -2)
    u      = sat(v - leak + (i if gate else 0))     sat() clamps to [V_MIN, V_MAX]
    spike  = gate and u >= THRESHOLD
    v'     = (0 if RESET_ZERO else u - THRESHOLD) if spike else u
    r'     = REFRAC if spike else max(r - 1, 0)

Notes that follow from the definition (and that the RTL relies on):

* ``v - (v >>> s)`` always lies between 0 and ``v`` (inclusive), so only the addition of ``i`` can
  leave the membrane range; one extra bit (``W + 1``) holds the unsaturated sum.
* Negative membranes decay toward 0 as well; because the shift rounds toward -inf, ``-1`` reaches
  ``0`` in one step (``-1 - (-1 >>> s) == 0``).
* ``THRESHOLD`` is in ``[1, V_MAX]``, so ``u - THRESHOLD`` never leaves the range either.
* During the ``REFRAC`` steps after a spike the leak still applies, the input is ignored and no
  spike fires, even if ``u >= THRESHOLD`` (subtractive reset can leave ``v`` above threshold).
* Unlike the float ``neuro.neurons.lif`` model (snnTorch's delayed reset) the reset here is applied
  in the same step as the spike: ``v'`` is already the reset value.

``lif_step`` is the scalar statement of this with Python ints; ``lif_run`` is the same arithmetic
vectorised over neurons with numpy int64 and is bit-identical to it (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from neuro.errors import ConfigError

ResetMode = Literal["subtract", "zero"]
RESET_MODES: tuple[str, ...] = get_args(ResetMode)

MEM_W_RANGE = (2, 32)          # membrane bits; <= 32 so every value fits a Verilog integer parameter
REFRAC_MAX = 2**16 - 1         # refractory steps


def _check_int(name: str, value: object, lo: int, hi: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(
            f"FixedLIFParams.{name}={value!r} has type {type(value).__name__}; allowed: an int in [{lo}, {hi}]. {fix}"
        )
    if not lo <= int(value) <= hi:
        raise ConfigError(f"FixedLIFParams.{name}={value!r} is out of range; allowed: an int in [{lo}, {hi}]. {fix}")


@dataclass(frozen=True)
class FixedLIFParams:
    """Fixed-point LIF parameters; the names map 1:1 onto the Verilog ``parameter``s.

    mem_w: membrane width in bits, signed, in [2, 32] (Verilog ``MEM_W``).
    in_w: input current width in bits, signed, in [2, mem_w] (``IN_W``).
    leak_shift: leak ``v >>> leak_shift`` per step, in [0, mem_w - 1]; 0 forgets ``v`` every step
        (``LEAK_SHIFT``). The leak factor is ``1 - 2**-leak_shift``.
    threshold: spike when the saturated membrane is ``>= threshold``, in [1, 2**(mem_w-1) - 1]
        (``THRESHOLD``).
    reset: ``"subtract"`` (v -= threshold) or ``"zero"`` (v := 0) after a spike (``RESET_ZERO``).
    refractory_steps: steps after a spike with input ignored and no spike, in [0, 65535]
        (``REFRAC``).
    """

    mem_w: int = 16
    in_w: int = 12
    leak_shift: int = 4
    threshold: int = 4096
    reset: ResetMode = "subtract"
    refractory_steps: int = 0

    def __post_init__(self) -> None:
        _check_int("mem_w", self.mem_w, *MEM_W_RANGE, "Pick a membrane width between 2 and 32 bits.")
        _check_int("in_w", self.in_w, 2, int(self.mem_w),
                   "The input current must not be wider than the membrane: lower in_w or raise mem_w.")
        _check_int("leak_shift", self.leak_shift, 0, int(self.mem_w) - 1,
                   "A shift of mem_w or more would make the leak constant; use a smaller shift.")
        _check_int("threshold", self.threshold, 1, 2 ** (int(self.mem_w) - 1) - 1,
                   f"The threshold must be positive and representable in {self.mem_w} signed bits.")
        if self.reset not in RESET_MODES:
            raise ConfigError(
                f"FixedLIFParams.reset={self.reset!r} is not supported; allowed: {', '.join(RESET_MODES)}."
            )
        _check_int("refractory_steps", self.refractory_steps, 0, REFRAC_MAX,
                   "Use 0 for no refractory period.")

    @property
    def v_min(self) -> int:
        """Most negative membrane value, ``-2**(mem_w-1)``."""
        return -(1 << (self.mem_w - 1))

    @property
    def v_max(self) -> int:
        """Most positive membrane value, ``2**(mem_w-1) - 1``."""
        return (1 << (self.mem_w - 1)) - 1

    @property
    def i_min(self) -> int:
        """Most negative input current, ``-2**(in_w-1)``."""
        return -(1 << (self.in_w - 1))

    @property
    def i_max(self) -> int:
        """Most positive input current, ``2**(in_w-1) - 1``."""
        return (1 << (self.in_w - 1)) - 1

    @property
    def reset_zero(self) -> bool:
        """True when the membrane is set to 0 after a spike (Verilog ``RESET_ZERO = 1``)."""
        return self.reset == "zero"


def _check_current(i_in: int, p: FixedLIFParams, where: str = "") -> None:
    if not p.i_min <= i_in <= p.i_max:
        raise ConfigError(
            f"input current {i_in}{where} is outside the {p.in_w}-bit signed range [{p.i_min}, {p.i_max}]; "
            "scale or clip the input (hw.quant) or raise FixedLIFParams.in_w."
        )


def lif_step(v: int, refrac_count: int, i_in: int, p: FixedLIFParams) -> tuple[int, int, int]:
    """One step of the fixed-point LIF neuron with Python ints.

    v: membrane in [v_min, v_max]. refrac_count: refractory steps left in [0, refractory_steps].
    i_in: input current in [i_min, i_max].
    Returns ``(spike, v_next, refrac_next)`` with ``spike`` 0 or 1.
    """
    if isinstance(i_in, bool) or not isinstance(i_in, (int, np.integer)):
        raise ConfigError(f"input current {i_in!r} has type {type(i_in).__name__}; allowed: an int.")
    v, refrac_count, i_in = int(v), int(refrac_count), int(i_in)
    _check_current(i_in, p)
    if not p.v_min <= v <= p.v_max:
        raise ConfigError(f"membrane v={v} is outside the {p.mem_w}-bit signed range [{p.v_min}, {p.v_max}].")
    if not 0 <= refrac_count <= p.refractory_steps:
        raise ConfigError(f"refrac_count={refrac_count} is outside [0, {p.refractory_steps}] (refractory_steps).")

    gate = refrac_count == 0
    u = v - (v >> p.leak_shift) + (i_in if gate else 0)   # Python >> on ints is floor: toward -inf
    u = min(max(u, p.v_min), p.v_max)
    if gate and u >= p.threshold:
        return 1, (0 if p.reset_zero else u - p.threshold), p.refractory_steps
    return 0, u, max(refrac_count - 1, 0)


def lif_run(currents: np.ndarray, p: FixedLIFParams, *, v0: int = 0, refrac0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run the fixed-point LIF neuron over time, bit-identical to repeated ``lif_step``.

    currents: integer array ``[T]`` (one neuron) or ``[T, N]`` (N independent neurons), values in
        [i_min, i_max]. v0, refrac0: initial state shared by all neurons (default: reset state).
    Returns ``(spikes, v_trace)``, both the shape of ``currents``: ``spikes`` bool, ``v_trace`` int64
    holding the membrane after each step (after reset).
    """
    x = np.asarray(currents)
    if x.ndim not in (1, 2):
        raise ConfigError(f"currents has shape {x.shape}; allowed: [T] or [T, N] (time first).")
    if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
        raise ConfigError(f"currents has dtype {x.dtype}; allowed: an integer dtype (quantise first, hw.quant).")
    x = x.astype(np.int64)
    if x.size:
        bad = np.flatnonzero((x < p.i_min) | (x > p.i_max))
        if bad.size:
            idx = np.unravel_index(bad[0], x.shape)
            _check_current(int(x[idx]), p, where=f" at index {tuple(int(k) for k in idx)}")
    # validate the initial state through the scalar path (same messages)
    lif_step(v0, refrac0, 0, p)

    shape = x.shape
    x2 = x.reshape(shape[0], -1)
    n = x2.shape[1]
    v = np.full(n, int(v0), dtype=np.int64)
    r = np.full(n, int(refrac0), dtype=np.int64)
    spikes = np.zeros(x2.shape, dtype=bool)
    v_trace = np.empty(x2.shape, dtype=np.int64)
    for t in range(x2.shape[0]):
        gate = r == 0
        u = v - (v >> p.leak_shift) + np.where(gate, x2[t], 0)   # numpy >> on int64 is arithmetic
        np.clip(u, p.v_min, p.v_max, out=u)
        s = gate & (u >= p.threshold)
        v = np.where(s, 0 if p.reset_zero else u - p.threshold, u)
        r = np.where(s, p.refractory_steps, np.maximum(r - 1, 0))
        spikes[t] = s
        v_trace[t] = v
    return spikes.reshape(shape), v_trace.reshape(shape)

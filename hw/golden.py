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
from typing import Literal, NamedTuple, get_args

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


# ============================================================================ spiking networks
#
# The network cores (``hw/verilog/templates/snn_*.v.j2``) use the neuron of the *trained* model:
# ``neuro.neurons.lif`` with snnTorch's delayed reset, so that the fixed-point network is the float
# network with rounded numbers, not a different dynamical system. Per layer, with the integer
# synaptic current ``I_t = sum_j s_in[t, j] * W[j, n] + b[n]`` (exact, never saturated: the
# accumulator is wide enough by construction)::
#
#     leak(v) = (v * BETA) >>> BETA_F                    leak = "multiply"  (>>> rounds toward -inf;
#               (v * BETA + 2**(BETA_F-1)) >>> BETA_F     rounding = "nearest": half up)
#     leak(v) = v - (v >>> LEAK_SHIFT)                   leak = "shift"
#     subtract: u = sat(leak(v) + I_t - (s ? THRESHOLD : 0))
#     zero:     u = sat((0 if s else leak(v)) + I_t)
#     s'      = u > THRESHOLD ;  v' = u                  (strict, as the float model and snnTorch;
#                                                        v is the membrane the readout sees)
#
# ``(v, s)`` is the state after the previous step (``s``: its spike), both 0 at the start of every
# sample; ``sat`` clamps to the ``MEM_W``-bit signed range. The float model is recovered with
# ``v_float = v / 2**frac_bits`` and ``beta = BETA / 2**BETA_F``. The readout reduces the output
# layer over the ``T`` steps to integer class scores: spike counts, the membrane sum (the mean
# times T), the maximum or the last membrane; the class is the first index of the largest score.

LeakMode = Literal["multiply", "shift"]
LEAK_MODES: tuple[str, ...] = get_args(LeakMode)
Rounding = Literal["floor", "nearest"]
ROUNDINGS: tuple[str, ...] = get_args(Rounding)
HW_READOUTS = ("spike_count", "membrane_mean", "membrane_max", "membrane_last")


def _signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class FixedLayer:
    """One fixed-point LIF layer of a network core; the fields become the core's Verilog parameters.

    weight: int64 ``[n_in, n_out]`` in ``weight_w``-bit signed range. bias: int64 ``[n_out]`` in the
    membrane range. threshold: in ``[1, 2**(mem_w-1) - 1]``. beta / beta_frac: leak multiplier
    ``beta / 2**beta_frac`` in ``[0, 1]`` (``leak = "multiply"``); leak_shift: ``leak = "shift"``.
    frac_bits: the layer's Q format (float value = integer / 2**frac_bits), for reports only.
    """

    weight: np.ndarray
    bias: np.ndarray
    threshold: int
    mem_w: int = 16
    weight_w: int = 8
    leak: LeakMode = "multiply"
    beta: int = 230
    beta_frac: int = 8
    leak_shift: int = 3
    rounding: Rounding = "floor"
    reset: ResetMode = "subtract"
    frac_bits: int = 0

    def __post_init__(self) -> None:
        w = np.asarray(self.weight)
        b = np.asarray(self.bias)
        if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
            raise ConfigError(f"FixedLayer.weight has shape {w.shape} and dtype {w.dtype}; allowed: an integer "
                              "array [n_in, n_out] (quantise with hw.quant).")
        if b.shape != (w.shape[1],) or not np.issubdtype(b.dtype, np.integer):
            raise ConfigError(f"FixedLayer.bias has shape {b.shape} and dtype {b.dtype}; allowed: integers "
                              f"[{w.shape[1]}] (one per neuron).")
        _check_int("mem_w", self.mem_w, 4, 32, "Pick a membrane width between 4 and 32 bits.")
        _check_int("weight_w", self.weight_w, 2, int(self.mem_w), "Weights must not be wider than the membrane.")
        lo, hi = _signed_range(self.weight_w)
        if w.size and (w.min() < lo or w.max() > hi):
            raise ConfigError(f"FixedLayer.weight holds values in [{w.min()}, {w.max()}]; allowed: [{lo}, {hi}] "
                              f"({self.weight_w}-bit signed). Requantise or raise weight_w.")
        vlo, vhi = _signed_range(self.mem_w)
        if b.size and (b.min() < vlo or b.max() > vhi):
            raise ConfigError(f"FixedLayer.bias holds values in [{b.min()}, {b.max()}]; allowed: [{vlo}, {vhi}] "
                              f"({self.mem_w}-bit membrane). Requantise or raise mem_w.")
        _check_int("threshold", self.threshold, 1, vhi, f"The threshold must fit {self.mem_w} signed bits.")
        if self.leak not in LEAK_MODES:
            raise ConfigError(f"FixedLayer.leak={self.leak!r}; allowed: {', '.join(LEAK_MODES)}.")
        if self.rounding not in ROUNDINGS:
            raise ConfigError(f"FixedLayer.rounding={self.rounding!r}; allowed: {', '.join(ROUNDINGS)}.")
        if self.reset not in RESET_MODES:
            raise ConfigError(f"FixedLayer.reset={self.reset!r}; allowed: {', '.join(RESET_MODES)}.")
        _check_int("beta_frac", self.beta_frac, 1, 16, "Use 1..16 fractional bits for the leak multiplier.")
        _check_int("beta", self.beta, 0, 1 << int(self.beta_frac), "beta / 2**beta_frac is the decay in [0, 1].")
        _check_int("leak_shift", self.leak_shift, 0, int(self.mem_w) - 1, "Use a shift below mem_w.")
        object.__setattr__(self, "weight", w.astype(np.int64))
        object.__setattr__(self, "bias", b.astype(np.int64))

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[1])

    @property
    def acc_w(self) -> int:
        """Bits of the exact synaptic-current accumulator: the largest ``|sum_j W[j, n]|`` plus sign."""
        worst = int(max(np.abs(self.weight).sum(0).max(initial=0), 1))
        return max(worst.bit_length() + 1, self.weight_w)

    def leak_of(self, v: np.ndarray) -> np.ndarray:
        """The leaked membrane for int64 ``v`` (see the module notes)."""
        if self.leak == "shift":
            return v - (v >> self.leak_shift)
        half = (1 << (self.beta_frac - 1)) if self.rounding == "nearest" else 0
        return (v * self.beta + half) >> self.beta_frac


@dataclass(frozen=True)
class FixedSNN:
    """A fixed-point spiking MLP: layers in order, ``num_steps`` T per sample, and the readout."""

    layers: tuple[FixedLayer, ...]
    num_steps: int
    readout: str = "membrane_mean"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ConfigError("FixedSNN.layers is empty; allowed: at least one FixedLayer.")
        for a, b in zip(self.layers[:-1], self.layers[1:]):
            if a.n_out != b.n_in:
                raise ConfigError(f"layer sizes do not chain: {a.n_out} outputs feed a layer with {b.n_in} inputs.")
        _check_int("num_steps", self.num_steps, 1, 1 << 16, "T must be between 1 and 65536 steps.")
        if self.readout not in HW_READOUTS:
            raise ConfigError(f"FixedSNN.readout={self.readout!r}; allowed: {', '.join(HW_READOUTS)}.")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)

    @property
    def score_w(self) -> int:
        """Bits of a readout score register (signed)."""
        mem_w = self.layers[-1].mem_w
        if self.readout == "spike_count":   # counts are at most T; the register also passes membranes
            return max(int(self.num_steps).bit_length() + 1, mem_w)
        if self.readout == "membrane_mean":
            return mem_w + max(int(self.num_steps - 1).bit_length(), 0)
        return mem_w


class SNNResult(NamedTuple):
    """``counts``/``scores`` int64 ``[B, C]``, ``pred`` int64 ``[B]``; ``traces`` (when asked): per layer
    ``(v, s)`` with ``v`` int64 and ``s`` bool, both ``[T, B, n]``."""

    counts: np.ndarray
    scores: np.ndarray
    pred: np.ndarray
    traces: list


def snn_run(net: FixedSNN, spikes: np.ndarray, *, trace: bool = False) -> SNNResult:
    """Run ``net`` on binary input spikes ``[T, B, n_in]`` (bool or 0/1 ints); bit-exact hardware result.

    The synaptic sums use float64 matrix products, which are exact here (every partial sum is an
    integer below 2**53; checked), then everything is int64.
    """
    x = np.asarray(spikes)
    if x.ndim != 3 or x.shape[0] != net.num_steps or x.shape[2] != net.sizes[0]:
        raise ConfigError(f"spikes has shape {x.shape}; allowed: [T={net.num_steps}, B, n_in={net.sizes[0]}].")
    if x.dtype != np.bool_:
        if not np.issubdtype(x.dtype, np.number) or not np.isin(x, (0, 1)).all():
            raise ConfigError("spikes must be binary (0/1 or bool); the network cores take spike events only.")
        x = x.astype(bool)
    T, B = x.shape[:2]
    states = [(np.zeros((B, l.n_out), np.int64), np.zeros((B, l.n_out), bool)) for l in net.layers]
    traces = [(np.zeros((T, B, l.n_out), np.int64), np.zeros((T, B, l.n_out), bool)) for l in net.layers] if trace else []
    C = net.sizes[-1]
    counts = np.zeros((B, C), np.int64)
    scores = np.zeros((B, C), np.int64)
    if net.readout == "membrane_max":
        scores[:] = np.iinfo(np.int64).min
    wf = [l.weight.astype(np.float64) for l in net.layers]
    for l, w in zip(net.layers, wf):
        if l.acc_w > 52:
            raise ConfigError(f"a layer's accumulator needs {l.acc_w} bits; allowed: at most 52 for the float64 path.")
    for t in range(T):
        s_in = x[t]
        for k, l in enumerate(net.layers):
            v, s = states[k]
            cur = np.rint(s_in.astype(np.float64) @ wf[k]).astype(np.int64) + l.bias
            lo, hi = _signed_range(l.mem_w)
            if l.reset == "subtract":
                u = l.leak_of(v) + cur - np.where(s, l.threshold, 0)
            else:
                u = np.where(s, 0, l.leak_of(v)) + cur
            np.clip(u, lo, hi, out=u)
            s_new = u > l.threshold
            states[k] = (u, s_new)
            if trace:
                traces[k][0][t], traces[k][1][t] = u, s_new
            s_in = s_new
        v_out, s_out = states[-1]
        counts += s_out
        if net.readout == "membrane_mean":
            scores += v_out
        elif net.readout == "membrane_max":
            np.maximum(scores, v_out, out=scores)
        elif net.readout == "membrane_last":
            scores[:] = v_out
    if net.readout == "spike_count":
        scores[:] = counts
    return SNNResult(counts, scores, scores.argmax(1).astype(np.int64), traces)


_LAYER_SCALARS = ("threshold", "mem_w", "weight_w", "leak", "beta", "beta_frac", "leak_shift", "rounding", "reset",
                  "frac_bits")


def save_snn(net: FixedSNN, path) -> None:
    """Write ``net`` to an ``.npz`` file (integer arrays + a JSON header); atomic."""
    import json

    from neuro.io import atomic_path

    arrays = {}
    meta = {"num_steps": net.num_steps, "readout": net.readout, "layers": []}
    for k, layer in enumerate(net.layers):
        arrays[f"w{k}"], arrays[f"b{k}"] = layer.weight, layer.bias
        meta["layers"].append({name: getattr(layer, name) for name in _LAYER_SCALARS})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)


def load_snn(path) -> FixedSNN:
    """Read a network written by ``save_snn``."""
    import json

    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        layers = tuple(FixedLayer(weight=z[f"w{k}"], bias=z[f"b{k}"], **kw) for k, kw in enumerate(meta["layers"]))
    return FixedSNN(layers, meta["num_steps"], meta["readout"])


def mutate_snn(net: FixedSNN, mutation: str) -> FixedSNN:
    """A deliberately wrong copy of ``net`` for mutation tests of the RTL checkers.

    ``rounding``: the other leak rounding; ``threshold``: every threshold + 1; ``reset``: the other
    reset mode; ``beta``: every decay multiplier - 1. ``none`` returns ``net``.
    """
    import dataclasses

    flips = {
        "rounding": lambda l: {"rounding": "floor" if l.rounding == "nearest" else "nearest"},
        "threshold": lambda l: {"threshold": min(l.threshold + 1, (1 << (l.mem_w - 1)) - 1)},
        "reset": lambda l: {"reset": "zero" if l.reset == "subtract" else "subtract"},
        "beta": lambda l: {"beta": max(l.beta - 1, 0)},
    }
    if mutation == "none":
        return net
    if mutation not in flips:
        raise ConfigError(f"mutation={mutation!r}; allowed: none, {', '.join(sorted(flips))}.")
    return FixedSNN(tuple(dataclasses.replace(l, **flips[mutation](l)) for l in net.layers), net.num_steps, net.readout)


SNN_MUTATIONS = ("beta", "reset", "rounding", "threshold")

"""Integer reference for fixed-point feed-forward ANNs (Linear + ReLU stacks), as hls4ml computes them.

This module is the single reference for the hls4ml path: hls4ml's C simulation must equal it
bit-exactly (``hw.hls4ml_export`` checks that). Every value is an integer ``q`` in a
:class:`FixedFormat` (value ``q / 2**frac``), which mirrors Xilinx ``ap_fixed<W, I, Q, O>`` /
``ap_ufixed``:

- ``width`` W total bits, ``integer`` I integer bits (sign bit included when signed),
  ``frac = W - I`` (may be negative or exceed W, as in ap_fixed);
- range ``[-2**(W-1), 2**(W-1) - 1]`` (signed) or ``[0, 2**W - 1]`` (unsigned) in integer units;
- rounding ``TRN`` (AP_TRN: floor, toward -inf, also for negatives) or ``RND`` (AP_RND: add half an
  LSB then floor, i.e. ties toward +inf: -2.5 -> -2, 2.5 -> 3);
- overflow ``WRAP`` (AP_WRAP: keep the low W bits, two's complement) or ``SAT`` (AP_SAT: clamp).

The layer arithmetic follows hls4ml 1.3's Vivado/Vitis ``io_parallel`` templates
(``nnet_dense_latency.h``, ``nnet_activation.h``)::

    x_q    = cast_in(x)                                        float -> input format
    mult   = accum_t(x_q[j] * w_q[j, n])                       exact product, frac f_in + f_w
    acc[n] = accum_t(b_q[n]) + sum_j mult                      accumulated in accum_t
    res[n] = result_t(acc[n])                                  the Dense layer's output
    relu   = relu_t(res > 0 ? res : 0)                         the ReLU layer's output (hidden layers)

Every cast is :meth:`FixedFormat.requantize` (round by the target's mode, then overflow by its
mode). The golden adds all products exactly and applies the accumulator's overflow once to the sum;
that equals the hardware whenever no partial sum overflows (WRAP: always, since two's-complement
wrapping commutes with addition; SAT: only without overflow, which ``choose_precisions`` guarantees
by sizing the accumulator for the worst case). Products are exact when the accumulator keeps
``f_in + f_w`` fractional bits (required here: :class:`DenseSpec` checks it).

Integer widths: everything is int64; the matrix product uses float64 BLAS only when every partial
sum is provably an integer below 2**53 in magnitude (then float64 is exact whatever the summation
order), and int64 otherwise. Formats wider than 62 bits are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuro.errors import ConfigError

ROUNDING = ("TRN", "RND")
OVERFLOW = ("WRAP", "SAT")


@dataclass(frozen=True)
class FixedFormat:
    """An ``ap_fixed<width, integer, AP_<rounding>, AP_<overflow>>`` (``ap_ufixed`` if unsigned)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, int) or not 1 <= self.width <= 62:
            raise ConfigError(f"fixed-point width={self.width!r}; allowed: an int in [1, 62] (int64 golden model).")
        if isinstance(self.integer, bool) or not isinstance(self.integer, int) or abs(self.integer) > 128:
            raise ConfigError(f"fixed-point integer bits={self.integer!r}; allowed: an int in [-128, 128].")
        if self.rounding not in ROUNDING:
            raise ConfigError(f"rounding={self.rounding!r}; allowed: {', '.join(ROUNDING)} (AP_TRN, AP_RND).")
        if self.overflow not in OVERFLOW:
            raise ConfigError(f"overflow={self.overflow!r}; allowed: {', '.join(OVERFLOW)} (AP_WRAP, AP_SAT).")

    @property
    def frac(self) -> int:
        """Fractional bits: value = integer / 2**frac."""
        return self.width - self.integer

    @property
    def lo(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def hls(self) -> str:
        """The hls4ml / Vitis precision string, e.g. ``ap_fixed<16,6,AP_RND,AP_SAT>``."""
        t = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{t}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def overflows(self, q: np.ndarray) -> np.ndarray:
        """Mask of integers (already on this format's grid) outside the representable range."""
        q = np.asarray(q, np.int64)
        return (q < self.lo) | (q > self.hi)

    def _overflow(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, np.int64)
        if self.overflow == "SAT":
            return np.clip(q, self.lo, self.hi)
        m = q & ((1 << self.width) - 1)                     # low W bits (numpy & on int64 is two's complement)
        if self.signed:
            m = np.where(m >= (1 << (self.width - 1)), m - (1 << self.width), m)
        return m.astype(np.int64)

    def quantize(self, x) -> np.ndarray:
        """Float values -> int64 integers of this format (the ap_fixed constructor from double)."""
        s = np.asarray(x, np.float64) * 2.0 ** self.frac      # exact: a power-of-two scale
        if not np.all(np.isfinite(s)):
            raise ConfigError("values to quantize contain NaN/inf; allowed: finite numbers.")
        r = np.floor(s + 0.5) if self.rounding == "RND" else np.floor(s)
        r = np.clip(r, -2.0 ** 62, 2.0 ** 62 - 1)
        return self._overflow(r.astype(np.int64))

    def requantize(self, q: np.ndarray, frac: int) -> np.ndarray:
        """Integers with ``frac`` fractional bits -> this format (an ap_fixed to ap_fixed cast)."""
        q = np.asarray(q, np.int64)
        shift = frac - self.frac
        if shift <= 0:
            if shift < 0 and int(np.abs(q).max(initial=0)).bit_length() - shift > 62:
                raise ConfigError(f"cast to {self.hls()} needs more than 62 bits; allowed: at most 62 (int64 golden).")
            r = q << (-shift)
        elif self.rounding == "RND":
            r = (q + (1 << (shift - 1))) >> shift          # arithmetic shift: floor, so ties go toward +inf
        else:
            r = q >> shift                                 # floor, toward -inf also for negatives
        return self._overflow(r)

    def to_float(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(q, np.float64) / 2.0 ** self.frac


@dataclass(frozen=True, eq=False)
class DenseSpec:
    """One ``nn.Linear`` (and its following ReLU, if any) in fixed point.

    ``weight`` int64 ``[n_in, n_out]`` in ``weight_fmt``; ``bias`` int64 ``[n_out]`` in ``bias_fmt``;
    ``relu_fmt`` is the ReLU layer's output format (None for a layer without ReLU)."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    input_fmt: FixedFormat
    weight_fmt: FixedFormat
    bias_fmt: FixedFormat
    accum_fmt: FixedFormat
    result_fmt: FixedFormat
    relu_fmt: FixedFormat | None = None
    relu_name: str | None = field(default=None)

    def __post_init__(self):
        if self.accum_fmt.frac < self.input_fmt.frac + self.weight_fmt.frac:
            raise ConfigError(f"layer {self.name}: accumulator {self.accum_fmt.hls()} keeps {self.accum_fmt.frac} "
                              f"fractional bits; allowed: >= input + weight = "
                              f"{self.input_fmt.frac + self.weight_fmt.frac} (exact products).")

    @property
    def w_frac(self) -> int:
        """Fractional bits of the weights."""
        return self.weight_fmt.frac

    @property
    def in_frac(self) -> int:
        """Fractional bits of the input."""
        return self.input_fmt.frac

    @property
    def acc_frac(self) -> int:
        """Fractional bits of the accumulator."""
        return self.accum_fmt.frac

    @property
    def out_fmt(self) -> FixedFormat:
        return self.relu_fmt if self.relu_fmt is not None else self.result_fmt


def _matmul_exact(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``h @ w`` for int64 arrays, exactly (float64 BLAS when every partial sum is < 2**53)."""
    bound = int(np.abs(h).max(initial=0)) * int(np.abs(w).sum(0).max(initial=0))
    if bound < 2 ** 53:
        return (h.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    out = np.empty((h.shape[0], w.shape[1]), np.int64)
    for lo in range(0, h.shape[0], 256):
        out[lo:lo + 256] = h[lo:lo + 256] @ w
    return out


def dense_forward(spec: DenseSpec, h: np.ndarray, stats: dict | None = None) -> np.ndarray:
    """One layer on input integers ``h`` (``spec.input_fmt``): returns the layer's output integers.

    ``stats``, if given, gets ``{format role: number of overflowing values}`` per cast."""
    acc_frac = spec.input_fmt.frac + spec.weight_fmt.frac
    raw = _matmul_exact(np.asarray(h, np.int64), spec.weight)
    b = spec.accum_fmt.requantize(spec.bias, spec.bias_fmt.frac)             # accum_t(bias)
    raw = (raw << (spec.accum_fmt.frac - acc_frac)) + b                      # exact sum, accum frac
    if stats is not None:
        stats[f"{spec.name}.accum"] = int(spec.accum_fmt.overflows(raw).sum())
    acc = spec.accum_fmt._overflow(raw)
    if stats is not None:
        stats[f"{spec.name}.result"] = _overflow_count(spec.result_fmt, acc, spec.accum_fmt.frac)
    res = spec.result_fmt.requantize(acc, spec.accum_fmt.frac)
    if spec.relu_fmt is None:
        return res
    pos = np.maximum(res, 0)
    if stats is not None:
        stats[f"{spec.relu_name or spec.name + '.relu'}"] = _overflow_count(spec.relu_fmt, pos, spec.result_fmt.frac)
    return spec.relu_fmt.requantize(pos, spec.result_fmt.frac)


def _overflow_count(fmt: FixedFormat, q: np.ndarray, frac: int) -> int:
    """How many values of ``q`` (frac ``frac``) fall outside ``fmt`` after rounding."""
    wide = FixedFormat(62, 62 - fmt.frac, True, fmt.rounding, "WRAP") if fmt.frac <= 60 else None
    if wide is None:
        return 0
    r = wide.requantize(q, frac)
    return int(fmt.overflows(r).sum())


def run(specs: list[DenseSpec], x: np.ndarray, stats: dict | None = None) -> tuple[np.ndarray, FixedFormat]:
    """Float input ``[B, n_in]`` -> (output integers ``[B, n_out]``, their format). ``stats``: overflow counts."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    if x.shape[1] != specs[0].weight.shape[0]:
        raise ConfigError(f"input has {x.shape[1]} features; allowed: {specs[0].weight.shape[0]} (the first layer).")
    fin = specs[0].input_fmt
    if stats is not None:
        stats["input"] = int(fin.overflows(FixedFormat(62, 62 - fin.frac, True, fin.rounding, "SAT").quantize(x)).sum())
    h = fin.quantize(x)
    prev = fin
    for spec in specs:
        if spec.input_fmt != prev:
            raise ConfigError(f"layer {spec.name}: input format {spec.input_fmt.hls()} differs from the previous "
                              f"layer's output {prev.hls()}; allowed: the same format (hls4ml passes it unchanged).")
        prev = spec.out_fmt
        h = dense_forward(spec, h, stats)
    return h, specs[-1].out_fmt


def predict_float(specs: list[DenseSpec], x: np.ndarray) -> np.ndarray:
    """The golden output as float64 (exact: every format here is at most 62 bits, outputs <= 53 checked)."""
    q, fmt = run(specs, x)
    return fmt.to_float(q)

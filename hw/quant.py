"""Post-training quantization of a trained spiking MLP to the fixed-point network of ``hw.golden``.

Every layer of a spiking MLP sees binary spikes, so each layer can have its own scale: the layer's
weights, bias, membrane and threshold are all integers in one Q format ``value * 2**frac_bits``.
``frac_bits`` is the largest value for which

* the weights fit ``weight_bits`` signed bits: ``max|W| * 2**f <= 2**(weight_bits-1) - 1``, and
* the membrane fits ``mem_bits``: ``headroom * max(max|v|, v_th, max|b|) * 2**f <= 2**(mem_bits-1) - 1``,
  with ``max|v|`` measured by running the float network on calibration inputs.

The decay becomes ``BETA / 2**beta_frac`` (``leak = "multiply"``, ``BETA = round(beta * 2**beta_frac)``)
or ``1 - 2**-k`` (``leak = "shift"``, the nearest k). After quantizing, the fixed network runs on the
calibration inputs; a layer whose membrane saturates there gets a ``QuantWarning`` naming it and
the width that would have held the range.

torch is imported only inside the functions (``hw`` never imports it at module load).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hw.golden import LEAK_MODES, ROUNDINGS, FixedLayer, FixedSNN, LeakMode, Rounding, snn_run
from neuro.errors import ConfigError, HardwareError


class QuantWarning(UserWarning):
    """A fixed-point format loses range (saturation) or precision on the calibration data."""


@dataclass(frozen=True)
class QuantConfig:
    """Bit widths and choices of the post-training quantization.

    weight_bits: signed weight width in [2, mem_bits]. mem_bits: signed membrane width in [4, 32].
    leak: ``"multiply"`` (``v * BETA >>> beta_frac``) or ``"shift"`` (``v - (v >>> k)``).
    beta_frac: fractional bits of the leak multiplier, in [1, 16]. rounding: of the leak product,
    ``"floor"`` or ``"nearest"``. headroom: factor >= 1 on the calibrated membrane range.
    frac_bits: force every layer's Q format (None: choose from the ranges).
    """

    weight_bits: int = 8
    mem_bits: int = 16
    leak: LeakMode = "multiply"
    beta_frac: int = 8
    rounding: Rounding = "nearest"
    headroom: float = 1.0
    frac_bits: int | None = None

    def __post_init__(self) -> None:
        for name, lo, hi in (("mem_bits", 4, 32), ("weight_bits", 2, self.mem_bits), ("beta_frac", 1, 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"QuantConfig.{name}={v!r}; allowed: an int in [{lo}, {hi}].")
        if self.leak not in LEAK_MODES:
            raise ConfigError(f"QuantConfig.leak={self.leak!r}; allowed: {', '.join(LEAK_MODES)}.")
        if self.rounding not in ROUNDINGS:
            raise ConfigError(f"QuantConfig.rounding={self.rounding!r}; allowed: {', '.join(ROUNDINGS)}.")
        if not (isinstance(self.headroom, (int, float)) and math.isfinite(self.headroom) and self.headroom >= 1):
            raise ConfigError(f"QuantConfig.headroom={self.headroom!r}; allowed: a finite number >= 1.")
        if self.frac_bits is not None and (not isinstance(self.frac_bits, int) or not -16 <= self.frac_bits <= 30):
            raise ConfigError(f"QuantConfig.frac_bits={self.frac_bits!r}; allowed: None or an int in [-16, 30].")


def _float_layers(model) -> tuple[list[tuple[np.ndarray, np.ndarray]], Any]:
    """``[(W [n_in, n_out], b [n_out]), ...]`` float64 and the LIF parameters of a SpikingMLP."""
    from neuro.models.mlp import SpikingMLP
    from neuro.neurons.lif import LIFParams

    if not isinstance(model, SpikingMLP):
        raise HardwareError(f"the Verilog network core takes a spiking MLP; got {type(model).__name__}. "
                            "Supported: neuro.models.mlp.SpikingMLP with LIF neurons (model.kind = \"spiking_mlp\"). "
                            "Conventional networks go through the hls4ml path (hw.hls4ml_export).")
    p = model.config.lif
    if not isinstance(p, LIFParams):
        raise HardwareError(f"neuron {model.config.neuron!r} has no hardware core; supported: lif.")
    if p.refractory_steps:
        raise HardwareError(f"refractory_steps={p.refractory_steps} is not supported by the network core; "
                            "allowed: 0. Train with model.refractory_steps = 0.")
    layers = [(l.weight.detach().cpu().double().numpy().T.copy(), l.bias.detach().cpu().double().numpy().copy())
              for l in model.layers]
    return layers, p


def membrane_ranges(model, spikes) -> list[float]:
    """Largest ``|v|`` per layer of the float network on input spikes ``[T, B, n_in]``."""
    import torch

    from neuro.neurons.lif import lif_multistep

    _, p = _float_layers(model)
    x = torch.as_tensor(np.asarray(spikes, dtype=np.float32))
    out = []
    with torch.no_grad():
        h = x
        T, B = x.shape[:2]
        for layer in model.layers:
            cur = layer(h.reshape(T * B, -1)).reshape(T, B, -1)
            s, v, _ = lif_multistep(cur, p)
            out.append(float(v.abs().max()) if v.numel() else 0.0)
            h = s
    return out


def quantize_snn(model, num_steps: int, calib_spikes, qc: QuantConfig = QuantConfig()) -> tuple[FixedSNN, list[dict]]:
    """Fixed-point network for a trained ``SpikingMLP`` and a per-layer report.

    calib_spikes: float/bool input spikes ``[T, B, n_in]`` from the training set (calibration).
    Returns ``(net, report)``; ``report[k]`` holds the layer's ``frac_bits``, the limits that chose
    it, the integer threshold and decay, and saturation counts on the calibration data.
    """
    layers, p = _float_layers(model)
    vmax = membrane_ranges(model, calib_spikes)
    wmax_int = (1 << (qc.weight_bits - 1)) - 1
    vmax_int = (1 << (qc.mem_bits - 1)) - 1
    fixed, report = [], []
    for k, ((w, b), vm) in enumerate(zip(layers, vmax)):
        wabs = float(np.abs(w).max(initial=0.0)) or 1e-12
        span = qc.headroom * max(vm, p.v_th, float(np.abs(b).max(initial=0.0)), 1e-12)
        f_w = math.floor(math.log2(wmax_int / wabs))
        f_m = math.floor(math.log2(vmax_int / span))
        f = qc.frac_bits if qc.frac_bits is not None else min(f_w, f_m)
        scale = 2.0 ** f
        wq = np.clip(np.rint(w * scale), -wmax_int - 1, wmax_int).astype(np.int64)
        bq = np.clip(np.rint(b * scale), -vmax_int - 1, vmax_int).astype(np.int64)
        th = int(min(max(round(p.v_th * scale), 1), vmax_int))
        if qc.leak == "multiply":
            beta_q, shift = int(round(p.beta * (1 << qc.beta_frac))), 3
            beta_eff = beta_q / (1 << qc.beta_frac)
        else:
            shift = max(1, min(qc.mem_bits - 1, round(-math.log2(max(1.0 - p.beta, 2.0 ** -(qc.mem_bits - 1))))))
            beta_q, beta_eff = 0, 1.0 - 2.0 ** -shift
        fixed.append(FixedLayer(weight=wq, bias=bq, threshold=th, mem_w=qc.mem_bits, weight_w=qc.weight_bits,
                                leak=qc.leak, beta=beta_q, beta_frac=qc.beta_frac, leak_shift=shift,
                                rounding=qc.rounding, reset=p.reset, frac_bits=f))
        report.append({"layer": k, "frac_bits": f, "limited_by": "weights" if f_w <= f_m else "membrane",
                       "frac_bits_weights": f_w, "frac_bits_membrane": f_m, "max_abs_weight": wabs,
                       "max_abs_membrane": vm, "threshold": th, "beta": p.beta, "beta_fixed": beta_eff,
                       "weight_levels_used": int(np.abs(wq).max(initial=0))})
    readout = getattr(model.config, "readout", "membrane_mean")
    net = FixedSNN(tuple(fixed), num_steps, readout)
    _check_saturation(net, calib_spikes, report)
    return net, report


def _check_saturation(net: FixedSNN, calib_spikes, report: list[dict]) -> None:
    """Count membrane saturations per layer on the calibration data; warn for each layer that has any."""
    res = snn_run(net, np.asarray(calib_spikes) > 0, trace=True)
    for k, ((v, _), layer) in enumerate(zip(res.traces, net.layers)):
        lo, hi = -(1 << (layer.mem_w - 1)), (1 << (layer.mem_w - 1)) - 1
        n_sat = int(((v == lo) | (v == hi)).sum())
        report[k]["saturations_calib"] = n_sat
        report[k]["neuron_steps_calib"] = int(v.size)
        if n_sat:
            need = int(max(abs(int(v.min())), int(v.max())) * 2).bit_length() + 1
            warnings.warn(QuantWarning(
                f"layer {k}: the {layer.mem_w}-bit membrane (Q format with {layer.frac_bits} fractional bits) "
                f"saturated {n_sat} times in {v.size} neuron-steps on the calibration data; raise mem_bits to "
                f"{max(need, layer.mem_w + 1)} or lower frac_bits."), stacklevel=3)


def report_dict(net: FixedSNN, layers: list[dict], qc: QuantConfig) -> dict:
    """JSON-ready description of a quantized network (widths, formats, per-layer report)."""
    return {"config": asdict(qc), "sizes": list(net.sizes), "num_steps": net.num_steps, "readout": net.readout,
            "layers": layers}

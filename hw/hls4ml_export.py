"""hls4ml path for conventional feed-forward networks (the ANN baselines): quantize, convert, C-simulate.

``export_ann`` takes a Linear/ReLU network (``neuro.models.ann.ANN`` of kind ``mlp``, or an
``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU``), chooses per-layer fixed-point formats from weight
and activation ranges on calibration data (``choose_precisions``; arithmetic defined by
``hw.golden_ann``), converts with hls4ml's PyTorch frontend (Vitis backend, ``io_parallel``, one
precision per layer via ``config_from_pytorch_model(..., granularity='name')``), writes the HLS
project, ``compile()``s it and ``predict()``s (hls4ml's bit-accurate C simulation, g++), and compares
with the golden integer model (must be identical) and with float torch.

``build()`` (C synthesis to RTL) needs AMD Vitis HLS and runs only with ``vendor_build=True``.
hls4ml is imported lazily, with an error that names the package.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from hw.golden_ann import DenseSpec, FixedFormat, run as golden_run
from neuro.errors import ConfigError, HardwareError

SUPPORTED = ("Linear", "ReLU")
SUPPORTED_TEXT = ("Linear, ReLU (nn.Linear / nn.ReLU as Linear (ReLU Linear)*: neuro.models.ann.ANN with "
                  "model.kind \"ann_mlp\", or an nn.Sequential of them)")


class HLSPrecisionWarning(UserWarning):
    """A chosen fixed-point format overflows on the calibration data."""


def as_sequential(model):
    """The network as an ``nn.Sequential`` of Linear/ReLU (deep copies of the layers).

    HardwareError naming the first unsupported layer and the supported set otherwise."""
    from torch import nn

    from neuro.models.ann import ANN

    if isinstance(model, ANN):
        if model.kind != "mlp":
            raise HardwareError("layer 'conv1' (Conv2d) of this conv net is not supported by the hls4ml path; "
                                f"supported: {SUPPORTED_TEXT}.")
        seq = nn.Sequential()
        for i, layer in enumerate(model.layers):
            seq.append(copy.deepcopy(layer))
            if i < len(model.layers) - 1:
                seq.append(nn.ReLU())
        return seq.eval()
    if isinstance(model, nn.Sequential):
        for name, mod in model.named_modules():
            if mod is model:
                continue
            if type(mod).__name__ not in SUPPORTED:
                raise HardwareError(f"layer {name!r} ({type(mod).__name__}) is not supported by the hls4ml path; "
                                    f"supported: {SUPPORTED_TEXT}.")
        kinds = [type(m).__name__ for m in model]
        if not kinds or kinds[0] != "Linear" or kinds[-1] != "Linear" or any(
                a == b for a, b in zip(kinds, kinds[1:])):
            raise HardwareError(f"layer order {kinds} is not supported; allowed: Linear (ReLU Linear)*.")
        return copy.deepcopy(model).eval()
    raise HardwareError(f"model of type {type(model).__name__} is not supported by the hls4ml path; supported: "
                        f"{SUPPORTED_TEXT}.")


def _int_bits(max_abs: float, signed: bool = True) -> int:
    """Integer bits (sign included if signed) of a format whose range holds ``max_abs``."""
    if max_abs <= 0:
        return 1
    return math.floor(math.log2(max_abs)) + 1 + (1 if signed else 0)


def _check_bits(name, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigError(f"{name}={v!r}; allowed: an int in [{lo}, {hi}].")


def choose_precisions(model, x_calib, *, weight_bits: int = 8, act_bits: int = 16) -> list[DenseSpec]:
    """Per-layer formats from ranges (one :class:`DenseSpec` per Linear).

    - input and ReLU outputs: ``act_bits`` wide, integer bits from the calibration maximum, AP_RND, AP_SAT;
    - weights: ``weight_bits`` wide, integer bits from max |w|, AP_RND, AP_SAT (rounded here once);
    - bias, accumulator and Dense result: the exact accumulator: fractional bits input + weight, integer
      bits for the worst case over the whole input range (``max|x| * max_n sum_j |w[j, n]| + |b|``),
      so it never overflows and keeps every fractional bit (AP_TRN, AP_WRAP; no cast ever rounds).

    Warns (:class:`HLSPrecisionWarning`, naming the layer and suggesting widths) for every format that
    overflows on ``x_calib``; raises HardwareError when an accumulator would need more than 53 bits
    (beyond the exact float64 read-back of the C simulation)."""
    import torch

    _check_bits("weight_bits", weight_bits, 2, 24)
    _check_bits("act_bits", act_bits, 4, 32)
    seq = as_sequential(model)
    x = np.asarray(x_calib, np.float64).reshape(len(x_calib), -1)
    if len(x) == 0:
        raise ConfigError("x_calib is empty; allowed: at least one sample (a few hundred recommended).")
    linears = [(name, m) for name, m in seq.named_children() if type(m).__name__ == "Linear"]
    relu_names = {i: name for i, (name, m) in enumerate(seq.named_children()) if type(m).__name__ == "ReLU"}
    fin = FixedFormat(act_bits, _int_bits(float(np.abs(x).max())), True, "RND", "SAT")
    specs, h = [], torch.as_tensor(x)
    children = list(seq.named_children())
    for name, lin in linears:
        w = lin.weight.detach().double().cpu().numpy().T
        b = lin.bias.detach().double().cpu().numpy() if lin.bias is not None else np.zeros(w.shape[1])
        wf = FixedFormat(weight_bits, _int_bits(float(np.abs(w).max())), True, "RND", "SAT")
        wq = wf.quantize(w)
        acc_frac = fin.frac + wf.frac
        bq = FixedFormat(62, 62 - acc_frac, True, "RND", "SAT").quantize(b)
        worst = max(abs(fin.lo), fin.hi) * int(np.abs(wq).sum(0).max()) + int(np.abs(bq).max(initial=0))
        acc_w = worst.bit_length() + 1
        if acc_w > 53:
            raise HardwareError(f"layer {name}: the exact accumulator needs {acc_w} bits; allowed: at most 53 (the C "
                                f"simulation's output is read back as double). Lower act_bits={act_bits} or "
                                f"weight_bits={weight_bits}.")
        acc = FixedFormat(acc_w, acc_w - acc_frac, True, "TRN", "WRAP")
        b_w = max(2, int(np.abs(bq).max(initial=0)).bit_length() + 1)      # exact: the bias integers fit
        bfmt = FixedFormat(b_w, b_w - acc_frac, True, "TRN", "WRAP")
        with torch.no_grad():
            h = h @ torch.as_tensor(w) + torch.as_tensor(b)
        idx = [n for n, _ in children].index(name)
        relu_name = relu_names.get(idx + 1)
        rf = None
        if relu_name is not None:
            h = torch.relu(h)
            rf = FixedFormat(act_bits, _int_bits(float(h.max())), True, "RND", "SAT")
        specs.append(DenseSpec(name=name, weight=wq, bias=bq, input_fmt=fin, weight_fmt=wf, bias_fmt=bfmt,
                               accum_fmt=acc, result_fmt=acc, relu_fmt=rf, relu_name=relu_name))
        fin = rf if rf is not None else acc
    warn_overflows(specs, x)
    return specs


choose_formats = choose_precisions      # the earlier name, kept for callers of the first version


def warn_overflows(specs: list[DenseSpec], x_calib) -> dict:
    """Run the golden model on ``x_calib``; warn for each format that overflows. Returns the counts."""
    stats: dict = {}
    golden_run(specs, x_calib, stats)
    fmts = {"input": specs[0].input_fmt}
    for s in specs:
        fmts[f"{s.name}.accum"] = s.accum_fmt
        fmts[f"{s.name}.result"] = s.result_fmt
        if s.relu_fmt is not None:
            fmts[s.relu_name or s.name + ".relu"] = s.relu_fmt
    for key, n in stats.items():
        if n:
            f = fmts[key]
            warnings.warn(HLSPrecisionWarning(
                f"layer {key}: format {f.hls()} overflows {n} times on the calibration data; suggested: "
                f"{FixedFormat(f.width + 2, f.integer + 2, f.signed, f.rounding, f.overflow).hls()} (2 more "
                "integer bits) or larger."), stacklevel=3)
    return stats


def precisions(specs: list[DenseSpec], act_bits: int | None = None, weight_bits: int | None = None) -> dict:
    """hls4ml precision strings: ``{"input": ..., "fc0": {"weight", "bias", "accum", "result"}, "relu0": ...,
    "fc1": {...}}`` (k-th Linear ``fc{k}``, its ReLU ``relu{k}``). ``act_bits`` / ``weight_bits``, if given, are
    checked against the formats (ConfigError on a mismatch)."""
    for name, v, got in (("act_bits", act_bits, specs[0].input_fmt.width),
                         ("weight_bits", weight_bits, specs[0].weight_fmt.width)):
        if v is not None and v != got:
            raise ConfigError(f"{name}={v!r} but the formats were chosen with {got}; allowed: {got} or None.")
    out = {"input": specs[0].input_fmt.hls()}
    for k, s in enumerate(specs):
        out[f"fc{k}"] = {"weight": s.weight_fmt.hls(), "bias": s.bias_fmt.hls(), "accum": s.accum_fmt.hls(),
                         "result": s.result_fmt.hls()}
        if s.relu_fmt is not None:
            out[f"relu{k}"] = s.relu_fmt.hls()
    return out


def _load_hls4ml():
    try:
        import hls4ml
    except ImportError as e:
        raise HardwareError("the hls4ml path needs the Python package hls4ml (1.3): "
                            "`pip install -c constraints.txt hls4ml` (or `make test`).") from e
    if shutil.which("g++") is None:
        raise HardwareError("hls4ml's C simulation needs g++ on PATH: `apt-get install g++`.")
    return hls4ml


def _vendor_tool() -> str | None:
    return shutil.which("vitis_hls") or shutil.which("vivado_hls")


def export_ann(model, x_calib, x_test, y_test, out_dir: str | Path, *, weight_bits: int = 8, act_bits: int = 16,
               vendor_build: bool = False, progress: bool = True, reuse_factor: int = 1,
               strategy: str = "Latency") -> dict:
    """Quantize, convert, write, compile and C-simulate ``model``; compare with the golden model and torch.

    Writes ``out_dir`` (the hls4ml project under ``out_dir/project`` and ``out_dir/comparison.json``),
    built in a temp folder next to it and renamed into place at the end. Returns ``precisions``,
    ``samples``, ``project_dir``, ``float_accuracy``, ``fixed_accuracy`` (golden), ``csim_accuracy``,
    ``csim_vs_golden_max_abs``, ``csim_vs_golden_argmax_agreement``, ``csim_vs_torch_max_abs``,
    ``csim_vs_torch_argmax_agreement``, ``vendor_build``."""
    import torch
    from tqdm.auto import tqdm

    if strategy not in ("Latency", "Resource"):
        raise ConfigError(f"strategy={strategy!r}; allowed: 'Latency', 'Resource'.")
    _check_bits("reuse_factor", reuse_factor, 1, 1 << 20)
    if vendor_build and _vendor_tool() is None:
        raise HardwareError("vendor_build (--vendor-build) runs hls4ml's build(), which needs AMD Vitis HLS "
                            "(`vitis_hls`) or Vivado HLS (`vivado_hls`) on PATH, plus Vivado; neither is installed "
                            "here. Leave out --vendor-build: the C simulation is bit-accurate without them.")
    seq = as_sequential(model).cpu().float()
    x_calib = np.asarray(x_calib, np.float64).reshape(len(x_calib), -1)
    x_test = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    y_test = np.asarray(y_test).reshape(-1)
    if len(x_test) == 0 or len(y_test) != len(x_test):
        raise ConfigError(f"x_test has {len(x_test)} samples and y_test {len(y_test)}; allowed: the same number, >= 1.")
    bar = tqdm(total=4, desc="hls4ml", unit="stage", disable=not progress)
    specs = choose_precisions(seq, x_calib, weight_bits=weight_bits, act_bits=act_bits)
    prec = precisions(specs)
    q, ofmt = golden_run(specs, x_test)
    golden = ofmt.to_float(q)
    p = next(model.parameters())
    with torch.no_grad():
        float_out = model(torch.as_tensor(x_test, dtype=p.dtype, device=p.device)
                          .reshape(len(x_test), *getattr(model, "in_shape", (x_test.shape[1],)))).double().cpu().numpy()
    # the weights and biases on their grids: hls4ml then holds exactly the golden model's values
    with torch.no_grad():
        for s in specs:
            lin = getattr(seq, s.name)
            lin.weight.copy_(torch.as_tensor(s.weight_fmt.to_float(s.weight).T))
            if lin.bias is not None:
                lin.bias.copy_(torch.as_tensor(s.bias_fmt.to_float(s.bias)))
    bar.update()

    hls4ml = _load_hls4ml()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp.", dir=out_dir.parent))
    try:
        cfg = hls4ml.utils.config_from_pytorch_model(seq, input_shape=(x_test.shape[1],), granularity="name",
                                                     backend="Vitis", default_precision="ap_fixed<16,6>",
                                                     default_reuse_factor=reuse_factor)
        cfg["Model"]["Strategy"] = strategy
        layer_cfg = cfg["LayerName"]
        names = [n for n, _ in seq.named_children()]
        in_name = [n for n in layer_cfg if n not in {f"_{m}" for m in names}]
        if len(in_name) != 1:
            raise HardwareError(f"unexpected hls4ml layer names {list(layer_cfg)}; expected the input layer and "
                                f"{['_' + n for n in names]}.")
        layer_cfg[in_name[0]]["Precision"]["result"] = prec["input"]
        for k, s in enumerate(specs):
            layer_cfg[f"_{s.name}"]["Precision"].update(prec[f"fc{k}"])
            if s.relu_fmt is not None:
                layer_cfg[f"_{s.relu_name}"]["Precision"]["result"] = prec[f"relu{k}"]
        project = tmp / "project"
        hmodel = hls4ml.converters.convert_from_pytorch_model(
            seq, hls_config=cfg, output_dir=str(project), project_name="ann", backend="Vitis", io_type="io_parallel")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hmodel.write()
            bar.update()
            hmodel.compile()
        bar.update()
        csim = np.asarray(hmodel.predict(np.ascontiguousarray(x_test, dtype=np.float64)), np.float64)
        csim = csim.reshape(golden.shape)
        if vendor_build:
            hmodel.build(csim=False, synth=True)
        bar.update()
        res = {
            "precisions": prec, "samples": int(len(x_test)), "project_dir": str(out_dir / "project"),
            "float_accuracy": float(np.mean(float_out.argmax(1) == y_test)),
            "fixed_accuracy": float(np.mean(golden.argmax(1) == y_test)),
            "csim_accuracy": float(np.mean(csim.argmax(1) == y_test)),
            "csim_vs_golden_max_abs": float(np.abs(csim - golden).max()),
            "csim_vs_golden_argmax_agreement": float(np.mean(csim.argmax(1) == golden.argmax(1))),
            "csim_vs_torch_max_abs": float(np.abs(csim - float_out).max()),
            "csim_vs_torch_argmax_agreement": float(np.mean(csim.argmax(1) == float_out.argmax(1))),
            "weight_bits": weight_bits, "act_bits": act_bits, "strategy": strategy, "reuse_factor": reuse_factor,
            "vendor_build": bool(vendor_build),
        }
        from neuro.io import write_json

        write_json(tmp / "comparison.json", res)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return res

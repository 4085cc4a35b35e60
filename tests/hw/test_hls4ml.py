"""The hls4ml path for ANN baselines: ap_fixed golden arithmetic, precision choice, C simulation == golden."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hls4ml
from hw.golden_ann import DenseSpec, FixedFormat, run as golden_run
from hw.hls4ml_export import HLSPrecisionWarning, choose_precisions, export_ann, precisions, warn_overflows
from neuro.data.datasets import load_dataset
from neuro.errors import ConfigError, HardwareError
from neuro.models.ann import ANN
from neuro.models.conv import SpikingConvConfig
from neuro.models.mlp import SpikingMLPConfig

AP_TYPES = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


# ------------------------------------------------------------------ ap_fixed arithmetic, known answers
def test_rounding_of_negatives_and_ties():
    rnd = FixedFormat(8, 8, True, "RND", "SAT")          # integers
    trn = FixedFormat(8, 8, True, "TRN", "SAT")
    x = [-2.5, -2.4, -1.5, -0.5, 0.5, 1.5, 2.5, -2.6]
    assert rnd.quantize(x).tolist() == [-2, -2, -1, 0, 1, 2, 3, -3]     # AP_RND: ties toward +inf
    assert trn.quantize(x).tolist() == [-3, -3, -2, -1, 0, 1, 2, -3]    # AP_TRN: floor, also for negatives
    # casts between formats: -5 / 2 (frac 1 -> frac 0)
    assert rnd.requantize(np.array([-5, -3, 5, 3]), 1).tolist() == [-2, -1, 3, 2]
    assert trn.requantize(np.array([-5, -3, 5, 3]), 1).tolist() == [-3, -2, 2, 1]


def test_saturation_and_wrap():
    sat = FixedFormat(8, 4, True, "TRN", "SAT")          # Q4.4: [-8, 7.9375]
    wrap = FixedFormat(8, 4, True, "TRN", "WRAP")
    assert sat.quantize([9.0, -9.0, 7.96875]).tolist() == [127, -128, 127]
    assert wrap.quantize([8.0, 9.0, -8.0625]).tolist() == [-128, -112, 127]  # 128 -> -128, 144 -> -112, -129 -> 127
    u = FixedFormat(4, 4, False, "TRN", "WRAP")
    assert u.quantize([17.0, -1.0]).tolist() == [1, 15]
    assert FixedFormat(4, 4, False, "RND", "SAT").quantize([-3.0, 20.0]).tolist() == [0, 15]
    assert sat.hls() == "ap_fixed<8,4,AP_TRN,AP_SAT>" and u.hls() == "ap_ufixed<4,4,AP_TRN,AP_WRAP>"
    # negative integer bits / frac beyond the width, as ap_fixed allows
    tiny = FixedFormat(6, -2, True, "RND", "SAT")        # frac 8: [-0.125, 0.12109375]
    assert tiny.quantize([0.5, 0.01171875]).tolist() == [31, 3]


@pytest.mark.parametrize("bad", [dict(width=0, integer=0), dict(width=8, integer=2, rounding="RND_CONV"),
                                 dict(width=8, integer=2, overflow="SAT_SYM"), dict(width=70, integer=2)])
def test_bad_formats(bad):
    with pytest.raises(ConfigError):
        FixedFormat(**bad)


def test_golden_casts_equal_ap_fixed_cpp(tmp_path):
    """The golden's float->fixed and fixed->fixed casts against the ap_fixed C++ headers hls4ml ships."""
    fmts = [FixedFormat(w, i, s, r, o) for (w, i, s) in [(8, 3, True), (10, -1, True), (6, 6, False), (12, 2, True)]
            for r in ("TRN", "RND") for o in ("WRAP", "SAT")]
    src = FixedFormat(20, 10, True, "TRN", "WRAP")        # the source of the fixed->fixed casts
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-40, 40, 300), rng.uniform(-1, 1, 300),
                        np.arange(-64, 64) / 16 + 1 / 32])   # ties included
    xs = src.to_float(src.quantize(x))                  # exactly representable in src
    body = "\n".join(f"  {{ {f.hls()} a = v; {f.hls()} b = s; printf(\"%.17g %.17g\\n\", a.to_double(), "
                     f"b.to_double()); }}" for f in fmts)
    (tmp_path / "t.cpp").write_text(
        "#include <cstdio>\n#include \"ap_fixed.h\"\nint main(){ double v, w; while (scanf(\"%lf %lf\", &v, &w) == 2) {\n"
        f"  {src.hls()} s = w;\n{body}\n}} return 0; }}\n")
    gpp = shutil.which("g++")
    assert gpp, "g++ is required for hls4ml's C simulation"
    subprocess.run([gpp, "-O0", "-std=c++14", f"-I{AP_TYPES}", "t.cpp", "-o", "t"], cwd=tmp_path, check=True)
    inp = "\n".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(x, xs))
    out = subprocess.run([str(tmp_path / "t")], input=inp, capture_output=True, text=True, check=True).stdout
    got = np.array(out.split(), np.float64).reshape(len(x), len(fmts), 2)
    for k, f in enumerate(fmts):
        np.testing.assert_array_equal(got[:, k, 0], f.to_float(f.quantize(x)), err_msg=f.hls())
        np.testing.assert_array_equal(got[:, k, 1], f.to_float(f.requantize(src.quantize(x), src.frac)), err_msg=f.hls())


# ------------------------------------------------------------------ precision choice
def _spec(relu_fmt, acc_w=20):
    fin = FixedFormat(8, 2, True, "RND", "SAT")
    wf = FixedFormat(8, 1, True, "RND", "SAT")
    acc = FixedFormat(acc_w, acc_w - fin.frac - wf.frac, True, "TRN", "WRAP")
    w = np.array([[96, -96], [96, 96]])               # +-0.75
    return DenseSpec("fc", w, np.zeros(2, np.int64), fin, wf, acc, acc, acc, relu_fmt, "act")


def test_dense_known_answer_and_overflow_warning():
    spec = _spec(FixedFormat(8, 2, True, "RND", "SAT"))
    # x = (1.5, 1.0): relu(0.75*1.5 + 0.75*1.0) = 1.875, relu(-1.125 + 0.75) = 0
    q, fmt = golden_run([spec], np.array([[1.5, 1.0]]))
    assert fmt.to_float(q).tolist() == [[1.875, 0.0]]
    with pytest.warns(HLSPrecisionWarning, match=r"layer act: format ap_fixed<8,2,AP_RND,AP_SAT> overflows 1 times"):
        stats = warn_overflows([spec], np.array([[1.9, 1.9], [0.5, 0.5]]))   # 0.75 * 3.8 = 2.85 > 1.984
    assert stats["act"] == 1 and stats["input"] == 0


def test_input_format_mismatch_is_refused():
    a = _spec(FixedFormat(8, 2, True, "RND", "SAT"))
    b = _spec(None)                                      # its input is Q2.6 RND SAT, a's output too: fine
    golden_run([a, b], np.zeros((1, 2)))
    c = _spec(FixedFormat(8, 3, True, "RND", "SAT"))
    with pytest.raises(ConfigError, match="differs from the previous layer's output"):
        golden_run([c, b], np.zeros((1, 2)))
    with pytest.raises(ConfigError, match="exact products"):
        DenseSpec("fc", a.weight, a.bias, a.input_fmt, a.weight_fmt, a.bias_fmt,
                  FixedFormat(10, 8, True, "TRN", "WRAP"), a.result_fmt)


def test_choose_precisions_from_ranges():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    with torch.no_grad():
        seq[0].weight.mul_(6)                            # max |w| in (2, 4]: 3 integer bits with the sign
        seq[0].weight[0, 0] = 3.3
    x = np.random.default_rng(1).uniform(-5, 5, (300, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HLSPrecisionWarning)   # formats from the calibration ranges never overflow
        specs = choose_precisions(seq, x, weight_bits=6, act_bits=12)
    s0, s1 = specs
    assert s0.weight_fmt == FixedFormat(6, 3, True, "RND", "SAT")
    assert s0.input_fmt == FixedFormat(12, 4, True, "RND", "SAT")        # |x| < 5 -> 3 bits + sign
    assert s0.accum_fmt.frac == s0.input_fmt.frac + s0.weight_fmt.frac and s0.result_fmt == s0.accum_fmt
    h = np.maximum(x @ seq[0].weight.detach().double().numpy().T + seq[0].bias.detach().double().numpy(), 0)
    assert 2 ** (s0.relu_fmt.integer - 2) <= h.max() < 2 ** (s0.relu_fmt.integer - 1)
    assert s1.input_fmt == s0.relu_fmt and s1.relu_fmt is None
    # accumulators exact for the worst input of the format
    worst = 2 ** (s0.input_fmt.width - 1) * np.abs(s0.weight).sum(0).max() + np.abs(s0.bias).max()
    assert worst <= s0.accum_fmt.hi
    p = precisions(specs)
    assert p["input"] == "ap_fixed<12,4,AP_RND,AP_SAT>" and p["fc0"]["weight"] == "ap_fixed<6,3,AP_RND,AP_SAT>"
    assert p["relu0"] == s0.relu_fmt.hls() and p["fc1"]["accum"] == s1.accum_fmt.hls()
    assert set(p) == {"input", "fc0", "relu0", "fc1"}
    assert precisions(specs, 12, 6) == p
    with pytest.raises(ConfigError, match="act_bits=16"):
        precisions(specs, 16, 6)
    with pytest.raises(ConfigError, match="weight_bits"):
        choose_precisions(seq, x, weight_bits=1)


def test_unsupported_layers():
    with pytest.raises(HardwareError, match=r"'1' \(LSTM\).*supported: Linear, ReLU"):
        choose_precisions(nn.Sequential(nn.Linear(4, 4), nn.LSTM(4, 4)), np.zeros((2, 4)))
    with pytest.raises(HardwareError, match=r"'1' \(Sigmoid\)"):
        choose_precisions(nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2)), np.zeros((2, 4)))
    conv = ANN(SpikingConvConfig(in_shape=(1, 8, 8), channels=(2, 2), kernel_size=3, n_classes=10))
    with pytest.raises(HardwareError, match=r"conv1.*Conv2d.*supported"):
        export_ann(conv, np.zeros((2, 1, 8, 8)), np.zeros((2, 1, 8, 8)), np.zeros(2), Path("/nonexistent/x"),
                   progress=False)


def test_vendor_build_needs_vitis(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))           # no vitis_hls / vivado_hls
    seq = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(HardwareError, match=r"needs AMD Vitis HLS \(`vitis_hls`\).*Vivado"):
        export_ann(seq, np.zeros((2, 4)), np.zeros((2, 4)), np.zeros(2), tmp_path / "hls4ml", vendor_build=True,
                   progress=False)
    assert not (tmp_path / "hls4ml").exists()


# ------------------------------------------------------------------ hls4ml C simulation on digits
@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    tr = load_dataset("digits", "train", flatten=True, progress=False)
    te = load_dataset("digits", "test", flatten=True, progress=False)
    torch.manual_seed(0)
    model = ANN(SpikingMLPConfig(sizes=(64, 128, 10)))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x, y = torch.tensor(np.asarray(tr.images)), torch.tensor(np.asarray(tr.labels))
    for _ in range(12):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    out = tmp_path_factory.mktemp("hw") / "hls4ml"
    res = export_ann(model, tr.images[:256], te.images, te.labels, out, weight_bits=8, act_bits=16, progress=False)
    return res, out, model, tr, te


def test_csim_equals_golden_bit_exact(digits_export):
    res, out, model, tr, te = digits_export
    assert res["samples"] == len(te.labels) == 359
    assert res["csim_vs_golden_max_abs"] == 0.0
    assert res["csim_vs_golden_argmax_agreement"] == 1.0
    assert res["csim_accuracy"] == res["fixed_accuracy"]
    specs = choose_precisions(model, tr.images[:256])
    q, fmt = golden_run(specs, te.images)
    assert np.mean(fmt.to_float(q).argmax(1) == te.labels) == res["fixed_accuracy"]
    assert res["precisions"] == precisions(specs)


def test_csim_agrees_with_torch(digits_export):
    res, *_ = digits_export
    assert res["float_accuracy"] >= 0.9
    assert res["csim_vs_torch_argmax_agreement"] >= 0.99
    assert abs(res["fixed_accuracy"] - res["float_accuracy"]) <= 0.01
    assert 0 < res["csim_vs_torch_max_abs"] < 0.5


def test_project_written_atomically(digits_export):
    res, out, *_ = digits_export
    assert Path(res["project_dir"]) == out / "project"
    assert (out / "comparison.json").is_file() and (out / "project" / "firmware" / "ann.cpp").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".hls4ml.tmp")]
    text = (out / "project" / "firmware" / "defines.h").read_text()
    p = res["precisions"]

    def written(hls):                                    # how hls4ml prints a precision in defines.h
        return hls.replace(",AP_TRN,AP_WRAP>", ">").replace(",AP_SAT>", ",AP_SAT,0>")

    assert f"typedef {written(p['input'])} input_t;" in text
    for k, layer in ((0, "0"), (1, "2")):                 # hls4ml names the Sequential's layers _0, _1, _2
        for role in ("weight", "bias", "accum"):
            assert f"typedef {written(p[f'fc{k}'][role])} _{layer}_{role}_t;" in text
    assert f"{written(p['relu0'])} layer3_t;" in text and f"{written(p['fc1']['result'])} result_t;" in text


def test_missing_hls4ml_names_the_package(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hls4ml", None)     # `import hls4ml` now raises ImportError
    with pytest.raises(HardwareError, match=r"needs the Python package hls4ml"):
        export_ann(nn.Sequential(nn.Linear(4, 2)), np.ones((2, 4)), np.ones((2, 4)), np.zeros(2), tmp_path / "h",
                   progress=False)
    assert list(tmp_path.iterdir()) == []

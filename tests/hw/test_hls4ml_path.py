"""hls4ml path for the ANN baselines: fixed-point golden arithmetic, C simulation == golden, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from hw.golden import FixedDense, _round_shift, ann_quantize_input, ann_run
from hw.hls4ml_export import as_sequential, choose_formats, export_ann, precisions
from neuro.errors import HardwareError


def test_input_quantization_rounds_half_up_and_saturates():
    # frac 2: steps of 0.25; 0.125 -> 0.25 (tie up), -0.125 -> 0 (tie toward +inf), 0.3 -> 0.25
    assert ann_quantize_input(np.array([0.125, -0.125, 0.3, -0.3, 100.0, -100.0]), 2, 6).tolist() == \
        [1, 0, 1, -1, 31, -32]


def test_round_shift_known_answers():
    assert _round_shift(np.array([5, 6, 7, -5, -6]), 2).tolist() == [1, 2, 2, -1, -1]   # 1.25 1.5 1.75 -1.25 -1.5
    assert _round_shift(np.array([3]), -2).tolist() == [12]


def test_golden_ann_hand_computed():
    # x = [1.0, 0.5] with frac 2 -> [4, 2]; W frac 1: [[1.0, -0.5], [0.5, 1.0]] -> [[2, -1], [1, 2]]
    # acc frac 3: [4*2 + 2*1, 4*-1 + 2*2] + bias [1, 0] = [11, 0] -> relu -> act frac 1: round(11/4) = 3, 0
    l0 = FixedDense(weight=np.array([[2, -1], [1, 2]]), bias=np.array([1, 0]), w_frac=1, in_frac=2, relu=True,
                    act_bits=4, act_frac=1)
    # output: [3, 0] . [[1], [1]] (frac 0) -> 3 at frac 1
    l1 = FixedDense(weight=np.array([[1], [1]]), bias=np.array([0]), w_frac=0, in_frac=1, relu=False)
    out, frac = ann_run((l0, l1), np.array([[4, 2]]))
    assert out.tolist() == [[3]] and frac == 1
    # saturation of the ReLU output: act_bits 3 holds at most 3
    l0s = FixedDense(weight=np.array([[7]]), bias=np.array([0]), w_frac=0, in_frac=0, relu=True, act_bits=3,
                     act_frac=0)
    out, _ = ann_run((l0s, FixedDense(weight=np.array([[1]]), bias=np.array([0]), w_frac=0, in_frac=0, relu=False)),
                     np.array([[1], [-1]]))
    assert out.tolist() == [[3], [0]]


def test_unsupported_layers_are_named():
    with pytest.raises(HardwareError, match=r"'1' \(Tanh\).*supported: Linear, ReLU"):
        as_sequential(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)))
    with pytest.raises(HardwareError, match="LSTM"):
        as_sequential(nn.LSTM(4, 3))
    from neuro.models.ann import ANN
    from neuro.models.conv import SpikingConvConfig

    with pytest.raises(HardwareError, match="conv net"):
        as_sequential(ANN(SpikingConvConfig()))


@pytest.fixture(scope="module")
def digits_ann(tmp_path_factory):
    from neuro.demo import run_demo_ann
    from neuro.train.run import load_run

    out = tmp_path_factory.mktemp("ann")
    run_demo_ann(out, ["train.epochs=15"], progress=False)
    return load_run(out)


@pytest.fixture(scope="module")
def exported(digits_ann, tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.fail("g++ is needed for hls4ml's C simulation: apt-get install g++")
    run = digits_ann
    out = tmp_path_factory.mktemp("hls") / "hls4ml"
    return export_ann(run.model, run.data.x_train[:256], run.data.x_eval, run.data.y_eval, out, progress=False), out


def test_csim_equals_golden_bit_exactly_and_tracks_float(exported):
    res, out = exported
    assert res["samples"] == 359
    assert res["csim_vs_golden_max_abs"] == 0.0 and res["csim_vs_golden_argmax_agreement"] == 1.0
    assert res["csim_accuracy"] == res["fixed_accuracy"]
    assert res["csim_vs_torch_argmax_agreement"] >= 0.99
    assert abs(res["fixed_accuracy"] - res["float_accuracy"]) <= 0.01 and res["float_accuracy"] > 0.9
    assert 0 < res["csim_vs_torch_max_abs"] < 0.5
    assert (out / "project" / "firmware" / "ann.cpp").is_file() and (out / "comparison.json").is_file()
    assert not list(out.parent.glob(".hls4ml.*"))


def test_per_layer_precisions_follow_the_ranges(digits_ann):
    seq = as_sequential(digits_ann.model)
    layers = choose_formats(seq, digits_ann.data.x_train[:256].numpy(), weight_bits=6, act_bits=12)
    prec = precisions(layers, 12, 6)
    w0 = np.abs(seq[0].weight.detach().numpy()).max()
    int_bits = max(1, int(np.floor(np.log2(w0))) + 2)       # sign + integer part, at least the sign bit
    assert layers[0].w_frac == 6 - int_bits and w0 * 2.0 ** layers[0].w_frac < 32
    assert prec["input"] == "ap_fixed<12,2,AP_RND,AP_SAT>"          # digits inputs lie in [0, 1]
    assert prec["fc0"]["accum"] == prec["fc0"]["result"] and prec["fc0"]["weight"].startswith("ap_fixed<6,")
    assert set(prec) == {"input", "fc0", "relu0", "fc1"}


def test_vendor_build_without_vitis_says_what_is_needed(digits_ann, tmp_path):
    if shutil.which("vitis_hls") or shutil.which("vivado_hls"):
        pytest.skip("Vitis HLS is installed here")
    run = digits_ann
    with pytest.raises(HardwareError, match="Vitis HLS"):
        export_ann(run.model, run.data.x_train[:64], run.data.x_eval[:8], run.data.y_eval[:8], tmp_path / "h",
                   vendor_build=True, progress=False)
    assert not (tmp_path / "h").exists()

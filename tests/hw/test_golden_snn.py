"""The fixed-point network golden model (hw.golden.snn_run), quantization and Verilog generation."""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pytest

from hw import sim
from hw.golden import FixedLayer, FixedSNN, load_snn, mutate_snn, save_snn, snn_run
from hw.quant import QuantConfig, QuantWarning, quantize_snn
from hw.verilog import render_snn, write_snn
from neuro.errors import ConfigError, HardwareError


def one_neuron(w: int, *, T: int, readout: str = "membrane_mean", **kw) -> FixedSNN:
    layer = FixedLayer(weight=np.array([[w]]), bias=np.array([kw.pop("bias", 0)]), **kw)
    return FixedSNN((layer,), T, readout)


def run1(net: FixedSNN, drive: list[int]):
    x = np.array(drive, dtype=bool).reshape(len(drive), 1, 1)
    res = snn_run(net, x, trace=True)
    v, s = res.traces[0]
    return s[:, 0, 0].astype(int).tolist(), v[:, 0, 0].tolist(), res


# v' = round_half_up(v * 128 / 256) + 60 - (s ? 100 : 0): 60, 30+60, 45+60=105 > 100 fires,
# 53+60-100 = 13 (delayed reset: the step after the spike), 7+60, 34+60, 47+60 = 107 fires
SUB = dict(threshold=100, beta=128, beta_frac=8, rounding="nearest", reset="subtract")


def test_known_answer_subtractive_delayed_reset():
    s, v, _ = run1(one_neuron(60, T=7, **SUB), [1] * 7)
    assert s == [0, 0, 1, 0, 0, 0, 1]
    assert v == [60, 90, 105, 13, 67, 94, 107]


def test_known_answer_reset_to_zero():
    s, v, _ = run1(one_neuron(60, T=7, **{**SUB, "reset": "zero"}), [1] * 7)
    assert s == [0, 0, 1, 0, 0, 1, 0]
    assert v == [60, 90, 105, 60, 90, 105, 60]          # after a spike the leak term is dropped


def test_threshold_is_strict():
    s, v, _ = run1(one_neuron(100, T=2, **SUB), [1, 0])
    assert s == [0, 0] and v == [100, 50]                 # 100 is not > 100


def test_leak_rounding_of_negative_membranes():
    # -3 * 0.5 = -1.5: floor gives -2, round half up gives -1; then -1 -> -1 (floor) vs 0 (nearest)
    floor = run1(one_neuron(-3, T=3, **{**SUB, "rounding": "floor"}), [1, 0, 0])[1]
    near = run1(one_neuron(-3, T=3, **SUB), [1, 0, 0])[1]
    assert floor == [-3, -2, -1] and near == [-3, -1, 0]


def test_shift_leak():
    # v - (v >>> 2): 100, 75 + 100 = 175, 132 + 0
    v = run1(one_neuron(100, T=3, leak="shift", leak_shift=2, threshold=1000, mem_w=16), [1, 1, 0])[1]
    assert v == [100, 175, 132]


def test_saturation_both_ways_and_spike_at_the_rail():
    hi = dict(mem_w=8, weight_w=8, threshold=120, beta=128, beta_frac=8, rounding="nearest")
    s, v, _ = run1(one_neuron(100, T=3, **hi), [1, 1, 1])
    assert v == [100, 127, 44] and s == [0, 1, 0]         # 50 + 100 saturates at 127 > 120; 64 + 100 - 120
    s, v, _ = run1(one_neuron(-100, T=3, **hi), [1, 1, 1])
    assert v == [-100, -128, -128] and s == [0, 0, 0]     # -50 - 100 and -64 - 100 clamp at -128


def test_bias_enters_every_step_and_readouts():
    net = one_neuron(0, T=4, bias=30, **SUB)
    s, v, res = run1(net, [0, 0, 0, 0])
    assert v == [30, 45, 53, 57] and s == [0, 0, 0, 0]
    assert res.scores.tolist() == [[30 + 45 + 53 + 57]]
    for readout, want in (("membrane_max", 57), ("membrane_last", 57), ("spike_count", 0)):
        assert snn_run(FixedSNN(net.layers, 4, readout), np.zeros((4, 1, 1), bool)).scores[0, 0] == want


def test_two_layers_and_argmax_first_on_ties():
    l0 = FixedLayer(weight=np.array([[70, 0], [0, 70]]), bias=np.zeros(2, np.int64), **SUB)
    l1 = FixedLayer(weight=np.array([[120, 0, 0], [0, 120, 0]]), bias=np.zeros(3, np.int64), **SUB)
    net = FixedSNN((l0, l1), 6, "spike_count")
    x = np.zeros((6, 2, 2), bool)
    x[:, 0, 0] = True                     # sample 0 drives input 0 only -> class 0
    res = snn_run(net, x)
    assert res.pred.tolist() == [0, 0]    # sample 1: no spikes anywhere, all ties -> first class
    assert res.counts[0, 0] > 0 and res.counts[0, 1:].sum() == 0 and res.counts[1].sum() == 0


def test_bad_inputs_name_value_and_range():
    with pytest.raises(ConfigError, match=r"\[-128, 127\]"):
        FixedLayer(weight=np.array([[300]]), bias=np.array([0]), threshold=10)
    with pytest.raises(ConfigError, match="threshold"):
        FixedLayer(weight=np.array([[1]]), bias=np.array([0]), threshold=0)
    with pytest.raises(ConfigError, match="rounding"):
        FixedLayer(weight=np.array([[1]]), bias=np.array([0]), threshold=5, rounding="up")
    net = one_neuron(1, T=3, **SUB)
    with pytest.raises(ConfigError, match=r"\[T=3, B, n_in=1\]"):
        snn_run(net, np.zeros((4, 1, 1), bool))
    with pytest.raises(ConfigError, match="binary"):
        snn_run(net, np.full((3, 1, 1), 0.5))
    with pytest.raises(ConfigError, match="do not chain"):
        FixedSNN((FixedLayer(weight=np.ones((2, 3), np.int64), bias=np.zeros(3, np.int64), threshold=5),
                  FixedLayer(weight=np.ones((2, 3), np.int64), bias=np.zeros(3, np.int64), threshold=5)), 2)
    with pytest.raises(ConfigError, match="mutation"):
        mutate_snn(net, "nonsense")


def test_save_load_round_trip_and_mutants_differ(tmp_path):
    rng = np.random.default_rng(0)
    net = FixedSNN((FixedLayer(weight=rng.integers(-128, 128, (6, 4)), bias=rng.integers(-50, 50, 4), threshold=90,
                               reset="zero", rounding="floor", beta=200),), 5, "membrane_max")
    save_snn(net, tmp_path / "n.npz")
    back = load_snn(tmp_path / "n.npz")
    x = rng.random((5, 20, 6)) < 0.5
    assert np.array_equal(snn_run(net, x).scores, snn_run(back, x).scores)
    assert mutate_snn(net, "threshold").layers[0].threshold == 91   # changes only u == 91: caught in RTL runs
    for m in ("beta", "reset", "rounding"):
        assert not np.array_equal(snn_run(mutate_snn(net, m), x, trace=True).traces[0][0],
                                  snn_run(net, x, trace=True).traces[0][0]), m


# ============================================================================ quantization


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from neuro.demo import demo_config
    from neuro.train.run import load_run
    from neuro.train.trainer import encode, train
    import torch

    out = tmp_path_factory.mktemp("run")
    train(demo_config(['train.eval_backends=["torch"]', "train.epochs=15"]), out, progress=False)
    run = load_run(out)
    calib = encode(run.data.x_train[:256], run.cfg, torch.Generator().manual_seed(3)).numpy()
    return run, calib


def test_fixed_point_accuracy_within_one_point_of_float(trained):
    from hw.build import encoded_images

    run, calib = trained
    net, layers = quantize_snn(run.model, run.cfg.data.num_steps, calib, QuantConfig(weight_bits=8, mem_bits=16))
    x, y, float_pred = encoded_images(run, len(run.data.x_eval))
    fixed = snn_run(net, x).pred
    float_acc, fixed_acc = np.mean(float_pred == y), np.mean(fixed == y)
    assert float_acc > 0.9
    assert abs(float_acc - fixed_acc) <= 0.01
    assert np.mean(fixed == float_pred) >= 0.97
    for rep in layers:                                    # 8-bit weights use their range
        assert 64 <= rep["weight_levels_used"] <= 127 and rep["saturations_calib"] == 0


def test_overflowing_format_warns_with_layer_and_width(trained):
    run, calib = trained
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantize_snn(run.model, run.cfg.data.num_steps, calib, QuantConfig(weight_bits=8, mem_bits=8, frac_bits=6))
    texts = [str(w.message) for w in caught if issubclass(w.category, QuantWarning)]
    assert any(t.startswith("layer 0: the 8-bit membrane") and "raise mem_bits to" in t for t in texts), texts


def test_unsupported_models_are_named(trained):
    from neuro.models.ann import ann_like

    with pytest.raises(HardwareError, match="spiking MLP"):
        quantize_snn(ann_like(trained[0].model), 25, trained[1])
    with pytest.raises(ConfigError, match="weight_bits"):
        QuantConfig(weight_bits=20, mem_bits=16)


# ============================================================================ Verilog generation

VARIANTS = {
    "multiply_subtract_mean": dict(readout="membrane_mean"),
    "shift_zero_count": dict(readout="spike_count", leak="shift", reset="zero"),
    "floor_max_one_neuron_hidden": dict(readout="membrane_max", rounding="floor", hidden=1),
    "last_narrow": dict(readout="membrane_last", mem_w=8, weight_w=4),
}


def variant_net(name: str, seed: int = 0) -> FixedSNN:
    kw = dict(VARIANTS[name])
    readout, hidden = kw.pop("readout"), kw.pop("hidden", 8)
    mem_w, weight_w = kw.get("mem_w", 16), kw.get("weight_w", 8)
    rng = np.random.default_rng(seed)
    wmax = (1 << (weight_w - 1)) - 1
    th = min(3 * wmax, (1 << (mem_w - 1)) - 1)
    layers = [FixedLayer(weight=rng.integers(-wmax // 2, wmax + 1, (5, hidden)), bias=rng.integers(-4, 5, hidden),
                         threshold=th, **kw),
              FixedLayer(weight=rng.integers(-wmax, wmax + 1, (hidden, 3)), bias=rng.integers(-4, 5, 3),
                         threshold=th, **kw)]
    return FixedSNN(tuple(layers), 7, readout)


def test_regeneration_gives_the_same_text():
    a, b = render_snn(variant_net("multiply_subtract_mean")), render_snn(variant_net("multiply_subtract_mean"))
    assert a == b
    c = render_snn(variant_net("multiply_subtract_mean", seed=1))
    assert c["snn_top_layer.v"] == a["snn_top_layer.v"] and c["l0_weights.mem"] != a["l0_weights.mem"]
    assert "parameter integer THRESHOLD" in a["snn_top_layer.v"] and ".THRESHOLD(" in a["snn_top.v"]


@pytest.mark.hw
@pytest.mark.parametrize("name", list(VARIANTS))
def test_generated_network_is_lint_clean(name, tmp_path):
    exe = sim.require_or_skip("verilator")
    files = write_snn(variant_net(name), tmp_path)
    srcs = [p.name for n, p in files.items() if n.endswith(".v")]
    for top in ("snn_top", "snn_top_io"):
        res = subprocess.run([exe, "--lint-only", "-Wall", "--top-module", top, *srcs], cwd=tmp_path,
                             capture_output=True, text=True)
        assert res.returncode == 0 and "%Warning" not in res.stderr, res.stderr[-2000:]


def test_write_snn_is_atomic_and_complete(tmp_path):
    files = write_snn(variant_net("shift_zero_count"), tmp_path)
    assert sorted(files) == sorted(["snn_top.v", "snn_top_layer.v", "snn_top_readout.v", "snn_top_io.v",
                                    "l0_weights.mem", "l0_bias.mem", "l1_weights.mem", "l1_bias.mem"])
    assert not list(tmp_path.glob(".*tmp"))
    lines = (tmp_path / "l0_weights.mem").read_text().split()
    assert len(lines) == 5 * 8 and all(len(x) == 2 for x in lines)        # 8-bit words, wmem[j*N_OUT+n]

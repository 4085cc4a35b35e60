"""The generated spiking-MLP core against the golden model, on Verilator and Icarus.

The cocotb side lives in the library (``hw.snn_sim``: driver, monitors, scoreboard, the test
``snn_matches_golden``) because ``neuro hw build`` runs the same verification; here pytest builds
the demo network (trained on digits, quantized to 8-bit weights and a 16-bit membrane) and asserts
the numbers of each run's report: samples, traced neuron-steps, mismatches, classes.
"""

from __future__ import annotations

import numpy as np
import pytest

from hw import snn_sim
from hw.golden import SNN_MUTATIONS, save_snn, snn_run
from hw.sim import require_or_skip
from hw.verilog import write_snn

MIN_NEURON_STEPS = 100_000
N_IMAGES = 1000
LANES = 4          # the demo design: 4 neurons per weight word (hidden 128 = 4 x 32, output 10 = 2 x 5)


@pytest.fixture(scope="module")
def design(digits_run, tmp_path_factory):
    """(net, sources folder, net file, stimulus file, labels, golden classes) for the demo network."""
    from hw.build import encoded_images
    from hw.quant import QuantConfig, quantize_snn
    from neuro.train.run import load_run
    from neuro.train.trainer import encode
    import torch

    run = load_run(digits_run)
    calib = encode(run.data.x_train[:256], run.cfg, torch.Generator().manual_seed(7)).numpy()
    net, _ = quantize_snn(run.model, run.cfg.data.num_steps, calib, QuantConfig())
    folder = tmp_path_factory.mktemp("snn_design")
    write_snn(net, folder, max_lanes=LANES)
    save_snn(net, folder / "net.npz")
    x, y, _ = encoded_images(run, N_IMAGES)
    with open(folder / "stimulus.npz", "wb") as f:
        np.savez_compressed(f, spikes=np.packbits(x.transpose(1, 0, 2), axis=-1))
    gold = snn_run(net, x).pred
    return net, folder, y, gold


@pytest.fixture(scope="module")
def runner(design, tmp_path_factory):
    built = {}

    def _get(sim: str):
        if sim not in built:
            require_or_skip("verilator" if sim == "verilator" else "icarus")
            built[sim] = snn_sim.build(design[1], sim, tmp_path_factory.mktemp(f"build_{sim}"))
        return built[sim]

    return _get


def _sim(runner, design, sim, tmp_path, **kw):
    folder = design[1]
    return snn_sim.simulate(runner(sim), folder, folder / "net.npz", tmp_path, sim=sim,
                            stimulus=folder / "stimulus.npz", **kw)


@pytest.mark.hw
def test_random_traffic_every_neuron_update_bit_exact_verilator(runner, design, tmp_path):
    """>= 10^5 random neuron-steps (idle gaps, back-pressure): every membrane and spike matches."""
    per_sample = sum(design[0].sizes[1:]) * design[0].num_steps
    n = -(-MIN_NEURON_STEPS // per_sample)
    rep = _sim(runner, design, "verilator", tmp_path, mode="random", samples=n, trace=True, seed=5,
               gap_prob=0.1, backpressure=0.3)
    assert rep["first_mismatch"] is None and rep["mismatches"] == 0 and rep["passed"]
    assert rep["neuron_steps_compared"] == n * per_sample >= MIN_NEURON_STEPS
    assert rep["results"] == n and rep["rtl_classes"] == rep["golden_classes"]
    assert rep["input_beats"] > n * design[0].num_steps          # events, not just step ends


@pytest.mark.hw
def test_thousand_test_images_classified_as_golden_verilator(runner, design, tmp_path):
    """1,000 encoded digits test images (the 359-image split, then again with new encoder seeds):
    the RTL's class, spike counts and scores equal the golden model's for every one."""
    rep = _sim(runner, design, "verilator", tmp_path, mode="images", samples=N_IMAGES)
    assert rep["passed"] and rep["mismatches"] == 0 and rep["results"] == N_IMAGES
    assert rep["rtl_classes"] == [int(c) for c in design[3]]
    acc = np.mean(np.asarray(rep["rtl_classes"]) == design[2])
    assert acc > 0.90                                             # a working classifier, not a constant
    assert 1_000 < rep["cycles_per_inference"] < 200_000


@pytest.mark.hw
def test_icarus_random_and_images_bit_exact(runner, design, tmp_path):
    """The same checks on Icarus Verilog (fewer samples: it is about 20x slower than Verilator)."""
    rep = _sim(runner, design, "icarus", tmp_path / "random", mode="random", samples=2, trace=True, seed=6,
               gap_prob=0.1, backpressure=0.3)
    assert rep["passed"] and rep["mismatches"] == 0
    assert rep["neuron_steps_compared"] == 2 * sum(design[0].sizes[1:]) * design[0].num_steps
    rep = _sim(runner, design, "icarus", tmp_path / "images", mode="images", samples=4)
    assert rep["passed"] and rep["rtl_classes"] == [int(c) for c in design[3][:4]]


@pytest.mark.hw
@pytest.mark.parametrize("mutation", SNN_MUTATIONS)
def test_scoreboard_catches_wrong_model(runner, design, tmp_path, mutation):
    """A deliberately wrong reference (leak rounding, threshold + 1, other reset, decay - 1) fails."""
    rep = _sim(runner, design, "verilator", tmp_path, mode="random", samples=2, trace=True, seed=7,
               mutation=mutation)
    assert not rep["passed"]
    assert rep["mismatches"] > 0 and "model =" in rep["first_mismatch"]


@pytest.mark.hw
@pytest.mark.parametrize("name,lanes", [("shift_zero_count", 1), ("floor_max_one_neuron_hidden", 1),
                                        ("last_narrow", 2), ("multiply_subtract_mean", 8)])
def test_template_variants_bit_exact_verilator(name, lanes, tmp_path):
    """Other corners of the templates (shift leak, reset to zero, a one-neuron layer, narrow widths,
    every readout) on small random networks: every neuron update and result matches."""
    from tests.hw.test_golden_snn import variant_net

    require_or_skip("verilator")
    net = variant_net(name, seed=3)
    files = write_snn(net, tmp_path / "src", max_lanes=lanes)
    from hw.verilog.generate import layer_lanes

    assert f".LANES({layer_lanes(net.sizes[1], lanes)})" in files["snn_top.v"].read_text()
    save_snn(net, tmp_path / "src" / "net.npz")
    runner = snn_sim.build(tmp_path / "src", "verilator", tmp_path / "build")
    rep = snn_sim.simulate(runner, tmp_path / "src", tmp_path / "src" / "net.npz", tmp_path / "run", sim="verilator",
                           mode="random", samples=60, trace=True, seed=9, gap_prob=0.2, backpressure=0.4)
    assert rep["passed"] and rep["mismatches"] == 0
    assert rep["neuron_steps_compared"] == 60 * sum(net.sizes[1:]) * net.num_steps

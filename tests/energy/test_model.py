"""Profiles (provenance, validation) and the energy tiers on hand-computed counts."""

from __future__ import annotations

import copy

import pytest

from neuro.energy.model import (access_pj, break_even_synops_per_synapse, estimate, fpga_estimate, list_profiles,
                                load_profile, parse_profile, PROFILE_DIR)
from neuro.errors import ConfigError

TOY = {
    "profile": {"name": "toy", "description": "test", "source": "hand-made", "provenance": "derived",
                "notes": "", "technology_nm": 45, "precision": "int8", "bits": 8},
    "ops_pj": {"mac": 4.0, "ac": 1.0, "neuron_update": 2.0, "activation": 1.0, "spike": 0.5},
    "memory": {"word_bits": 8, "sram_kb": [1.0], "sram_read_pj": [1.0], "sram_write_pj": [2.0],
               "dram_read_pj": 100.0, "dram_write_pj": 200.0},
    "timing": {"static_power_w": 1e-3, "ops_per_s": 1e6, "step_s": 1e-3},
}


def test_bundled_profiles_load_with_provenance():
    names = list_profiles()
    for required in ("horowitz45_fp32", "horowitz45_fp16", "horowitz45_int8", "loihi", "truenorth", "spinnaker2",
                     "cpu_generic", "gpu_generic", "ice40_up5k", "ecp5_85k"):
        assert required in names
    for n in names:
        p = load_profile(n)
        assert p.meta["provenance"] in ("measured", "simulated", "derived") and p.meta["source"]
    h = load_profile("horowitz45_fp32").ops_pj
    assert (h["mac"], h["ac"]) == (4.6, 0.9)
    assert (load_profile("horowitz45_fp16").ops_pj["mac"], load_profile("horowitz45_int8").ops_pj["ac"]) == (1.5, 0.03)
    assert load_profile("horowitz45_fp32").memory["sram_read_pj"] == [10.0, 20.0, 100.0]


@pytest.mark.parametrize("table,key", [("ops_pj", "ac"), ("profile", "source"), ("memory", "dram_read_pj"),
                                       ("timing", "static_power_w")])
def test_missing_field_is_named(table, key, tmp_path):
    data = copy.deepcopy(TOY)
    del data[table][key]
    with pytest.raises(ConfigError, match=rf"missing field {table}\.{key}"):
        parse_profile(data, "toy")
    # the same through a user file
    src = (PROFILE_DIR / "horowitz45_fp32.toml").read_text()
    lines = [ln for ln in src.splitlines() if not ln.startswith(f"{key} =")]
    f = tmp_path / "mine.toml"
    f.write_text("\n".join(lines))
    with pytest.raises(ConfigError, match=rf"missing field {table}\.{key}"):
        load_profile(f)


def test_bad_provenance_and_unknown_field():
    data = copy.deepcopy(TOY)
    data["profile"]["provenance"] = "guessed"
    with pytest.raises(ConfigError, match="provenance"):
        parse_profile(data)
    data = copy.deepcopy(TOY)
    data["ops_pj"]["mult"] = 1.0
    with pytest.raises(ConfigError, match="unknown field ops_pj.mult"):
        parse_profile(data)
    with pytest.raises(ConfigError, match="not found"):
        load_profile("no_such_profile")


def _snn_counts():
    """The tiny SNN of test_counting_known (T=3, one sample): 6 ACs, 6 updates, 4 spikes."""
    return {"spiking": True, "steps": 3, "layers": [{
        "name": "layers.0", "kind": "spiking", "n_in": 3, "n_out": 2, "n_state": 1, "params": 8,
        "eff_macs": 0.0, "eff_acs": 6.0, "synops": 6.0, "neuron_updates": 6.0, "spikes": 4.0,
        "weight_reads": 12.0, "state_reads": 12.0, "state_writes": 12.0, "input_reads": 5.0, "output_writes": 4.0}]}


def test_tiers_known_answer_snn():
    p = parse_profile(copy.deepcopy(TOY))
    r = estimate(_snn_counts(), p)
    assert r["tier_a_j"] == pytest.approx(6e-12)
    # 6 ACs + 6 updates*2 + 4 spikes*0.5 + 12 weight reads*1 + (12*1 + 12*2) state + 5 inputs + 4 writes*2 = 81 pJ
    assert r["tier_b_dynamic_j"] == pytest.approx(81e-12)
    latency = 12 / 1e6 + 3 * 1e-3
    assert r["latency_s"] == pytest.approx(latency)
    assert r["tier_b_j"] == pytest.approx(81e-12 + 1e-3 * latency)


def test_tiers_known_answer_ann_and_dram():
    p = parse_profile(copy.deepcopy(TOY))
    counts = {"spiking": False, "steps": 1, "layers": [{
        "name": "fc", "kind": "linear", "n_in": 3, "n_out": 3, "n_state": 0, "params": 9,
        "eff_macs": 4.0, "eff_acs": 0.0, "synops": 4.0, "neuron_updates": 3.0, "spikes": 3.0,
        "weight_reads": 4.0, "state_reads": 0.0, "state_writes": 0.0, "input_reads": 4.0, "output_writes": 3.0}]}
    r = estimate(counts, p)
    assert r["tier_a_j"] == pytest.approx(16e-12)
    assert r["tier_b_dynamic_j"] == pytest.approx((16 + 3 + 4 + 4 + 6) * 1e-12)
    assert r["tier_b_j"] == pytest.approx(33e-12 + 1e-3 * (7 / 1e6 + 1e-3))
    # buffers beyond the largest SRAM go to DRAM; narrower values pay a fraction of a word
    assert access_pj(p, 2048, 8) == 100.0 and access_pj(p, 2048, 8, write=True) == 200.0
    assert access_pj(p, 512, 4) == 0.5
    # 9 weights at 8 bits fit 1 KB; at 1000 bits each they do not -> DRAM priced weights
    big = estimate(counts, p, bits=1000)
    assert big["breakdown_j"]["weights_mem"] == pytest.approx(4 * 100 * 1000 / 8 * 1e-12)


def test_unsupported_operation_gives_none():
    r = estimate({"spiking": False, "steps": 1, "layers": [{
        "name": "fc", "kind": "linear", "n_in": 1, "n_out": 1, "n_state": 0, "params": 1, "eff_macs": 1.0,
        "eff_acs": 0.0, "synops": 1.0, "neuron_updates": 1.0, "spikes": 1.0, "weight_reads": 1.0,
        "state_reads": 0.0, "state_writes": 0.0, "input_reads": 1.0, "output_writes": 1.0}]}, load_profile("loihi"))
    assert r["tier_a_j"] is None and not r["supported"]


def test_break_even():
    assert break_even_synops_per_synapse(load_profile("horowitz45_fp32")) == pytest.approx(4.6 / 0.9)
    assert break_even_synops_per_synapse(load_profile("loihi")) is None


FPGA = {"profile": {"name": "toyfpga", "kind": "fpga", "description": "", "source": "hand-made",
                    "provenance": "derived", "notes": "", "technology_nm": 40, "precision": "fixed", "bits": 8},
        "fpga": {"vcc_core_v": 1.2, "pj_per_toggle": 0.5, "pj_per_ff_clock": 0.1, "pj_per_bram_cycle": 5.0,
                 "pj_per_dsp_cycle": 3.0, "static_power_w": 0.01}}


def test_fpga_known_answer():
    p = parse_profile(copy.deepcopy(FPGA))
    hw = {"design": "snn", "target": "ice40-up5k", "verified": True,
          "resources": {"lut": 100, "ff": 50, "bram": 2, "dsp": 1}, "fmax_mhz": 50.0,
          "cycles_per_inference": 1000, "latency_us": 20.0}
    act = {"cycles": 10000, "samples": 10, "toggles_total": 200000, "toggles_by_signal": {"a": 200000},
           "clock_mhz": 100.0}
    r = fpga_estimate(hw, act, p)
    # (200000*0.5 + 10000*50*0.1 + 10000*2*5 + 10000*1*3) pJ / 10 samples = 28000 pJ
    assert r["dynamic_j"] == pytest.approx(2.8e-8)
    assert r["static_j"] == pytest.approx(0.01 * 20e-6)
    assert r["total_j"] == pytest.approx(2.8e-8 + 2e-7)
    hw2 = dict(hw, latency_us=None)
    assert fpga_estimate(hw2, act, p)["latency_s"] == pytest.approx(1000 / 50e6)
    hw3 = dict(hw2, cycles_per_inference=None)
    assert fpga_estimate(hw3, act, p)["latency_s"] == pytest.approx(10000 / 10 / 100e6)
    # no synthesis (as `neuro hw build --no-synth` writes it): resources None, no Fmax
    hw4 = dict(hw, resources={"lut": None, "ff": None, "bram": None, "dsp": None}, fmax_mhz=None, latency_us=None)
    r4 = fpga_estimate(hw4, act, p)
    assert r4["dynamic_j"] == pytest.approx(200000 * 0.5 / 10 * 1e-12)
    assert r4["latency_s"] == pytest.approx(1000 / 100e6) and r4["resources_missing"] == ["ff", "bram", "dsp"]
    with pytest.raises(ConfigError, match="toggles_total"):
        fpga_estimate(hw, {"cycles": 1, "samples": 1}, p)
    with pytest.raises(ConfigError, match="FPGA profile"):
        fpga_estimate(hw, act, load_profile("horowitz45_fp32"))
    assert fpga_estimate(hw, act, load_profile("ice40_up5k"))["total_j"] > 0

"""Tier c: RAPL counters read and idle-subtracted (a powercap tree laid out as the kernel does)."""

from __future__ import annotations

import pytest

from neuro.energy.measure import available_counters, measure_energy, rapl_domains


def test_rapl_counter_known_answer(tmp_path):
    dom = tmp_path / "intel-rapl:0"
    dom.mkdir()
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain (core) is not summed with its package
    (tmp_path / "intel-rapl:0:0" / "energy_uj").write_text("5\n")
    counter = dom / "energy_uj"
    counter.write_text("1000000\n")
    assert [d.name for d in rapl_domains(tmp_path)] == ["intel-rapl:0"]

    def fn():  # each call "uses" 1 J and the idle interval none
        counter.write_text(str(int(counter.read_text()) + 1_000_000))

    r = measure_energy(fn, 10, idle_s=0.01, repeats=3, root=tmp_path)
    assert r["available"] and r["idle_w"] == 0.0
    assert r["joules_per_inference"] == pytest.approx(3.0 / (3 * 10))


def test_not_available_says_so(tmp_path):
    info = available_counters(tmp_path / "missing")
    if info["nvml"]:
        pytest.skip("this machine has an NVIDIA GPU with NVML")
    assert "not available on this machine" in info["reason"]
    r = measure_energy(lambda: None, 1, idle_s=0.0, root=tmp_path / "missing")
    assert r == {"available": False, "reason": info["reason"]}

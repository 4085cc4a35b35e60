"""The command line and the demo: commands listed, demo accuracy and backend agreement."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from neuro.cli import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "train", "info", "data", "hw"):
        assert cmd in out


def test_console_script_and_imports():
    r = subprocess.run([sys.executable, "-c", "import neuro, kernels, hw; import sys; "
                        "print('torch' in sys.modules)"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"  # importing the packages stays light (no torch at load)
    r = subprocess.run([sys.executable, "-m", "neuro", "info"], capture_output=True, text=True, check=True)
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert "lif" in r.stdout and "numba" in r.stdout and f"default device: {expected}" in r.stdout


@pytest.mark.hw
def test_demo_reaches_accuracy_on_both_backends_and_builds_verified_firmware(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path), "--quiet", "--hw-samples", "100"])
    out = capsys.readouterr().out
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert rc == 0, out
    assert m["test_accuracy_torch"] >= 0.90
    assert m["test_accuracy_numba"] >= 0.90
    assert m["agreement_torch_numba"] >= 0.999
    assert 0.01 < m["spike_rate"] < 0.9
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "history.csv").exists()
    assert "backend agreement" in out
    # the hardware build of the demo run (neuro hw build, iCE40 UP5K)
    r = json.loads((tmp_path / "hw" / "report.json").read_text())
    assert r["verified"] is True and r["mismatches"] == 0 and r["samples"] == 100
    assert r["neuron_steps_verified"] >= 100_000 and r["lint_clean"]
    assert abs(r["fixed_accuracy"] - r["float_accuracy"]) <= 0.01
    assert r["rtl_accuracy"] == r["fixed_accuracy_on_rtl_samples"]
    res = r["resources"]
    assert res["lut"] > 100 and res["ff"] > 50 and res["bram"] >= 4 and res["dsp"] >= 1
    assert r["utilisation"] is not None and 5 < r["fmax_mhz"] < 300
    assert r["cycles_per_inference"] > 1000 and r["latency_us"] == pytest.approx(r["cycles_per_inference"] / r["fmax_mhz"])
    assert r["activity"]["toggles_total"] > 0
    for sub in ("golden/net.npz", "verilog/snn_top.v", "verilog/lint.log", "sim/summary.json", "report.md"):
        assert (tmp_path / "hw" / sub).is_file(), sub
    assert "verified: **True**" in out
    # the ANN twin and the energy comparison that end the demo
    e = json.loads((tmp_path / "energy" / "report.json").read_text())
    assert [r["model"] for r in e["runs"]] == ["spiking_mlp", "ann_mlp"]
    comp = e["comparisons"][0]
    fp32 = comp["ratios"]["horowitz45_fp32"]            # profiles without MAC costs (Loihi) give None
    assert fp32["tier_a"] > 1 and fp32["tier_b"] > 1       # this SNN costs more than its ANN on paper
    assert e["runs"][0]["fpga"]["available"] and not e["runs"][1]["fpga"]["available"]
    assert (tmp_path / "energy" / "report.html").stat().st_size > 10_000


def test_example_script_runs():
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_api.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "spiking MLP 64-96-10" in r.stdout and "ANN twin" in r.stdout

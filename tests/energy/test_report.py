"""`neuro energy report` end to end: report.json numbers, FPGA tier, markdown, and the HTML in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.energy.model import estimate, fpga_estimate, load_profile
from neuro.energy.report import count_run, write_report


def _make_run(folder: Path, kind: str) -> Path:
    """A real run folder (config.toml, checkpoint.pt, metrics.json) with a small digits model; the
    weights are the seeded initial ones, scaled so the hidden layer spikes."""
    from neuro.io import write_json, write_text
    from neuro.train import checkpoint
    from neuro.train.config import load_config, to_toml
    from neuro.train.trainer import build_model, evaluate, prepare_data

    cfg = load_config(None, [f"model.kind={kind}", "model.hidden=[24]", "data.num_steps=8", "data.limit_test=64"])
    torch.manual_seed(0)
    data = prepare_data(cfg)
    model = build_model(cfg, data.in_shape, data.n_classes)
    with torch.no_grad():
        model.layers[0].weight.mul_(6.0)
    acc, _, rate = evaluate(model, data.x_eval, data.y_eval, cfg)
    checkpoint.save(folder / "checkpoint.pt", model=model.state_dict(), architecture=checkpoint.architecture(model))
    write_text(folder / "config.toml", to_toml(cfg))
    write_json(folder / "metrics.json", {"test_accuracy": acc, "spike_rate": rate, "model": kind, "dataset": "digits"})
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("energy")
    snn, ann = _make_run(root / "snn", "spiking_mlp"), _make_run(root / "ann", "ann_mlp")
    hw = {"design": "snn_mlp", "target": "ice40-up5k", "verified": True,
          "resources": {"lut": 1200, "ff": 800, "bram": 4, "dsp": 0}, "fmax_mhz": 30.0,
          "cycles_per_inference": 3000, "latency_us": 100.0}
    act = {"cycles": 30000, "samples": 10, "toggles_total": 450000, "toggles_by_signal": {"x": 450000},
           "clock_mhz": 30.0}
    (snn / "hw" / "sim").mkdir(parents=True)
    (snn / "hw" / "report.json").write_text(json.dumps(hw))
    (snn / "hw" / "sim" / "activity.json").write_text(json.dumps(act))
    out = root / "report"
    r = write_report([snn, ann], out, ["horowitz45_fp32", "loihi", "ice40_up5k"], progress=False)
    return r, out, snn, hw, act


def test_report_json_numbers(report):
    r, out, snn_dir, hw, act = report
    assert [x["name"] for x in r["runs"]] == ["snn", "ann"]
    snn, ann = r["runs"]
    assert snn["spiking"] and not ann["spiking"] and snn["samples_counted"] == 64
    assert json.loads((out / "report.json").read_text())["runs"][0]["counts"] == snn["counts"]
    # the counts in the report are those of count_run on the same run; energies are estimate() of them
    from neuro.train.run import load_run

    direct = count_run(load_run(snn_dir), progress=False).to_dict()
    assert direct["totals"] == pytest.approx(snn["counts"]["totals"])
    p = load_profile("horowitz45_fp32")
    assert snn["energy"]["horowitz45_fp32"]["tier_b_j"] == pytest.approx(estimate(direct, p)["tier_b_j"])
    # Loihi has no MAC: the ANN is unsupported there, the SNN (binary inputs) is priced
    assert ann["energy"]["loihi"]["tier_a_j"] is None and snn["energy"]["loihi"]["tier_a_j"] > 0
    (c,) = r["comparisons"]
    assert (c["snn"], c["ann"], c["steps"]) == ("snn", "ann", 8)
    assert c["ratios"]["horowitz45_fp32"]["tier_a"] == pytest.approx(
        snn["energy"]["horowitz45_fp32"]["tier_a_j"] / ann["energy"]["horowitz45_fp32"]["tier_a_j"])
    assert c["quantized_ann"]["bits"] == 4  # ceil(log2(8 + 1))
    assert c["break_even"]["horowitz45_fp32"] == pytest.approx(4.6 / 0.9)
    # at the sparsity-aware break-even the SNN's tier-a energy equals the ANN's
    s_star = c["break_even_vs_effective_ann"]["horowitz45_fp32"]
    synapses = sum(l["weights"] for l in snn["counts"]["layers"])
    assert s_star * synapses * 0.9e-12 == pytest.approx(ann["energy"]["horowitz45_fp32"]["tier_a_j"])
    assert 0 < c["spike_rate"] < 1
    # tier c is never invented: on a machine without counters it says so
    assert snn["measured"]["available"] or "not available on this machine" in snn["measured"]["reason"]
    # FPGA tier from the hardware build files, none for the run without one
    f = snn["fpga"]["estimates"]["ice40_up5k"]
    assert f["total_j"] == pytest.approx(fpga_estimate(hw, act, load_profile("ice40_up5k"))["total_j"])
    assert not ann["fpga"]["available"] and ann["fpga"]["reason"].startswith("no hardware build")
    md = (out / "report.md").read_text()
    assert "| snn | ann | horowitz45_fp32 |" in md and "no hardware build" in md


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_html_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    if browser is None:
        from hw.sim import in_ci

        msg = "Debian chromium is not installed (make dev installs it when root)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    _, out, *_ = report
    html = out / "report.html"
    assert "<img" in html.read_text() and 'src="http' not in html.read_text()  # self-contained
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
                                  html.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    assert 'data-plots-total="4"' in dom.stdout and 'data-plots-ok="4"' in dom.stdout
    shot = tmp_path / "shot.png"
    res = subprocess.run(flags + ["--window-size=1280,1600", f"--screenshot={shot}", html.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (1600, 1280)
    assert float(np.std(img[..., :3])) > 0.05  # not a blank page: text and plots
    # every embedded plot is a decodable, non-trivial PNG
    import base64
    import re

    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html.read_text())
    assert len(uris) == 4
    for u in uris:
        png = base64.b64decode(u)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_cli_energy_report(report, tmp_path, capsys):
    from neuro.cli import main

    _, _, snn_dir, *_ = report
    rc = main(["energy", "report", str(snn_dir), "--profile", "horowitz45_int8", "--out", str(tmp_path / "r"),
               "--max-samples", "16", "--no-measure", "--quiet"])
    assert rc == 0
    r = json.loads((tmp_path / "r" / "report.json").read_text())
    assert r["runs"][0]["samples_counted"] == 16 and list(r["runs"][0]["energy"]) == ["horowitz45_int8"]
    assert "report.json report.md report.html" in capsys.readouterr().out
    assert main(["energy", "report", str(tmp_path / "nope"), "--out", str(tmp_path / "x"), "--quiet"]) == 2

"""examples/nir_to_firmware.py end to end on digits: snnTorch training -> NIR -> neuro import ->
neuro hw build (RTL verified against the golden model). Small settings keep it near a minute."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "nir_to_firmware.py"


@pytest.mark.slow
@pytest.mark.hw
def test_example_takes_an_snntorch_model_to_verified_firmware(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("nir_to_firmware", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "ex"
    rc = example.main(["--out", str(out), "--epochs", "1", "--hidden", "64", "--hw-samples", "8",
                       "--neuron-steps", "2000", "--no-synth"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "agreement with snnTorch 1.0000" in text  # imported predictions == snnTorch's, both backends
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy_torch"] == metrics["test_accuracy_numba"] >= 0.6
    report = json.loads((out / "run" / "hw" / "report.json").read_text())
    assert report["verified"] is True

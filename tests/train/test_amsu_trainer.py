"""The recurrent AM-SU through `neuro train` (train.rule = "amsu"): run folder, bit-for-bit resume, config errors."""

from __future__ import annotations

import json

import pytest
import torch

from neuro.errors import ConfigError
from neuro.train.config import load_config
from neuro.train.trainer import RULE_TRAINERS, train

SMALL = ["train.rule=amsu", "model.hidden=[24]", "train.epochs=2", "data.limit_train=300", "data.limit_test=100",
         "train.batch_size=32", "train.lr=5e-3", "amsu.tau_astro=10.0"]


def test_run_folder_and_bit_for_bit_resume(tmp_path):
    assert RULE_TRAINERS["amsu"] == "neuro.train.amsu_trainer:train"
    cfg = load_config(None, SMALL)
    full = train(cfg, tmp_path / "full", progress=False)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == \
        ["checkpoint.pt", "config.toml", "curves.png", "history.csv", "metrics.json"]
    assert json.loads((tmp_path / "full" / "metrics.json").read_text()) == full
    assert load_config(tmp_path / "full" / "config.toml") == cfg
    assert full["epochs"] == 2 and full["sequence"] == "rows" and full["agreement_torch_numba"] >= 0.99
    part = train(cfg, tmp_path / "part", progress=False, stop_after_epoch=1)
    assert part["epochs"] == 1
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert full["test_accuracy"] == resumed["test_accuracy"]
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, tmp_path / "full", progress=False)


def test_pixel_sequences_and_lif_twin(tmp_path):
    cfg = load_config(None, SMALL + ["amsu.sequence=\"pixels\"", "amsu.astro=false", "train.epochs=1",
                                     "data.limit_train=64", "data.limit_test=32"])
    m = train(cfg, tmp_path / "px", progress=False)
    assert m["model"] == "lif_rnn" and m["sequence"] == "pixels" and "gain_mean" not in m
    assert m["params"] == (1 * 24 + 24) + 24 * 24 + (24 * 10 + 10)  # input, recurrent, readout; no gains


@pytest.mark.parametrize("override,match", [
    ("model.hidden=[16, 16]", r"model.hidden=\[16, 16\] has 2 entries; allowed: exactly 1"),
    ("model.kind=\"ann_mlp\"", "builds its own recurrent net"),
    ("amsu.tau_astro=0", r"amsu.tau_astro=0.0 is out of range; allowed: a number in \[1e-06, "),
    ("amsu.sequence=\"columns\"", "allowed values: rows, pixels"),
    ("amsu.feedback=\"gate\"", "allowed values: current, threshold"),
    ("amsu.nope=1", "unknown key amsu.nope"),
])
def test_config_errors(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        train(load_config(None, SMALL + [override]), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()

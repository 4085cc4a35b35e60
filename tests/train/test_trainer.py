"""The trainer: accuracy floor on digits, backend agreement, bit-for-bit resume, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, DataError, TrainingError
from neuro.train import trainer as trainer_mod
from neuro.train.config import load_config
from neuro.train.trainer import train

QUICK = ["data.num_steps=10", "model.hidden=[64]", "train.batch_size=64", "train.lr=3e-3"]


def test_snn_mlp_digits_accuracy_floor_and_run_folder(tmp_path):
    cfg = load_config(None, QUICK + ["train.epochs=8"])
    m = train(cfg, tmp_path / "run", progress=False)
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["checkpoint.pt", "config.toml", "curves.png", "history.csv", "metrics.json"]
    assert m["test_accuracy_torch"] >= 0.90 and m["test_accuracy_numba"] >= 0.90
    assert m["agreement_torch_numba"] >= 0.999
    for key in ("dataset", "model", "rule", "backend", "epochs", "train_accuracy", "test_accuracy",
                "spike_rate", "params", "wall_s"):
        assert key in m
    assert m["params"] == 64 * 64 + 64 + 64 * 10 + 10
    assert 0.0 < m["spike_rate"] < 1.0
    rows = list(csv.DictReader((tmp_path / "run" / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == m
    assert load_config(tmp_path / "run" / "config.toml") == cfg


def test_ann_baseline_digits(tmp_path):
    cfg = load_config(None, ["model.kind=ann_mlp", "model.hidden=[64]", "train.epochs=25", "train.lr=3e-3",
                             "train.batch_size=64"])
    m = train(cfg, tmp_path / "ann", progress=False)
    assert m["test_accuracy"] >= 0.93 and m["rule"] == "backprop"
    assert "spike_rate" not in m


@pytest.mark.parametrize("extra", [[], ["train.optimizer=sgd", "train.schedule=step", "train.step_size=1"]])
def test_resume_is_bit_for_bit(tmp_path, extra):
    cfg = load_config(None, QUICK + ["train.epochs=3", "data.limit_train=400", "data.limit_test=100"] + extra)
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after_epoch=1)
    assert part["epochs"] == 1
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert full["test_accuracy"] == resumed["test_accuracy"]


def test_restore_schedule_stretches_cosine_to_the_new_epoch_count():
    from neuro.train.trainer import restore_schedule

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    opt2 = torch.optim.SGD([w], lr=0.1)
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=20)   # resumed with twice the epochs
    restore_schedule(sched2, sched.state_dict())
    assert sched2.T_max == 20 and sched2.last_epoch == 4
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05 * (1 + np.cos(np.pi * 4 / 20)), rel=1e-12)
    for _ in range(16):
        opt2.step()
        sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)   # reaches eta_min at the new end
    opt3 = torch.optim.SGD([w], lr=0.3)                                  # resumed with a new train.lr
    sched3 = torch.optim.lr_scheduler.CosineAnnealingLR(opt3, T_max=10)
    restore_schedule(sched3, sched.state_dict())
    assert opt3.param_groups[0]["lr"] == pytest.approx(0.15 * (1 + np.cos(np.pi * 4 / 10)), rel=1e-12)
    opt4 = torch.optim.SGD([w], lr=0.1)                                  # unchanged config: exact restore
    sched4 = torch.optim.lr_scheduler.CosineAnnealingLR(opt4, T_max=10)
    opt4.load_state_dict(opt.state_dict())
    restore_schedule(sched4, sched.state_dict())
    assert opt4.param_groups[0]["lr"] == opt.param_groups[0]["lr"] and sched4.state_dict() == sched.state_dict()


def test_resume_with_more_epochs_keeps_the_configured_horizon(tmp_path):
    base = QUICK + ["data.limit_train=256", "data.limit_test=64"]
    train(load_config(None, base + ["train.epochs=1"]), tmp_path / "r", progress=False)
    train(load_config(None, base + ["train.epochs=3"]), tmp_path / "r", resume=True, progress=False)
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert len(ckpt["history"]) == 3
    assert ckpt["scheduler"]["T_max"] == ckpt["scheduler"]["last_epoch"] > 0   # the 3-epoch schedule ran to its end


def test_resume_with_other_architecture_is_refused(tmp_path):
    cfg = load_config(None, QUICK + ["train.epochs=1", "data.limit_train=200", "data.limit_test=50"])
    train(cfg, tmp_path / "r", progress=False)
    other = load_config(None, QUICK + ["train.epochs=2", "model.hidden=[32]"])
    with pytest.raises(ConfigError, match="different architecture: layers.0.weight"):
        train(other, tmp_path / "r", resume=True, progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(cfg, tmp_path / "r", progress=False)


def test_empty_dataset_is_an_error_and_leaves_no_run_folder(tmp_path, monkeypatch):
    real = trainer_mod.load_splits

    def no_training_samples(*a, **kw):
        s = real(*a, **kw)
        return s._replace(train=s.train.subset(np.arange(0)))

    monkeypatch.setattr(trainer_mod, "load_splits", no_training_samples)
    with pytest.raises(DataError, match="training set of 'digits' is empty"):
        train(load_config(None, QUICK + ["train.epochs=1"]), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_bad_config_exits_2_and_leaves_no_run_folder(tmp_path, capsys):
    from neuro.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nepochs = 1\nlearning_rate = 0.1\n")
    assert main(["train", str(cfg), "--out", str(tmp_path / "y")]) == 2
    assert "unknown key train.learning_rate" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = load_config(None, QUICK + ["train.epochs=3", "data.limit_train=256", "data.limit_test=64"])
    real = trainer_mod._loss_fn
    calls = {"n": 0}

    def poisoned(c):
        fn = real(c)

        def loss(model, out, y):
            calls["n"] += 1
            value = fn(model, out, y)
            return value * float("nan") if calls["n"] == 6 else value  # epoch 2 (4 batches/epoch), batch 2
        return loss

    monkeypatch.setattr(trainer_mod, "_loss_fn", poisoned)
    with pytest.raises(TrainingError, match=r"epoch 2, batch 2; the last good checkpoint \(epoch 1\)"):
        train(cfg, tmp_path / "nan", progress=False)
    ckpt = torch.load(tmp_path / "nan" / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_load_run_refuses_a_run_of_another_rule(tmp_path):
    from neuro.train.config import to_toml
    from neuro.train.run import load_run

    run = tmp_path / "hebb"
    run.mkdir()
    (run / "config.toml").write_text(to_toml(load_config(None, ["train.rule=krotov"])))
    (run / "checkpoint.pt").write_bytes(b"")   # never read: the rule is checked first
    with pytest.raises(ConfigError, match=r"train.rule='krotov'.*Allowed: runs of train.rule='backprop'"):
        load_run(run, need_data=False)

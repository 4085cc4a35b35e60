"""Config loading: defaults, overrides, unknown keys and bad values, TOML round trip."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from neuro.errors import ConfigError
from neuro.train.config import RunConfig, from_dict, load_config, to_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load_and_round_trip(path):
    cfg = load_config(path)
    assert from_dict(RunConfig, tomllib.loads(to_toml(cfg))) == cfg


def test_overrides_are_typed():
    cfg = load_config(None, ["train.epochs=3", "model.hidden=[10, 20]", "train.optimizer=sgd", "data.gain=0.5"])
    assert cfg.train.epochs == 3 and cfg.model.hidden == (10, 20)
    assert cfg.train.optimizer == "sgd" and cfg.data.gain == 0.5


@pytest.mark.parametrize("override,needle", [
    ("train.epochz=3", "unknown key train.epochz"),
    ("model.kind=transformer", "allowed values: spiking_mlp, spiking_conv, ann_mlp, ann_conv"),
    ("train.lr=-1", "train.lr=-1.0 is out of range"),
    ("model.beta=1.5", "model.beta=1.5"),
    ("data.name=cifar", "allowed values: digits, mnist, fashion_mnist"),
    ("train.epochs=2.5", "train.epochs=2.5 must be an integer"),
    ("model.channels=[4]", "exactly 2"),
    ("epochs=3", "TABLE.KEY=VALUE"),
    ("optim.lr=1", "unknown key optim"),
    ("train.device=tpu", "allowed: auto, cpu, cuda"),
])
def test_bad_values_name_key_and_allowed(override, needle):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert needle in str(e.value)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_ann_with_spike_loss_is_rejected():
    with pytest.raises(ConfigError, match="needs a spiking model"):
        load_config(None, ["model.kind=ann_mlp", "train.loss=rate_ce"])

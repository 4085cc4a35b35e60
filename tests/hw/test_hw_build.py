"""``neuro hw build`` inputs and failure behaviour (the full build runs in tests/test_cli.py's demo test)."""

from __future__ import annotations

import pytest

from neuro.cli import main
from neuro.errors import HardwareError


def test_run_folder_without_checkpoint_names_the_file(tmp_path, capsys):
    (tmp_path / "config.toml").write_text("[data]\nname = \"digits\"\n")
    assert main(["hw", "build", str(tmp_path), "--no-synth", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.pt" in err and "neuro train" in err
    assert not (tmp_path / "hw").exists()


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["hw", "build", str(tmp_path), "--target", "xc7a35t"])
    assert "ice40-up5k" in capsys.readouterr().err
    from hw.build import build

    from neuro.errors import ConfigError

    with pytest.raises(ConfigError, match="samples"):
        build(tmp_path, samples=0)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from neuro.demo import demo_config
    from neuro.train.trainer import train

    out = tmp_path_factory.mktemp("run")
    train(demo_config(['train.eval_backends=["torch"]', "train.epochs=2"]), out, progress=False)
    return out


def test_failed_build_leaves_no_partial_folder(small_run, monkeypatch):
    import hw.snn_sim

    def broken(*a, **k):
        raise HardwareError("simulator exploded")

    monkeypatch.setattr(hw.snn_sim, "build", broken)
    from hw.build import build

    with pytest.raises(HardwareError, match="exploded"):
        build(small_run, samples=5, synth=False, progress=False)
    assert not (small_run / "hw").exists()
    assert not list(small_run.glob(".hw.*"))

"""``neuro import`` / ``neuro export``: run folders that load, evaluate identically and round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neuro.cli import main
from neuro.interop import nir as nirio
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig
from neuro.neurons.lif import LIFParams
from neuro.train.run import load_run
from neuro.train.trainer import evaluate


@pytest.fixture(scope="module")
def nir_file(tmp_path_factory):
    """A 64-32-10 spiking MLP (random weights, scaled for activity) written as digits.nir."""
    torch.manual_seed(0)
    m = SpikingMLP(SpikingMLPConfig(sizes=(64, 32, 10), lif=LIFParams(beta=0.85, v_th=1.0, reset="subtract"),
                                    readout="spike_count"))
    with torch.no_grad():
        for layer in m.layers:
            layer.weight.mul_(3.0)
    path = tmp_path_factory.mktemp("nir") / "digits.nir"
    nirio.export_nir(m, path, data={"name": "digits", "encoding": "rate", "num_steps": 12, "gain": 1.0})
    return path, m


def test_import_makes_a_run_folder_later_stages_accept(nir_file, tmp_path, capsys):
    path, m = nir_file
    out = tmp_path / "run"
    assert main(["import", str(path), "--out", str(out)]) == 0
    assert "test_accuracy_torch=" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"config.toml", "checkpoint.pt", "metrics.json", "model.nir",
                                              "model.neuroforge.json"}
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert {"model", "architecture", "config", "epoch", "history", "imported_from"} <= set(ckpt)
    run = load_run(out)  # what neuro hw build / energy report call
    assert run.cfg.model.kind == "spiking_mlp" and run.cfg.model.hidden == (32,)
    assert run.cfg.data.num_steps == 12 and run.cfg.model.readout == "spike_count"  # from the side-car
    assert run.model.config == m.config
    for a, b in zip(run.model.state_dict().values(), m.state_dict().values()):
        assert torch.equal(a, b)
    metrics = json.loads((out / "metrics.json").read_text())
    for backend in ("torch", "numba"):
        acc, _, _ = evaluate(run.model, run.data.x_eval, run.data.y_eval, run.cfg, backend=backend)
        assert metrics[f"test_accuracy_{backend}"] == acc
    assert metrics["agreement_torch_numba"] == 1.0 and metrics["n_eval"] == 359
    assert metrics["spike_rate"] > 0.02


def test_export_then_import_round_trips(nir_file, tmp_path):
    path, m = nir_file
    main(["import", str(path), "--out", str(tmp_path / "a"), "--num-steps", "8"])
    assert main(["export", str(tmp_path / "a"), "--format", "nir"]) == 0
    exported = tmp_path / "a" / "model.nir"
    side = json.loads(nirio.sidecar_path(exported).read_text())
    assert side["data"]["num_steps"] == 8 and side["readout"] == "spike_count"
    assert main(["import", str(exported), "--out", str(tmp_path / "b")]) == 0
    a, b = load_run(tmp_path / "a", need_data=False), load_run(tmp_path / "b", need_data=False)
    assert a.cfg == b.cfg
    x = (torch.rand(10, 4, 64, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    with torch.no_grad():
        assert torch.equal(a.model.run(x).membrane, b.model.run(x).membrane)


def test_import_errors_name_the_fix(nir_file, tmp_path, capsys):
    path, _ = nir_file
    assert main(["import", str(path), "--out", str(tmp_path / "m"), "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "inputs (64,)" in err and "--dataset" in err and not (tmp_path / "m").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    assert main(["import", str(path), "--out", str(tmp_path / "full")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "none.nir"), "--out", str(tmp_path / "n")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_export_refuses_an_ann_run(tmp_path, capsys):
    from neuro.train.config import load_config, to_toml

    (tmp_path / "config.toml").write_text(to_toml(load_config(None, ["model.kind=ann_mlp"])))
    assert main(["export", str(tmp_path), "--format", "nir"]) == 2
    assert "spiking_mlp, spiking_conv" in capsys.readouterr().err


def test_snntorch_file_imports_with_its_dt(tmp_path):
    """A graph without our metadata (as snnTorch writes it) is mapped with --dt."""
    import nir

    g = nirio.to_nir(SpikingMLP(SpikingMLPConfig(sizes=(64, 10), lif=LIFParams(beta=0.9))), dt=1e-3)
    g.metadata = {}
    for node in g.nodes.values():
        node.metadata = {}
    nir.write(str(tmp_path / "g.nir"), g)
    assert main(["import", str(tmp_path / "g.nir"), "--out", str(tmp_path / "r"), "--dt", "1e-3"]) == 0
    assert np.float32(load_run(tmp_path / "r", need_data=False).cfg.model.beta) == np.float32(0.9)
    # without --dt the default 1e-4 s reads tau = 10 ms as beta = 0.99: the time step is part of the mapping
    assert main(["import", str(tmp_path / "g.nir"), "--out", str(tmp_path / "r2")]) == 0
    assert load_run(tmp_path / "r2", need_data=False).cfg.model.beta == pytest.approx(0.99, abs=1e-6)


def test_conv_net_imports_into_a_run_folder(tmp_path):
    from neuro.interop.runs import import_run
    from neuro.models.conv import SpikingConvConfig, SpikingConvNet

    torch.manual_seed(1)
    m = SpikingConvNet(SpikingConvConfig(in_shape=(1, 8, 8), channels=(4, 6), kernel_size=3, n_classes=10,
                                         lif=LIFParams(beta=0.9))).eval()
    nirio.export_nir(m, tmp_path / "conv.nir")
    metrics = import_run(tmp_path / "conv.nir", tmp_path / "run", num_steps=8)
    run = load_run(tmp_path / "run")
    assert run.cfg.model.kind == "spiking_conv" and run.cfg.model.channels == (4, 6) and run.model.config == m.config
    acc, _, _ = evaluate(run.model, run.data.x_eval, run.data.y_eval, run.cfg, backend="torch")
    assert metrics["test_accuracy_torch"] == acc and metrics["agreement_torch_numba"] >= 0.99


def test_imported_run_fine_tunes_with_train_resume(tmp_path):
    torch.manual_seed(0)
    m = SpikingMLP(SpikingMLPConfig(sizes=(64, 32, 10), lif=LIFParams(beta=0.9)))
    nirio.export_nir(m, tmp_path / "m.nir")
    run = tmp_path / "ft"
    assert main(["import", str(tmp_path / "m.nir"), "--out", str(run)]) == 0
    before = json.loads((run / "metrics.json").read_text())
    assert main(["train", str(run / "config.toml"), "--out", str(run), "--resume", "--quiet", "--set", "train.epochs=2",
                 "--set", "train.lr=2e-3", "--set", "train.batch_size=64",
                 "--set", 'train.eval_backends=["torch"]']) == 0
    after = json.loads((run / "metrics.json").read_text())
    assert after["epochs"] == 2 and after["rule"] == "surrogate_bptt"
    assert after["test_accuracy"] > before["test_accuracy"] + 0.3  # measured 0.078 -> 0.574 after 2 epochs

"""Open a run folder written by ``neuro train``: its resolved config, trained model and data.

Later stages (``neuro hw build``, ``neuro energy report``) start from a run folder; this is the one
place that turns ``RUN_DIR/config.toml`` + ``RUN_DIR/checkpoint.pt`` back into a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from neuro.errors import ConfigError
from neuro.train import checkpoint
from neuro.train.config import RunConfig, load_config


@dataclass
class LoadedRun:
    """A trained run: ``cfg`` (RunConfig), ``model`` (eval mode, CPU), ``data`` (trainer.Prepared),
    ``metrics`` (``metrics.json`` as a dict, empty when the run has none)."""

    path: Path
    cfg: RunConfig
    model: torch.nn.Module
    data: object
    metrics: dict


def load_run(run_dir: str | Path, *, need_data: bool = True) -> LoadedRun:
    """Load ``run_dir``; ConfigError naming the expected file when it is not a run folder."""
    import json

    from neuro.train.trainer import build_model, prepare_data

    run = Path(run_dir)
    for name in ("config.toml", "checkpoint.pt"):
        if not (run / name).is_file():
            raise ConfigError(f"{str(run / name)!r} does not exist; allowed: a run folder written by "
                              "`neuro train` (it holds config.toml and checkpoint.pt). Train first, e.g. "
                              "`neuro train examples/configs/snn_mlp_digits.toml --out runs/X`.")
    cfg = load_config(run / "config.toml")
    if cfg.train.rule != "backprop":
        raise ConfigError(f"the run in {str(run)!r} was trained with train.rule={cfg.train.rule!r}; its checkpoint "
                          "holds that rule's own state, not a `model` network. Allowed: runs of train.rule='backprop' "
                          "(surrogate-gradient SNNs and ANNs), which `neuro hw build` and `neuro energy report` read; "
                          "retrain the network with train.rule='backprop' to compile or report it.")
    data = prepare_data(cfg) if need_data else None
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    arch = ckpt.get("architecture", {})
    if data is not None:
        in_shape, n_classes = data.in_shape, data.n_classes
    else:
        in_shape, n_classes = _shape_from_architecture(cfg, arch)
    model = build_model(cfg, in_shape, n_classes)
    checkpoint.load(run / "checkpoint.pt", model)
    model.load_state_dict(ckpt["model"])
    model.eval()
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return LoadedRun(run, cfg, model, data, metrics)


def _shape_from_architecture(cfg: RunConfig, arch: dict) -> tuple[tuple[int, ...], int]:
    """Input shape and class count of an MLP from the checkpoint's parameter shapes."""
    weights = [v for k, v in arch.items() if k.endswith("weight")]
    if not weights or cfg.model.kind.endswith("conv"):
        raise ConfigError("cannot infer the input shape of this run without its dataset; load it with need_data=True.")
    return (weights[0][1],), weights[-1][0]

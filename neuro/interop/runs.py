"""Run folders from NIR files and back: what ``neuro import`` and ``neuro export`` do.

``import_run(MODEL.nir, out, dataset=...)`` writes a run folder like ``neuro train`` does, so the
later stages (``neuro hw build``, ``neuro energy report``) take it unchanged::

    out/  config.toml  checkpoint.pt  metrics.json  model.nir  [model.neuroforge.json]

``config.toml`` is a validated ``RunConfig`` (model.kind, hidden sizes, beta, v_th, reset, readout
from the graph; data.* from the side-car or the arguments); ``checkpoint.pt`` has the trainer's
keys (``model``, ``architecture``, ``config``, ``epoch`` = 0, ``history`` = [], ``wall_s``, and a
fresh ``optimizer`` / ``scheduler`` / ``rng``, so ``neuro train RUN/config.toml --out RUN --resume``
fine-tunes the imported network) plus ``imported_from``; ``metrics.json`` holds the test accuracy on every backend of
``train.eval_backends`` (torch and numba) and their agreement. The folder is assembled under a
temporary name and renamed, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time
from pathlib import Path


from neuro.errors import ConfigError, DataError
from neuro.interop import nir as nirio

#: Files ``import_run`` writes (the side-car only when the source has one).
RUN_FILES = ("config.toml", "checkpoint.pt", "metrics.json", "model.nir")


def _config(imp: nirio.ImportedNetwork, dataset: str, encoding: str, num_steps: int, gain: float, seed: int,
            readout: str | None = None):
    from neuro.train.config import RunConfig, from_dict

    m = imp.model
    p = m.config.params
    model = {"kind": imp.kind, "neuron": "lif", "beta": float(p.beta), "v_th": float(p.v_th), "reset": p.reset,
             "refractory_steps": int(p.refractory_steps), "surrogate": p.surrogate,
             "surrogate_slope": float(p.surrogate_slope or 0.0), "readout": readout or m.config.readout}
    if imp.kind == "spiking_mlp":
        model["hidden"] = list(m.config.sizes[1:-1])
    else:
        c = m.config
        if c.pad != c.kernel_size // 2 or c.pool != 2:
            raise ConfigError(f"the imported conv net has padding {c.pad} and pool {c.pool}; a run folder allowed: "
                              f"padding = kernel_size // 2 = {c.kernel_size // 2} and pool = 2 (model.kind = "
                              "\"spiking_conv\" has no keys for them). Use neuro.interop.nir.from_nir directly.")
        model.update(channels=list(c.channels), kernel_size=c.kernel_size)
    data = {"name": dataset, "encoding": encoding, "num_steps": num_steps, "gain": gain}
    return from_dict(RunConfig, {"data": data, "model": model, "train": {"seed": seed}})


def _known_shape(name: str, kind: str) -> tuple[tuple[int, ...], int]:
    """One sample's model input shape and the class count of a built-in dataset, without loading it."""
    from neuro.data.datasets import IDX_SOURCES

    src = IDX_SOURCES.get(name)
    (h, w), n = (src.image_shape, len(src.classes)) if src is not None else ((8, 8), 10)  # digits
    return ((h * w,) if kind == "spiking_mlp" else (1, h, w)), n


def _check_shape(name: str, model_in: tuple, n_out: int, data_in: tuple, n_classes: int) -> None:
    if tuple(data_in) != tuple(model_in) or n_classes != n_out:
        raise DataError(f"the NIR network takes inputs {tuple(model_in)} and has {n_out} outputs, but dataset "
                        f"{name!r} has samples {tuple(data_in)} and {n_classes} classes; allowed: a dataset of that "
                        "shape. Pass --dataset (digits: 64 features, mnist / fashion_mnist: 784).")


def import_run(nir_path: str | Path, out: str | Path, *, dataset: str | None = None, encoding: str | None = None,
               num_steps: int | None = None, gain: float | None = None, dt: float | None = None, seed: int = 0,
               readout: str | None = None) -> dict:
    """Import ``nir_path`` into the new run folder ``out`` and return its metrics.

    Data settings default to the side-car's ``data`` table (written by ``neuro export``), else to
    ``digits`` / ``rate`` / 25 steps / gain 1. ``dt``: see ``neuro.interop.nir.from_nir``.
    ``readout``: class scores from the output layer (default: the side-car's, else membrane_mean).
    ``seed``: ``train.seed`` (the evaluation's rate-coding spikes use seed + 1, as the trainer's).
    """
    import torch

    from neuro.io import write_json, write_text
    from neuro.train import checkpoint
    from neuro.train.config import to_dict, to_toml
    from neuro.train.trainer import backend_metrics, build_model, make_optimizer, prepare_data

    t0 = time.perf_counter()
    src, out = Path(nir_path), Path(out)
    if (out / "checkpoint.pt").exists() or (out.exists() and any(out.iterdir())):
        raise ConfigError(f"--out {str(out)!r} already exists and is not empty; allowed: a new or empty folder. "
                          "Choose another --out or delete the old run.")
    imp = nirio.from_nir(src, dt=dt)
    sd = dict(imp.sidecar.get("data") or {})
    cfg = _config(imp, dataset or sd.get("name", "digits"), encoding or sd.get("encoding", "rate"),
                  int(num_steps or sd.get("num_steps", 25)), float(gain if gain is not None else sd.get("gain", 1.0)),
                  seed, readout)
    model_in = tuple(imp.model.config.sizes[:1]) if imp.kind == "spiking_mlp" else imp.model.config.in_shape
    n_out = imp.model.config.sizes[-1] if imp.kind == "spiking_mlp" else imp.model.config.n_classes
    _check_shape(cfg.data.name, model_in, n_out, *_known_shape(cfg.data.name, imp.kind))  # before any download
    data = prepare_data(cfg)
    _check_shape(cfg.data.name, model_in, n_out, tuple(data.in_shape), data.n_classes)
    model = build_model(cfg, data.in_shape, data.n_classes)
    model.load_state_dict(imp.model.state_dict())
    if model.config.params != imp.model.config.params:  # the config round trip must not move beta or v_th
        raise ConfigError(f"internal: config rebuilt {model.config.params} from {imp.model.config.params}.")
    model.eval()
    m = {"dataset": cfg.data.name, "model": cfg.model.kind, "rule": "imported_nir", "backend": "torch",
         "device": "cpu", "epochs": 0, "params": sum(p.numel() for p in model.parameters()),
         "eval_split": data.eval_split, "n_train": len(data.x_train), "n_eval": len(data.x_eval),
         "imported_from": str(src), "nir_dt": imp.dt, "import_notes": imp.notes}
    m.update(backend_metrics(model, data, cfg))
    m["wall_s"] = round(time.perf_counter() - t0, 2)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        # a fresh optimizer, scheduler and RNG state as the trainer makes them, so that
        # `neuro train RUN/config.toml --out RUN --resume` fine-tunes the imported weights
        opt, sched = make_optimizer(model, cfg, math.ceil(len(data.x_train) / cfg.train.batch_size))
        gen = torch.Generator().manual_seed(cfg.train.seed)
        checkpoint.save(tmp / "checkpoint.pt", model=model.state_dict(), architecture=checkpoint.architecture(model),
                        config=to_dict(cfg), epoch=0, history=[], wall_s=m["wall_s"], optimizer=opt.state_dict(),
                        scheduler=sched.state_dict(), rng=checkpoint.rng_state(gen),
                        imported_from={"nir": str(src), "sha256": digest, "dt": imp.dt, "notes": imp.notes})
        write_text(tmp / "config.toml", to_toml(cfg))
        write_json(tmp / "metrics.json", m)
        shutil.copyfile(src, tmp / "model.nir")
        side = nirio.sidecar_path(src)
        if side.is_file():
            shutil.copyfile(side, nirio.sidecar_path(tmp / "model.nir"))
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return m


def export_run(run_dir: str | Path, out: str | Path | None = None, dt: float = nirio.DEFAULT_DT) -> Path:
    """Write the trained spiking model of ``run_dir`` to ``out`` (default ``RUN_DIR/model.nir``) with
    its side-car (readout, neuron extras and the run's data encoding). Returns the .nir path."""
    from neuro.train.config import load_config
    from neuro.train.run import load_run

    run = Path(run_dir)
    if not (run / "config.toml").is_file():
        raise ConfigError(f"{str(run / 'config.toml')!r} does not exist; allowed: a run folder written by "
                          "`neuro train` or `neuro import`.")
    cfg = load_config(run / "config.toml")
    if not cfg.model.spiking:
        raise ConfigError(f"run {str(run)!r} holds model.kind={cfg.model.kind!r}; allowed for NIR export: "
                          "spiking_mlp, spiking_conv (NIR describes spiking networks).")
    loaded = load_run(run, need_data=cfg.model.kind.endswith("conv"))
    path = Path(out) if out is not None else run / "model.nir"
    d = cfg.data
    nirio.export_nir(loaded.model, path, dt=dt, data={"name": d.name, "encoding": d.encoding,
                                                       "num_steps": d.num_steps, "gain": d.gain})
    return path

"""The trainer of the forward-forward rules (``train.rule`` = ``ff``, ``ff_unsup``, ``ff_spiking``,
``ff_model_free``), reached through ``neuro train`` (``neuro.train.trainer.RULE_TRAINERS``).

Per batch, each layer is updated from its own local FF loss (``neuro.rules.ff``) on positive and
negative data; the linear readout is trained alongside on detached features. One checkpoint per
epoch (model, both optimizers, scheduler, every RNG, history), so ``--resume`` continues exactly.

Run folder: ``config.toml checkpoint.pt metrics.json history.csv curves.png goodness.png``
(``goodness.png``: mean goodness of positive and negative data per layer and epoch).

Negatives: ``ff`` / ``ff_spiking`` / ``ff_model_free`` embed the true label in positives and a wrong
label in negatives (``ff.negatives``: drawn from the current goodness, or uniformly); ``ff_unsup``
uses hybrid images (masked mixtures of two images) and no label.

Resume is bit for bit, except for ``ff_model_free`` with a noisy physical layer: its measurement
noise comes from the black box's own generator, which is not part of the checkpoint (like a real
device's noise).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro.device import resolve_device
from neuro.errors import ConfigError, TrainingError
from neuro.io import atomic_path, write_json, write_csv, write_text
from neuro.rules import ff as ffr
from neuro.train import checkpoint
from neuro.train.config import RunConfig, to_dict, to_toml

FF_RULES = ("ff", "ff_unsup", "ff_spiking", "ff_model_free")


def ff_params(cfg: RunConfig) -> ffr.FFParams:
    f = cfg.ff
    return ffr.FFParams(theta=f.theta, goodness=f.goodness, peer=f.peer, momentum=f.momentum, scale=f.scale)


def check(cfg: RunConfig) -> None:
    """Raise ConfigError when the config does not fit an FF rule."""
    rule, kind = cfg.train.rule, cfg.model.kind
    want = "spiking_mlp" if rule == "ff_spiking" else "ann_mlp"
    if kind != want:
        raise ConfigError(f"train.rule={rule!r} needs model.kind={want!r}; got {kind!r}. Set model.kind = \"{want}\" "
                          "(FF nets are MLPs; model.hidden gives the layer widths).")
    if rule == "ff_spiking" and cfg.ff.backend == "numba":
        raise ConfigError("ff.backend='numba' cannot train ff_spiking (LIF layers use in-layer surrogate "
                          "gradients); allowed: torch, autograd.")


def build_ff_model(cfg: RunConfig, in_features: int, n_classes: int):
    from neuro.models import ff as ffm

    p, f, hidden = ff_params(cfg), cfg.ff, list(cfg.model.hidden)
    kw = dict(supervised=cfg.train.rule != "ff_unsup", label_scale=f.label_scale, readout_from=f.readout_from)
    if cfg.train.rule == "ff_spiking":
        from neuro.models.factory import neuron_params

        lif = neuron_params(cfg.model)
        return ffm.SpikingFFNet(in_features, hidden, n_classes, p, lif, cfg.data.num_steps,
                                spike_goodness=f.spike_goodness, **kw)
    if cfg.train.rule == "ff_model_free":
        widths = [in_features + n_classes, *hidden[:-1]]
        names = [f.physical[i % len(f.physical)] for i in range(len(hidden))]
        kw["physical"] = [None if nm == "none" else ffm.PHYSICAL[nm](w, f.phys_seed + i, f.phys_noise)
                          for i, (nm, w) in enumerate(zip(names, widths))]
    return ffm.FFNet(in_features, hidden, n_classes, p, **kw)


def _image_shape(cfg: RunConfig, in_features: int) -> tuple[int, int]:
    side = int(round(math.sqrt(in_features)))
    if side * side != in_features:
        raise ConfigError(f"ff_unsup needs square images for its hybrid negatives; {in_features} features is not one.")
    return side, side


@torch.no_grad()
def evaluate_ff(model, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 1000) -> dict:
    """Accuracy by goodness over labels (supervised nets) and by the linear readout."""
    model.eval()
    out = {}
    for by in (("goodness", "readout") if model.supervised else ("readout",)):
        pred = torch.cat([model.predict(x[lo:lo + batch_size].to(device), by=by).cpu()
                          for lo in range(0, len(x), batch_size)])
        out[by] = float((pred == y).float().mean())
    model.train()
    return out


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    """Train an FF rule into run folder ``out``; returns ``metrics.json``'s content (same contract as
    ``neuro.train.trainer.train``)."""
    from neuro.train.trainer import make_optimizer, prepare_data, resume_from, run_folder

    if cfg.train.rule not in FF_RULES:
        raise ConfigError(f"train.rule={cfg.train.rule!r} is not a forward-forward rule; allowed: {', '.join(FF_RULES)}.")
    check(cfg)
    out, ckpt_path = run_folder(out, resume)
    device = resolve_device(cfg.train.device)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    data = prepare_data(cfg)
    n_in, C = data.in_shape[0], data.n_classes
    model = build_ff_model(cfg, n_in, C)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    steps = math.ceil(len(data.x_train) / cfg.train.batch_size)
    ff_params_ = [p for layer in model.layers for p in layer.parameters()]
    opt, sched = make_optimizer(ff_params_, cfg, steps)
    ropt = torch.optim.Adam(model.readout.parameters(), lr=cfg.ff.readout_lr)
    history: list[dict] = []
    start_epoch, wall_before = 1, 0.0
    if resume:
        ckpt = resume_from(ckpt_path, cfg, model, opt, sched, gen)
        ropt.load_state_dict(ckpt["readout_optimizer"])
        history, start_epoch, wall_before = ckpt["history"], ckpt["epoch"] + 1, ckpt["wall_s"]
    model.to(device)
    unsup = cfg.train.rule == "ff_unsup"
    shape = _image_shape(cfg, n_in) if unsup else None
    primary = "readout" if unsup else cfg.ff.eval_by
    backend = "autograd" if cfg.train.rule == "ff_spiking" and cfg.ff.backend == "torch" else cfg.ff.backend
    t_start = time.perf_counter()
    bar = tqdm(range(start_epoch, cfg.train.epochs + 1), desc=f"train {cfg.train.rule}", unit="epoch",
               disable=not progress, initial=start_epoch - 1, total=cfg.train.epochs)
    n_layers = len(model.layers)
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(len(data.x_train), generator=gen)
        sums = np.zeros((n_layers, 3))
        rsum = rcorrect = total = 0.0
        batches = tqdm(range(0, len(perm), cfg.train.batch_size), desc=f"epoch {epoch}", unit="batch",
                       leave=False, disable=not progress)
        for b, lo in enumerate(batches):
            idx = perm[lo:lo + cfg.train.batch_size]
            xb, yb = data.x_train[idx].to(device), data.y_train[idx].to(device)
            if unsup:
                x_pos, x_neg = xb, ffr.hybrid_negatives(xb.cpu(), shape, gen, cfg.ff.blur_steps).to(device)
            else:
                scores = model.goodness_per_label(xb) if cfg.ff.negatives == "hard" else None
                yn = ffr.wrong_labels(yb, C, gen, scores)
                x_pos, x_neg = model.prepare_input(xb, yb), model.prepare_input(xb, yn)
            stats = model.ff_step(x_pos, x_neg, backend)
            losses = [s["loss"] for s in stats]
            if not all(math.isfinite(v) for v in losses):
                raise TrainingError(f"FF loss is {losses} at epoch {epoch}, batch {b + 1}; the last good checkpoint "
                                    f"(epoch {epoch - 1}) is kept in {str(out)!r}. Lower train.lr (now {cfg.train.lr}) "
                                    "or ff.theta.")
            opt.step()
            sched.step()
            # the linear readout: one softmax layer on detached, normalised activities (neutral label)
            feats = model.features(xb)
            with torch.enable_grad():
                logits = model.readout(feats)
                rloss = torch.nn.functional.cross_entropy(logits, yb)
                ropt.zero_grad(set_to_none=True)
                rloss.backward()
            ropt.step()
            sums += np.array([[s["loss"], s["g_pos"], s["g_neg"]] for s in stats]) * len(idx)
            rsum += float(rloss.detach()) * len(idx)
            rcorrect += float((logits.argmax(1) == yb).sum())
            total += len(idx)
            batches.set_postfix(ff_loss=f"{sums[:, 0].sum() / total:.4f}", readout_acc=f"{rcorrect / total:.3f}")
        ev = evaluate_ff(model, data.x_eval, data.y_eval, device)
        row = {"epoch": epoch, "loss": float(sums[:, 0].sum() / total), "readout_loss": rsum / total,
               "train_accuracy": rcorrect / total, "eval_accuracy": ev[primary],
               "eval_accuracy_readout": ev["readout"], "eval_accuracy_goodness": ev.get("goodness"),
               "lr": opt.param_groups[0]["lr"], "epoch_s": time.perf_counter() - t0}
        for i in range(n_layers):
            row[f"g_pos_{i}"], row[f"g_neg_{i}"] = sums[i, 1] / total, sums[i, 2] / total
        history.append(row)
        wall = wall_before + time.perf_counter() - t_start
        checkpoint.save(ckpt_path, model=model.state_dict(), optimizer=opt.state_dict(),
                        readout_optimizer=ropt.state_dict(), scheduler=sched.state_dict(),
                        rng=checkpoint.rng_state(gen), epoch=epoch, history=history, wall_s=wall,
                        config=to_dict(cfg), architecture=checkpoint.architecture(model))
        if epoch == start_epoch:
            write_text(out / "config.toml", to_toml(cfg))
        write_csv(out / "history.csv", history, _history_fields(n_layers))
        bar.set_postfix(ff_loss=f"{row['loss']:.4f}", eval=f"{row['eval_accuracy']:.4f}")
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    wall = wall_before + time.perf_counter() - t_start
    last = history[-1]
    m = {"dataset": cfg.data.name, "model": cfg.model.kind, "rule": cfg.train.rule, "backend": backend,
         "device": str(device), "epochs": last["epoch"], "hidden": list(cfg.model.hidden),
         "train_accuracy": last["train_accuracy"], "test_accuracy": last["eval_accuracy"],
         "test_accuracy_readout": last["eval_accuracy_readout"], "eval_by": primary,
         "params": sum(p.numel() for p in model.parameters()), "wall_s": round(wall, 2),
         "eval_split": data.eval_split, "n_train": len(data.x_train), "n_eval": len(data.x_eval)}
    if last["eval_accuracy_goodness"] is not None:
        m["test_accuracy_goodness"] = last["eval_accuracy_goodness"]
    write_json(out / "metrics.json", m)
    from neuro.train.trainer import plot_history

    plot_history(history, out / "curves.png", title=f"{cfg.train.rule} {list(cfg.model.hidden)} on {cfg.data.name}")
    plot_goodness(history, n_layers, out / "goodness.png", cfg.ff.theta,
                  title=f"{cfg.train.rule}: goodness of positive vs negative data")
    return m


def _history_fields(n_layers: int) -> list[str]:
    return ["epoch", "loss", "readout_loss", "train_accuracy", "eval_accuracy", "eval_accuracy_readout",
            "eval_accuracy_goodness", "lr", "epoch_s"] + [f"g_{s}_{i}" for i in range(n_layers) for s in ("pos", "neg")]


def plot_goodness(history: list[dict], n_layers: int, path: Path, theta: float, title: str = "") -> None:
    """Per-layer mean goodness of positive (solid) and negative (dashed) data per epoch, with theta."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    fig, ax = plt.subplots(1, n_layers, figsize=(3.2 * n_layers, 3.0), squeeze=False)
    for i in range(n_layers):
        a = ax[0, i]
        a.plot(ep, [r[f"g_pos_{i}"] for r in history], marker="o", label="positive")
        a.plot(ep, [r[f"g_neg_{i}"] for r in history], marker="s", ls="--", label="negative")
        a.axhline(theta, color="gray", lw=0.8, label="theta")
        a.set(xlabel="epoch", ylabel="mean goodness", title=f"layer {i}")
        a.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

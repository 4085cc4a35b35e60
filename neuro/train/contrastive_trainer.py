"""The trainer of the contrastive Hebbian rules (``train.rule`` = ``ep``, ``chl``, ``dualprop``),
reached through ``neuro train`` (``neuro.train.trainer.RULE_TRAINERS``).

Model: ``model.kind = "ann_mlp"`` with ``model.hidden`` (layers ``n_in -> hidden... -> n_classes``).
Per batch the rule (``neuro.rules.contrastive``) returns gradient estimates from its phases alone
(no autograd anywhere); they are handed to the configured optimizer as ``.grad``. EP and CHL predict
with the free phase's output; dual propagation with its forward pass (a ReLU MLP). One checkpoint
per epoch (model, optimizer, scheduler, RNG, history), so ``--resume`` continues exactly.

Run folder: ``config.toml checkpoint.pt metrics.json history.csv curves.png``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from neuro.device import resolve_device
from neuro.errors import ConfigError, TrainingError
from neuro.io import write_json, write_csv, write_text
from neuro.rules import contrastive as cr
from neuro.train import checkpoint
from neuro.train.config import RunConfig, to_dict, to_toml

RULES = ("ep", "chl", "dualprop")

HISTORY_FIELDS = ("epoch", "loss", "train_accuracy", "eval_accuracy", "lr", "epoch_s")


class ContrastiveNet(nn.Module):
    """Weights and biases of a layered net ``n_in -> hidden... -> n_out`` (``nn.Linear`` per layer,
    Glorot-uniform times ``gain``); the rules read ``weights``/``biases`` and never build a graph."""

    def __init__(self, sizes: list[int], gain: float = 1.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)

    @property
    def weights(self) -> list[torch.Tensor]:
        return [layer.weight.detach() for layer in self.layers]

    @property
    def biases(self) -> list[torch.Tensor]:
        return [layer.bias.detach() for layer in self.layers]

    @torch.no_grad()
    def scores(self, x: torch.Tensor, rule: str, p: cr.EPParams) -> torch.Tensor:
        """Class scores: the free phase's output (EP/CHL) or the forward pass's logits (DP)."""
        if rule == "dualprop":
            h = x
            for i, layer in enumerate(self.layers):
                h = layer(h)
                if i < len(self.layers) - 1:
                    h = torch.relu(h)
            return h
        states = [x.new_zeros(x.shape[0], w.shape[0]) for w in self.weights]
        return cr.ep_settle(x, states, self.weights, self.biases, p.free_steps)[-1]


def rule_params(cfg: RunConfig):
    c = cfg.contrastive
    if cfg.train.rule == "dualprop":
        return cr.DPParams(beta=c.beta, alpha=c.alpha)
    return cr.EPParams(beta=c.beta, free_steps=c.free_steps, nudged_steps=c.nudged_steps, centered=c.centered,
                       clamp=cfg.train.rule == "chl")


@torch.no_grad()
def evaluate(model: ContrastiveNet, x, y, rule: str, p, device, batch_size: int = 1000) -> float:
    pred = torch.cat([model.scores(x[lo:lo + batch_size].to(device), rule, p).argmax(1).cpu()
                      for lo in range(0, len(x), batch_size)])
    return float((pred == y).float().mean())


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    """Train a contrastive rule into run folder ``out``; returns ``metrics.json``'s content."""
    from neuro.train.trainer import make_optimizer, plot_history, prepare_data, resume_from, run_folder

    rule = cfg.train.rule
    if rule not in RULES:
        raise ConfigError(f"train.rule={rule!r} is not a contrastive rule; allowed: {', '.join(RULES)}.")
    if cfg.model.kind != "ann_mlp":
        raise ConfigError(f"train.rule={rule!r} needs model.kind=\"ann_mlp\"; got {cfg.model.kind!r}. "
                          "Set model.kind = \"ann_mlp\" (model.hidden gives the layer widths).")
    backend = cfg.contrastive.backend
    device = resolve_device(cfg.train.device)
    if backend == "numba" and device.type != "cpu":
        raise ConfigError(f"contrastive.backend='numba' runs on CPU; train.device resolves to {device}. "
                          "Set train.device = \"cpu\" or contrastive.backend = \"torch\".")
    out, ckpt_path = run_folder(out, resume)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    data = prepare_data(cfg)
    n_in, C = data.in_shape[0], data.n_classes
    p = rule_params(cfg)
    model = ContrastiveNet([n_in, *cfg.model.hidden, C], cfg.contrastive.init_gain)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    steps = math.ceil(len(data.x_train) / cfg.train.batch_size)
    opt, sched = make_optimizer(model, cfg, steps)
    history: list[dict] = []
    start_epoch, wall_before = 1, 0.0
    if resume:
        ckpt = resume_from(ckpt_path, cfg, model, opt, sched, gen)
        history, start_epoch, wall_before = ckpt["history"], ckpt["epoch"] + 1, ckpt["wall_s"]
    model.to(device)
    t_start = time.perf_counter()
    bar = tqdm(range(start_epoch, cfg.train.epochs + 1), desc=f"train {rule}", unit="epoch", disable=not progress,
               initial=start_epoch - 1, total=cfg.train.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(len(data.x_train), generator=gen)
        loss_sum = correct = total = 0.0
        batches = tqdm(range(0, len(perm), cfg.train.batch_size), desc=f"epoch {epoch}", unit="batch", leave=False,
                       disable=not progress)
        for b, lo in enumerate(batches):
            idx = perm[lo:lo + cfg.train.batch_size]
            xb, yb = data.x_train[idx].to(device), data.y_train[idx].to(device)
            if backend == "numba":
                xb = xb.contiguous()
            if rule == "dualprop":
                grads, scores = cr.dp_grads(xb, yb, model.weights, model.biases, p, backend=backend)
                loss = torch.nn.functional.cross_entropy(scores, yb)
            else:
                target = torch.nn.functional.one_hot(yb, C).to(xb.dtype)
                grads, free = cr.ep_grads(xb, target, model.weights, model.biases, p, backend=backend)
                scores = free[-1]
                loss = 0.5 * ((scores - target) ** 2).sum(1).mean()
            if not math.isfinite(float(loss)):
                raise TrainingError(f"{rule} loss is {float(loss)} at epoch {epoch}, batch {b + 1}; the last good "
                                    f"checkpoint (epoch {epoch - 1}) is kept in {str(out)!r}. Lower train.lr "
                                    f"(now {cfg.train.lr}) or contrastive.beta.")
            for layer, (gw, gb) in zip(model.layers, grads):
                layer.weight.grad, layer.bias.grad = gw.to(device), gb.to(device)
            opt.step()
            sched.step()
            loss_sum += float(loss) * len(idx)
            correct += float((scores.argmax(1) == yb).sum())
            total += len(idx)
            batches.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.3f}")
        acc = evaluate(model, data.x_eval, data.y_eval, rule, p, device)
        row = {"epoch": epoch, "loss": loss_sum / total, "train_accuracy": correct / total, "eval_accuracy": acc,
               "lr": opt.param_groups[0]["lr"], "epoch_s": time.perf_counter() - t0}
        history.append(row)
        wall = wall_before + time.perf_counter() - t_start
        checkpoint.save(ckpt_path, model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                        rng=checkpoint.rng_state(gen), epoch=epoch, history=history, wall_s=wall,
                        config=to_dict(cfg), architecture=checkpoint.architecture(model))
        if epoch == start_epoch:
            write_text(out / "config.toml", to_toml(cfg))
        write_csv(out / "history.csv", history, HISTORY_FIELDS)
        bar.set_postfix(loss=f"{row['loss']:.4f}", eval=f"{acc:.4f}")
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    wall = wall_before + time.perf_counter() - t_start
    last = history[-1]
    m = {"dataset": cfg.data.name, "model": cfg.model.kind, "rule": rule, "backend": backend, "device": str(device),
         "epochs": last["epoch"], "hidden": list(cfg.model.hidden), "train_accuracy": last["train_accuracy"],
         "test_accuracy": last["eval_accuracy"], "params": sum(q.numel() for q in model.parameters()),
         "wall_s": round(wall, 2), "eval_split": data.eval_split, "n_train": len(data.x_train),
         "n_eval": len(data.x_eval)}
    write_json(out / "metrics.json", m)
    plot_history(history, out / "curves.png", title=f"{rule} {list(cfg.model.hidden)} on {cfg.data.name}")
    return m



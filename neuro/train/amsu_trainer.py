"""The trainer of the recurrent AM-SU sequence classifier (``train.rule = "amsu"``), reached through
``neuro train`` (``neuro.train.trainer.RULE_TRAINERS``).

Images become sequences (``amsu.sequence``: ``"rows"``, e.g. sequential MNIST by rows, 28 steps of 28
pixels; or ``"pixels"``), times ``data.gain``; the net (``neuro.models.amsu.AMSUNet``, ``model.hidden =
[H]``) is trained by surrogate-gradient BPTT with cross-entropy on its logits. ``amsu.astro = false``
trains the plain recurrent LIF layer of the same size for comparison. One checkpoint per epoch (model,
optimizer, scheduler, RNG, history), so ``--resume`` continues exactly; the final model is evaluated
on every ``train.eval_backends`` (torch, and the Numba kernel ``kernels/amsu.py``) with their agreement.

Run folder: ``config.toml checkpoint.pt metrics.json history.csv curves.png``.
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
from neuro.io import write_json, write_csv, write_text
from neuro.models.amsu import AMSUNet, to_sequence
from neuro.neurons.amsu import AMSUParams
from neuro.train import checkpoint
from neuro.train.config import RunConfig, to_dict, to_toml

HISTORY_FIELDS = ("epoch", "loss", "train_accuracy", "eval_accuracy", "spike_rate", "lr", "epoch_s")


def build_net(cfg: RunConfig, n_in: int, n_classes: int) -> AMSUNet:
    """``AMSUNet`` from ``[model]`` (hidden, neuron constants) and ``[amsu]``."""
    m, a = cfg.model, cfg.amsu
    if len(m.hidden) != 1:
        raise ConfigError(f"model.hidden={list(m.hidden)} has {len(m.hidden)} entries; allowed: exactly 1 "
                          "(the width of the recurrent AM-SU layer), e.g. model.hidden = [128].")
    if m.kind != "spiking_mlp":
        raise ConfigError(f"train.rule='amsu' builds its own recurrent net; model.kind={m.kind!r} is not used by it. "
                          "Leave model.kind at \"spiking_mlp\" (the default).")
    p = AMSUParams(beta=m.beta, v_th=m.v_th, reset=m.reset, tau_astro=a.tau_astro, astro_gain=a.astro_gain,
                   feedback=a.feedback, surrogate=m.surrogate, surrogate_slope=m.surrogate_slope or None)
    return AMSUNet(n_in, m.hidden[0], n_classes, p, astro=a.astro, learn_gain=a.learn_gain, out_beta=a.out_beta,
                   readout=a.readout, rec_scale=a.rec_scale)


def sequences(x: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
    return to_sequence(x, cfg.amsu.sequence, cfg.data.gain)


@torch.no_grad()
def evaluate(model: AMSUNet, x, y, cfg: RunConfig, *, backend: str = "torch", device=torch.device("cpu"),
             batch_size: int = 500) -> tuple[float, np.ndarray, float]:
    """Accuracy, predictions and hidden spike rate on ``(x, y)`` (images ``[N, F]``)."""
    model.eval()
    preds, spikes, count = [], 0.0, 0
    for lo in range(0, len(x), batch_size):
        u = sequences(x[lo:lo + batch_size], cfg)
        out = model.run(u.to(device) if backend == "torch" else u.numpy(), backend)
        logits = out.logits.cpu().numpy() if isinstance(out.logits, torch.Tensor) else out.logits
        s = out.spikes
        spikes += float(s.sum())
        count += int(np.prod(s.shape))
        preds.append(logits.argmax(-1))
    pred = np.concatenate(preds)
    return float(np.mean(pred == y.numpy())), pred, spikes / max(count, 1)


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    """Train the recurrent AM-SU (or LIF, ``amsu.astro = false``) net into run folder ``out``."""
    from neuro.train.trainer import backend_metrics, make_optimizer, plot_history, prepare_data, resume_from, run_folder

    if cfg.train.rule != "amsu":
        raise ConfigError(f"train.rule={cfg.train.rule!r} is not handled here; allowed: amsu.")
    device = resolve_device(cfg.train.device)
    out, ckpt_path = run_folder(out, resume)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    data = prepare_data(cfg)
    n_in = sequences(data.x_train[:1], cfg).shape[-1]
    model = build_net(cfg, n_in, data.n_classes)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    steps = math.ceil(len(data.x_train) / cfg.train.batch_size)
    opt, sched = make_optimizer(model, cfg, steps)
    history: list[dict] = []
    start_epoch, wall_before = 1, 0.0
    if resume:
        ckpt = resume_from(ckpt_path, cfg, model, opt, sched, gen)
        history, start_epoch, wall_before = ckpt["history"], ckpt["epoch"] + 1, ckpt["wall_s"]
    model.to(device)
    name = "AM-SU" if cfg.amsu.astro else "recurrent LIF"
    t_start = time.perf_counter()
    bar = tqdm(range(start_epoch, cfg.train.epochs + 1), desc=f"train {name}", unit="epoch", disable=not progress,
               initial=start_epoch - 1, total=cfg.train.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(data.x_train), generator=gen)
        loss_sum = correct = total = 0.0
        batches = tqdm(range(0, len(perm), cfg.train.batch_size), desc=f"epoch {epoch}", unit="batch", leave=False,
                       disable=not progress)
        for b, lo in enumerate(batches):
            idx = perm[lo:lo + cfg.train.batch_size]
            u, yb = sequences(data.x_train[idx], cfg).to(device), data.y_train[idx].to(device)
            logits = model(u).logits
            loss = torch.nn.functional.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                raise TrainingError(f"loss is {float(loss.detach())} at epoch {epoch}, batch {b + 1}; the last good "
                                    f"checkpoint (epoch {epoch - 1}) is kept in {str(out)!r}. Lower train.lr "
                                    f"(now {cfg.train.lr}) or amsu.astro_gain.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.amsu.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.amsu.grad_clip)
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += float((logits.argmax(1) == yb).sum())
            total += len(idx)
            batches.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.3f}")
        acc, _, rate = evaluate(model, data.x_eval, data.y_eval, cfg, device=device)
        row = {"epoch": epoch, "loss": loss_sum / total, "train_accuracy": correct / total, "eval_accuracy": acc,
               "spike_rate": rate, "lr": opt.param_groups[0]["lr"], "epoch_s": time.perf_counter() - t0}
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
    model.cpu()
    last = history[-1]
    m = {"dataset": cfg.data.name, "model": "amsu_rnn" if cfg.amsu.astro else "lif_rnn", "rule": "surrogate_bptt",
         "astro": cfg.amsu.astro, "sequence": cfg.amsu.sequence, "device": str(device), "epochs": last["epoch"],
         "hidden": list(cfg.model.hidden), "train_accuracy": last["train_accuracy"],
         "params": sum(q.numel() for q in model.parameters()), "wall_s": round(wall, 2),
         "eval_split": data.eval_split, "n_train": len(data.x_train), "n_eval": len(data.x_eval)}
    if cfg.amsu.astro:
        g = model.layer.gain.detach()
        m.update(gain_mean=float(g.mean()), gain_min=float(g.min()), gain_max=float(g.max()))
    m.update(backend_metrics(model, data, cfg, evaluate))
    write_json(out / "metrics.json", m)
    plot_history(history, out / "curves.png", title=f"{name} {list(cfg.model.hidden)} on {cfg.data.name} "
                                                    f"({cfg.amsu.sequence})")
    return m



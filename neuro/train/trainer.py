"""The trainer behind ``neuro train``: surrogate-gradient BPTT for spiking models, backprop for
their ANN twins, one checkpoint per epoch, bit-for-bit resume, DDP, metrics and plots.

Run folder (written by rank 0; created only when the first epoch's checkpoint is saved, so a
run that fails before that leaves nothing behind)::

    config.toml  checkpoint.pt  metrics.json  history.csv  curves.png

Determinism: one ``torch.Generator`` seeded with ``train.seed`` draws every epoch's permutation
and every rate-coding spike; its state, the global RNGs, the optimizer and the scheduler are all
in the checkpoint, so ``--resume`` continues exactly where the run stopped.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro.data import encoding
from neuro.data.datasets import Dataset, load_splits
from neuro.device import resolve_device
from neuro.errors import ConfigError, DataError, TrainingError
from neuro.io import atomic_path, write_json, write_csv, write_text
from neuro.train import checkpoint, distributed
from neuro.train.config import RunConfig, to_dict, to_toml

HISTORY_FIELDS = ("epoch", "loss", "train_accuracy", "eval_accuracy", "spike_rate", "lr", "epoch_s")


@dataclass
class Prepared:
    """Data laid out for the model: inputs ``[N, F]`` (MLP) or ``[N, 1, H, W]`` (conv), float32."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor
    eval_split: str
    in_shape: tuple[int, ...]
    n_classes: int


def prepare_data(cfg: RunConfig) -> Prepared:
    """Load the dataset (train + val or test) and shape it for ``cfg.model.kind``."""
    splits = load_splits(cfg.data.name, val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    ev = splits.val if splits.val is not None else splits.test
    train, ev = _limit(splits.train, cfg.data.limit_train), _limit(ev, cfg.data.limit_test)
    for name, d in (("training", train), ("evaluation", ev)):
        if len(d) == 0:
            raise DataError(f"the {name} set of {cfg.data.name!r} is empty; allowed: at least 1 sample. "
                            "Check data.limit_train / data.limit_test and data.val_fraction.")
    conv = cfg.model.kind.endswith("conv")

    def lay(d: Dataset) -> torch.Tensor:
        x = np.array(d.images, dtype=np.float32)
        x = x.reshape(len(d), 1, *d.image_shape) if conv else x.reshape(len(d), -1)
        return torch.from_numpy(x)

    xt = lay(train)
    return Prepared(xt, torch.from_numpy(np.array(train.labels)), lay(ev), torch.from_numpy(np.array(ev.labels)),
                    "val" if splits.val is not None else "test", tuple(xt.shape[1:]), train.num_classes)


def _limit(d: Dataset, n: int) -> Dataset:
    return d if n <= 0 or n >= len(d) else d.subset(np.arange(n))


def encode(x: torch.Tensor, cfg: RunConfig, gen: torch.Generator | None) -> torch.Tensor:
    """``[B, ...]`` intensities -> ``[T, B, ...]`` model input (spiking models only)."""
    d = cfg.data
    if d.encoding == "rate":
        return encoding.rate(x, d.num_steps, gain=d.gain, seed=gen)
    if d.encoding == "latency":
        return encoding.latency(x, d.num_steps, normalize=True, linear=True)
    return (x * d.gain).unsqueeze(0).expand(d.num_steps, *x.shape).contiguous()  # direct current


def build_model(cfg: RunConfig, in_shape: tuple[int, ...], n_classes: int) -> torch.nn.Module:
    """The network ``cfg.model`` describes, for inputs of ``in_shape`` and ``n_classes`` outputs."""
    from neuro.models.factory import build

    return build(cfg.model, in_shape, n_classes)


def make_optimizer(params, cfg: RunConfig, steps_per_epoch: int):
    """``train.optimizer`` over ``params`` (a module or an iterable of tensors) and its per-step schedule."""
    t = cfg.train
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    if t.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs * steps_per_epoch)
    elif t.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=t.step_size * steps_per_epoch, gamma=t.gamma)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def restore_schedule(sched, state: dict) -> None:
    """Load a scheduler's saved ``state`` (its step) but keep the schedule the current config gives it.

    ``sched`` is the scheduler the trainer just built from the config. A run resumed with a larger
    ``train.epochs`` would otherwise keep the checkpoint's cosine ``T_max`` (or ``step_size``) and a
    new ``train.lr`` would be ignored. When the config's learning rate or horizon differs from the
    checkpoint's, the learning rates continue from the config's schedule in closed form at the saved
    step; with an unchanged config the state is restored exactly (bit-for-bit resume).
    """
    sch = torch.optim.lr_scheduler
    base = list(sched.base_lrs)
    shape = {k: getattr(sched, k) for k in ("T_max", "eta_min", "step_size", "gamma") if hasattr(sched, k)}
    sched.load_state_dict(state)
    if base == list(sched.base_lrs) and all(getattr(sched, k) == v for k, v in shape.items()):
        return
    sched.base_lrs = base
    for k, v in shape.items():
        setattr(sched, k, v)
    step = sched.last_epoch
    if isinstance(sched, sch.CosineAnnealingLR):
        c = (1 + math.cos(math.pi * min(step, sched.T_max) / sched.T_max)) / 2
        lrs = [sched.eta_min + (b - sched.eta_min) * c for b in base]
    elif isinstance(sched, sch.StepLR):
        lrs = [b * sched.gamma ** (step // sched.step_size) for b in base]
    elif isinstance(sched, sch.LambdaLR):
        lrs = [b * f(step) for b, f in zip(base, sched.lr_lambdas)]
    else:
        raise TrainingError(f"cannot re-derive the learning rate of a {type(sched).__name__} schedule; allowed: "
                            "CosineAnnealingLR, StepLR, LambdaLR. Resume with the run's own [train] settings.")
    for group, lr in zip(sched.optimizer.param_groups, lrs):
        group["lr"] = lr
    sched._last_lr = lrs


def resume_from(ckpt_path: Path, cfg: RunConfig, model, opt, sched, gen: torch.Generator) -> dict:
    """Load a checkpoint into the model, optimizer, scheduler and generator; the checkpoint dict.
    ConfigError when it already holds ``train.epochs`` epochs."""
    ckpt = checkpoint.load(ckpt_path, model)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    restore_schedule(sched, ckpt["scheduler"])
    checkpoint.restore_rng(ckpt["rng"], gen)
    if ckpt["epoch"] >= cfg.train.epochs:
        raise ConfigError(f"the run in {str(Path(ckpt_path).parent)!r} already finished {ckpt['epoch']} epochs; "
                          f"train.epochs={cfg.train.epochs} leaves nothing to do (raise it with --set).")
    return ckpt


def _loss_fn(cfg: RunConfig):
    if not cfg.model.spiking:
        return lambda model, out, y: torch.nn.functional.cross_entropy(out, y)
    from neuro.models.readout import get_loss

    loss = get_loss(cfg.train.loss, readout=cfg.model.readout)
    return lambda model, out, y: loss(out, y)


def _scores(model, out):
    return model.logits(out)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: RunConfig, *,
             backend: str = "torch", device: torch.device = torch.device("cpu"), batch_size: int = 256
             ) -> tuple[float, np.ndarray, float | None]:
    """Accuracy, predictions and hidden spike rate (None for an ANN) on ``(x, y)``. Spike encoding uses a generator
    seeded with ``train.seed + 1`` so every evaluation sees the same input spikes."""
    model.eval()
    gen = torch.Generator().manual_seed(cfg.train.seed + 1)
    preds, spikes, neurons = [], 0.0, 0
    for lo in range(0, len(x), batch_size):
        xb = x[lo:lo + batch_size]
        if cfg.model.spiking:
            xb = encode(xb, cfg, gen)
            if backend == "torch":
                out = model.run(xb.to(device), "torch")
            else:
                out = model.run(xb.numpy(), backend)
            scores = model.logits(out)
            for h in out.hidden_spikes:
                spikes += float(h.sum())
                neurons += int(np.prod(h.shape))
        else:
            if backend != "torch":
                raise ConfigError(f"backend={backend!r} cannot evaluate an ANN; allowed: torch.")
            scores = model(xb.to(device))
        preds.append(np.asarray(scores.cpu() if isinstance(scores, torch.Tensor) else scores).argmax(-1))
    pred = np.concatenate(preds)
    return float(np.mean(pred == y.numpy())), pred, (spikes / neurons if neurons else None)


def run_folder(out: str | Path, resume: bool) -> tuple[Path, Path]:
    """``(out, out/checkpoint.pt)``; ConfigError when ``out`` already holds a run and ``resume`` is off.
    Every trainer (``RULE_TRAINERS``) starts with it."""
    out = Path(out)
    ckpt_path = out / "checkpoint.pt"
    if not resume and ckpt_path.exists():
        raise ConfigError(f"--out {str(out)!r} already holds a run; pass --resume to continue it or choose "
                          "another --out folder.")
    return out, ckpt_path


#: ``train.rule`` -> the trainer of that learning rule (``module:function`` with ``train``'s signature);
#: ``"backprop"`` (surrogate BPTT / backprop) is the trainer below. Add one line per new rule.
RULE_TRAINERS: dict[str, str] = {
    "ff": "neuro.train.ff_trainer:train",
    "ff_unsup": "neuro.train.ff_trainer:train",
    "ff_spiking": "neuro.train.ff_trainer:train",
    "ff_model_free": "neuro.train.ff_trainer:train",
    "ep": "neuro.train.contrastive_trainer:train",
    "chl": "neuro.train.contrastive_trainer:train",
    "dualprop": "neuro.train.contrastive_trainer:train",
    "krotov": "neuro.train.hebbian_trainer:train",
    "softhebb": "neuro.train.hebbian_trainer:train",
    "amsu": "neuro.train.amsu_trainer:train",
    "nalsm": "neuro.train.nalsm_trainer:train",
}


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    """Train ``cfg`` into run folder ``out`` and return ``metrics.json``'s content.

    ``resume``: continue from ``out/checkpoint.pt`` (same architecture; ``train.epochs`` may grow).
    ``stop_after_epoch``: stop early after that epoch as if interrupted (for tests and scripts).
    """
    if cfg.train.rule != "backprop":
        import importlib

        module, _, fn = RULE_TRAINERS[cfg.train.rule].partition(":")
        return getattr(importlib.import_module(module), fn)(cfg, out, resume=resume, progress=progress,
                                                            stop_after_epoch=stop_after_epoch)
    out, ckpt_path = run_folder(out, resume)
    device = resolve_device(cfg.train.device)
    info = distributed.setup(device)
    device = distributed.local_device(device)
    try:
        return _train(cfg, out, ckpt_path, resume, progress, stop_after_epoch, device, info)
    finally:
        distributed.teardown(info)


def _train(cfg, out, ckpt_path, resume, progress, stop_after_epoch, device, info) -> dict:
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    data = prepare_data(cfg)
    model = build_model(cfg, data.in_shape, data.n_classes)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    n_local = len(data.x_train) // info.world
    steps = math.ceil(n_local / cfg.train.batch_size)
    opt, sched = make_optimizer(model, cfg, steps)
    history: list[dict] = []
    start_epoch, wall_before = 1, 0.0
    if resume:
        ckpt = resume_from(ckpt_path, cfg, model, opt, sched, gen)
        history, start_epoch, wall_before = ckpt["history"], ckpt["epoch"] + 1, ckpt["wall_s"]
    model.to(device)
    base = model
    if info.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model)
    loss_fn = _loss_fn(cfg)
    record = os.environ.get("NEURO_DDP_RECORD")
    seen: list[int] = []
    t_start = time.perf_counter()
    bar = tqdm(range(start_epoch, cfg.train.epochs + 1), desc="train", unit="epoch",
               disable=not (progress and info.is_main), initial=start_epoch - 1, total=cfg.train.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        idx_all = distributed.shard(torch.randperm(len(data.x_train), generator=gen), info)
        total = correct = 0
        loss_sum = 0.0
        batches = tqdm(range(0, len(idx_all), cfg.train.batch_size), desc=f"epoch {epoch}", unit="batch",
                       leave=False, disable=not (progress and info.is_main))
        for b, lo in enumerate(batches):
            idx = idx_all[lo:lo + cfg.train.batch_size]
            if record:
                seen.extend(idx.tolist())
            xb, yb = data.x_train[idx], data.y_train[idx]
            if cfg.model.spiking:
                xb = encode(xb, cfg, gen)
            xb, yb = xb.to(device), yb.to(device)
            outb = model(xb)
            loss = loss_fn(base, outb, yb)
            if not torch.isfinite(loss):
                last = f"the last good checkpoint (epoch {epoch - 1}) is kept in {str(out)!r}" if epoch > 1 \
                    else "no epoch finished, so no run folder was written"
                raise TrainingError(f"loss is {float(loss.detach())} at epoch {epoch}, batch {b + 1}; {last}. "
                                    f"Lower train.lr (now {cfg.train.lr}) or check the input data.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((_scores(base, outb).argmax(-1) == yb).sum())
            total += len(idx)
            batches.set_postfix(loss=f"{loss_sum / total:.4f}", acc=f"{correct / total:.4f}")
        row = {"epoch": epoch, "loss": loss_sum / total, "train_accuracy": correct / total,
               "lr": opt.param_groups[0]["lr"]}
        if info.is_main:
            acc, _, rate = evaluate(base, data.x_eval, data.y_eval, cfg, device=device)
            row.update(eval_accuracy=acc, spike_rate=rate, epoch_s=time.perf_counter() - t0)
            history.append(row)
            wall = wall_before + time.perf_counter() - t_start
            checkpoint.save(ckpt_path, model=base.state_dict(), optimizer=opt.state_dict(),
                            scheduler=sched.state_dict(), rng=checkpoint.rng_state(gen), epoch=epoch,
                            history=history, wall_s=wall, config=to_dict(cfg),
                            architecture=checkpoint.architecture(base))
            if epoch == start_epoch:
                write_text(out / "config.toml", to_toml(cfg))
            write_csv(out / "history.csv", history, HISTORY_FIELDS)
            bar.set_postfix(loss=f"{row['loss']:.4f}", train=f"{row['train_accuracy']:.4f}", eval=f"{acc:.4f}")
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    if record:
        _record(record, info, seen, base)
    if not info.is_main:
        return {}
    wall = wall_before + time.perf_counter() - t_start
    metrics = _final_metrics(cfg, base, data, history, wall, device)
    write_json(out / "metrics.json", metrics)
    plot_history(history, out / "curves.png", title=f"{cfg.model.kind} on {cfg.data.name}")
    return metrics


def _final_metrics(cfg, model, data: Prepared, history, wall, device) -> dict:
    model.cpu()
    m = {"dataset": cfg.data.name, "model": cfg.model.kind,
         "rule": "surrogate_bptt" if cfg.model.spiking else "backprop", "backend": "torch",
         "device": str(device), "epochs": history[-1]["epoch"], "train_accuracy": history[-1]["train_accuracy"],
         "params": sum(p.numel() for p in model.parameters()), "wall_s": round(wall, 2),
         "eval_split": data.eval_split, "n_train": len(data.x_train), "n_eval": len(data.x_eval)}
    if cfg.model.spiking:
        m.update(backend_metrics(model, data, cfg))
    else:
        m["test_accuracy"], _, _ = evaluate(model, data.x_eval, data.y_eval, cfg)
    return m


def backend_metrics(model, data: Prepared, cfg: RunConfig, evaluate_fn=None) -> dict:
    """A spiking model on the evaluation split, once per ``train.eval_backends``: accuracy and time per
    backend, ``test_accuracy`` (the first backend's), the spike rate and the backends' agreement.
    ``evaluate_fn``: a trainer's own ``evaluate`` with this module's signature (default: :func:`evaluate`)."""
    evaluate_fn = evaluate if evaluate_fn is None else evaluate_fn
    m: dict = {}
    preds = {}
    for backend in cfg.train.eval_backends:
        t0 = time.perf_counter()
        acc, preds[backend], rate = evaluate_fn(model, data.x_eval, data.y_eval, cfg, backend=backend)
        m[f"test_accuracy_{backend}"] = acc
        m[f"eval_s_{backend}"] = round(time.perf_counter() - t0, 3)
        m.setdefault("spike_rate", rate)
    first = cfg.train.eval_backends[0]
    m["test_accuracy"] = m[f"test_accuracy_{first}"]
    for b in cfg.train.eval_backends[1:]:
        m[f"agreement_{first}_{b}"] = float(np.mean(preds[first] == preds[b]))
    return m


def _record(folder: str, info, seen: list[int], model) -> None:
    """Under ``NEURO_DDP_RECORD``: each rank writes the sample indices it trained on and a
    parameter fingerprint, so a test can check disjoint shards and identical replicas."""
    flat = torch.cat([p.detach().cpu().flatten() for p in model.parameters()])
    write_json(Path(folder) / f"rank{info.rank}.json",
               {"rank": info.rank, "world": info.world, "seen": seen, "params": flat.tolist()})


def plot_history(history: list[dict], path: Path, title: str = "") -> None:
    """Loss and train/eval accuracy per epoch, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(ep, [r["loss"] for r in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel="training loss")
    ax[1].plot(ep, [r["train_accuracy"] for r in history], marker="o", label="train")
    ax[1].plot(ep, [r["eval_accuracy"] for r in history], marker="s", label="eval")
    ax[1].set(xlabel="epoch", ylabel="accuracy")
    ax[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

"""The trainer of the unsupervised Hebbian hidden layers (``train.rule`` = ``krotov``, ``softhebb``),
reached through ``neuro train`` (``neuro.train.trainer.RULE_TRAINERS``).

Model: ``model.kind = "ann_mlp"`` with one hidden width ``model.hidden = [K]``, or (softhebb only)
``model.kind = "ann_conv"``: one SoftHebb conv layer of ``model.channels[0]`` filters of
``model.kernel_size`` ("same" padding; every image patch, scaled to unit length, is a sample of the
rule; soft WTA over the filters at each position), triangle activation and ``hebbian.pool`` max-pooling
(Journé et al.'s conv block, without their batch norm). Two phases:

1. *hidden* (``hebbian.hidden_epochs`` epochs): the K units learn without labels with the rule's
   update (``neuro.rules.krotov`` / ``neuro.rules.softhebb``, torch or Numba backend), minibatches of
   ``hebbian.hidden_batch_size`` (last partial batch dropped), Krotov's rate decaying linearly to 0.
2. *top* (``train.epochs`` epochs): the hidden layer is frozen; a top layer on its features is trained
   with autograd and ``train.optimizer`` (Adam in the paper): Krotov & Hopfield's
   ``tanh(beta * S relu(h / s)**n)`` with loss ``mean_b sum_c |c - t|**m`` (t = +-1), or a linear layer
   with cross-entropy (SoftHebb's classifier). The features of the whole training set are computed
   once when they fit in memory.

One checkpoint per epoch of either phase (weights, optimizer, scheduler, RNG, history), so
``--resume`` continues exactly, also in the middle of the hidden phase.

Run folder: ``config.toml checkpoint.pt metrics.json history.csv curves.png receptive_fields.png``.
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
from neuro.io import atomic_path, write_json, write_csv, write_text
from neuro.rules import krotov as kr
from neuro.rules import softhebb as sh
from neuro.train import checkpoint
from neuro.train.config import RunConfig, to_dict, to_toml

RULES = ("krotov", "softhebb")
HISTORY_FIELDS = ("phase", "epoch", "loss", "train_accuracy", "eval_accuracy", "lr", "norm_dev", "epoch_s")
FEATURE_CACHE_BYTES = 3 * 2**30


def feature_kind(cfg: RunConfig) -> str:
    f = cfg.hebbian.feature
    return f if f != "auto" else ("power" if cfg.train.rule == "krotov" else "triangle")


def readout_kind(cfg: RunConfig) -> str:
    r = cfg.hebbian.readout
    return r if r != "auto" else ("tanh_power" if cfg.train.rule == "krotov" else "linear_ce")


def rule_params(cfg: RunConfig, lr: float | None = None):
    h = cfg.hebbian
    if cfg.train.rule == "krotov":
        return kr.KrotovParams(lr=h.lr if lr is None else lr, p=h.p, k=h.k, delta=h.delta)
    return sh.SoftHebbParams(lr=h.lr if lr is None else lr, temperature=h.temperature, anti_hebbian=h.anti_hebbian,
                             adaptive=h.adaptive_lr, normalize=h.normalize_update)


class HebbianNet(nn.Module):
    """A frozen Hebbian hidden layer ``hidden_w [K, F]`` (a buffer: no gradient ever reaches it) and a
    trainable top layer ``top`` (``[C, K]``). ``feature_scale`` (a buffer) makes features O(1)."""

    def __init__(self, n_in: int, k: int, n_classes: int, cfg: RunConfig) -> None:
        super().__init__()
        self.rule, self.feature, self.readout = cfg.train.rule, feature_kind(cfg), readout_kind(cfg)
        h = cfg.hebbian
        self.n, self.beta, self.temperature = h.n, h.beta, h.temperature
        self.normalize_input = self.rule == "softhebb" and h.normalize_input
        self.conv = cfg.model.kind == "ann_conv"
        self.ks, self.pool = cfg.model.kernel_size, h.pool
        n_top = k
        if self.conv:                                    # n_in = (channels, H, W)
            c_in, hh, ww = n_in
            n_in, n_top = c_in * self.ks * self.ks, k * (hh // self.pool) * (ww // self.pool)
        self.register_buffer("hidden_w", torch.zeros(k, n_in))
        self.register_buffer("feature_scale", torch.ones(()))
        self.top = nn.Linear(n_top, n_classes, bias=self.readout == "linear_ce")

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden rule's samples: ``x`` (krotov), ``x / ||x||`` (softhebb with normalize_input); conv:
        every ``kernel_size`` patch of ``x [B, C, H, W]`` as a row ``[B * H * W, C k k]``, unit length."""
        if self.conv:
            x = nn.functional.unfold(x, self.ks, padding=self.ks // 2).transpose(1, 2).reshape(-1, self.hidden_w.shape[1])
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12) if self.normalize_input else x

    @torch.no_grad()
    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled features ``[B, K]`` of ``h = W prep(x)`` (conv: ``[B, K * H/pool * W/pool]``)."""
        if self.conv:
            w = self.hidden_w.view(self.hidden_w.shape[0], x.shape[1], self.ks, self.ks)
            u = nn.functional.conv2d(x, w, padding=self.ks // 2)
            if self.normalize_input:                     # = W applied to unit-length patches
                ones = torch.ones(1, x.shape[1], self.ks, self.ks, dtype=x.dtype, device=x.device)
                u = u / nn.functional.conv2d(x * x, ones, padding=self.ks // 2).sqrt().clamp_min(1e-12)
            f = torch.relu(u) if self.feature in ("power", "relu") else (
                sh.triangle(u) if self.feature == "triangle" else torch.softmax(u / self.temperature, dim=1))
            return nn.functional.max_pool2d(f, self.pool).flatten(1)
        h = self.prep(x) @ self.hidden_w.T
        if self.feature in ("power", "relu"):
            return torch.relu(h)
        if self.feature == "triangle":
            return sh.triangle(h)
        return torch.softmax(h / self.temperature, dim=1)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        f = self.raw(x) / self.feature_scale
        return f ** self.n if self.feature == "power" else f

    def head(self, f: torch.Tensor) -> torch.Tensor:
        out = self.top(f)
        return torch.tanh(self.beta * out) if self.readout == "tanh_power" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _loss(model: HebbianNet, out: torch.Tensor, y: torch.Tensor, m: float) -> torch.Tensor:
    if model.readout == "linear_ce":
        return nn.functional.cross_entropy(out, y)
    t = nn.functional.one_hot(y, out.shape[1]).to(out.dtype) * 2.0 - 1.0
    return ((out - t).abs() ** m).sum(1).mean()


def _init_hidden(cfg: RunConfig, k: int, f: int, gen: torch.Generator) -> torch.Tensor:
    if cfg.train.rule == "krotov":
        return torch.randn(k, f, generator=gen)                     # the paper's N(0, 1)
    return sh.init_weights(k, f, cfg.hebbian.init_radius, gen)


def _norm_dev(w: torch.Tensor, cfg: RunConfig) -> float:
    """Mean |p-norm - 1| over units (p = hebbian.p for krotov, 2 for softhebb)."""
    p = cfg.hebbian.p if cfg.train.rule == "krotov" else 2.0
    return float((kr.p_norms(w, p) - 1.0).abs().mean())


def hidden_epoch(w: torch.Tensor, x: torch.Tensor, cfg: RunConfig, lr: float, gen: torch.Generator,
                 progress: bool = False, samples=None) -> torch.Tensor:
    """One unsupervised epoch over ``x [N, F]`` (shuffled by ``gen``); returns the new weights.
    ``samples`` (conv): maps a batch of images to the rule's rows (one per patch)."""
    from neuro.registry import get

    rule, bs = cfg.train.rule, cfg.hebbian.hidden_batch_size
    p = rule_params(cfg, lr)
    if len(x) < bs:
        raise ConfigError(f"hebbian.hidden_batch_size={bs} is larger than the training set ({len(x)} samples); "
                          f"allowed: 1..{len(x)}.")
    S = len(x) // bs
    perm = torch.randperm(len(x), generator=gen)[: S * bs]
    impl = get(rule, cfg.hebbian.backend)
    if samples is not None:
        for s in tqdm(range(S), desc="hidden", unit="batch", leave=False, disable=not progress):
            rows = samples(x[perm[s * bs:(s + 1) * bs]].to(w.device))
            if cfg.hebbian.backend == "numba":
                w = torch.from_numpy(impl(w.cpu().numpy(), rows.cpu().numpy(), p)[0]).to(w.device)
            else:
                w, _ = impl(w, rows, p)
        return w
    if cfg.hebbian.backend == "numba":
        xs = x[perm].reshape(S, bs, -1).numpy()
        w_new, _ = impl(w.cpu().numpy(), xs, p)
        return torch.from_numpy(w_new).to(w.device)
    for s in tqdm(range(S), desc="hidden", unit="batch", leave=False, disable=not progress):
        w, _ = impl(w, x[perm[s * bs:(s + 1) * bs]].to(w.device), p)
    return w


@torch.no_grad()
def _batched(fn, x: torch.Tensor, device, batch_size: int = 2000) -> torch.Tensor:
    return torch.cat([fn(x[lo:lo + batch_size].to(device)).cpu() for lo in range(0, len(x), batch_size)])


@torch.no_grad()
def evaluate(model: HebbianNet, x: torch.Tensor, y: torch.Tensor, device, features: torch.Tensor | None = None
             ) -> float:
    if features is not None:
        pred = _batched(lambda f: model.head(f).argmax(1), features, device)
    else:
        pred = _batched(lambda xb: model(xb).argmax(1), x, device, 200 if model.conv else 2000)
    return float((pred == y).float().mean())


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    """Train a Hebbian hidden layer and its top layer into run folder ``out``; returns ``metrics.json``.
    ``stop_after_epoch`` counts epochs of both phases together (hidden first)."""
    from neuro.train.trainer import make_optimizer, plot_history, prepare_data, restore_schedule, run_folder

    rule, h = cfg.train.rule, cfg.hebbian
    if rule not in RULES:
        raise ConfigError(f"train.rule={rule!r} is not a Hebbian rule of this trainer; allowed: {', '.join(RULES)}.")
    conv = cfg.model.kind == "ann_conv" and rule == "softhebb"
    if not conv and (cfg.model.kind != "ann_mlp" or len(cfg.model.hidden) != 1):
        raise ConfigError(f"train.rule={rule!r} needs model.kind=\"ann_mlp\" with one hidden layer; got kind="
                          f"{cfg.model.kind!r}, hidden={list(cfg.model.hidden)}. Set model.hidden = [2000] (softhebb also: "
                          "model.kind = \"ann_conv\").")
    if rule == "krotov" and h.k > cfg.model.hidden[0]:
        raise ConfigError(f"hebbian.k={h.k} exceeds model.hidden[0]={cfg.model.hidden[0]}; allowed: 2..hidden.")
    device = resolve_device(cfg.train.device)
    if h.backend == "numba" and device.type != "cpu":
        raise ConfigError(f"hebbian.backend='numba' runs on CPU; train.device resolves to {device}. "
                          "Set train.device = \"cpu\" or hebbian.backend = \"torch\".")
    out, ckpt_path = run_folder(out, resume)
    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed % 2**32)
    data = prepare_data(cfg)
    C = data.n_classes
    n_in, K = (data.in_shape, cfg.model.channels[0]) if conv else (data.in_shape[0], cfg.model.hidden[0])
    gen = torch.Generator().manual_seed(cfg.train.seed)
    model = HebbianNet(n_in, K, C, cfg)
    model.hidden_w.copy_(_init_hidden(cfg, K, model.hidden_w.shape[1], gen))
    steps = math.ceil(len(data.x_train) / cfg.train.batch_size)
    opt, sched = make_optimizer(model.top, cfg, steps)
    history: list[dict] = []
    hidden_done = top_done = 0
    wall_before = 0.0
    if resume:
        ckpt = checkpoint.load(ckpt_path, model)
        model.load_state_dict(ckpt["model"])
        if ckpt["epoch"] > 0:   # before the top phase the optimizer is untouched: [train] settings may change
            opt.load_state_dict(ckpt["optimizer"])
            restore_schedule(sched, ckpt["scheduler"])
        checkpoint.restore_rng(ckpt["rng"], gen)
        history, hidden_done, top_done, wall_before = ckpt["history"], ckpt["hidden_epoch"], ckpt["epoch"], ckpt["wall_s"]
        if top_done >= cfg.train.epochs:
            raise ConfigError(f"the run in {str(out)!r} already finished {top_done} epochs; train.epochs="
                              f"{cfg.train.epochs} leaves nothing to do (raise it with --set).")
        if top_done > 0:
            hidden_done = max(hidden_done, h.hidden_epochs)          # the hidden layer is frozen now
    model.to(device)
    t_start = time.perf_counter()
    done_now = 0
    first_write = True

    def save(epoch_top: int, epoch_hidden: int) -> None:
        nonlocal first_write
        checkpoint.save(ckpt_path, model=model.state_dict(), optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                        rng=checkpoint.rng_state(gen), epoch=epoch_top, hidden_epoch=epoch_hidden, history=history,
                        wall_s=wall_before + time.perf_counter() - t_start, config=to_dict(cfg),
                        architecture=checkpoint.architecture(model))
        if first_write:
            write_text(out / "config.toml", to_toml(cfg))
            first_write = False
        write_csv(out / "history.csv", history, HISTORY_FIELDS)

    def stop() -> bool:
        return stop_after_epoch is not None and done_now >= stop_after_epoch

    # phase 1: unsupervised hidden layer
    x_hidden = data.x_train if conv or not model.normalize_input else model.prep(data.x_train)
    bar = tqdm(range(hidden_done, h.hidden_epochs), desc=f"{rule} hidden", unit="epoch", disable=not progress,
               initial=hidden_done, total=h.hidden_epochs)
    for e in bar:
        t0 = time.perf_counter()
        lr = kr.decayed_lr(h.lr, e, h.hidden_epochs) if rule == "krotov" else h.lr
        w = hidden_epoch(model.hidden_w, x_hidden, cfg, lr, gen, progress, model.prep if conv else None)
        if not bool(torch.isfinite(w).all()):
            raise TrainingError(f"{rule} hidden weights became non-finite in hidden epoch {e + 1}; the last good "
                                f"checkpoint is kept in {str(out)!r}. Lower hebbian.lr (now {h.lr}).")
        model.hidden_w.copy_(w)
        dev = _norm_dev(model.hidden_w, cfg)
        history.append({"phase": "hidden", "epoch": e + 1, "loss": "", "train_accuracy": "", "eval_accuracy": "",
                        "lr": lr, "norm_dev": dev, "epoch_s": time.perf_counter() - t0})
        bar.set_postfix(norm_dev=f"{dev:.4f}")
        done_now += 1
        save(0, e + 1)
        if stop():
            break
    if stop():
        plot_receptive_fields(model.hidden_w.cpu(), data, out / "receptive_fields.png", title=f"{rule} hidden units")
        return {"stopped_after": done_now, "hidden_epoch": len([r for r in history if r["phase"] == "hidden"])}
    plot_receptive_fields(model.hidden_w.cpu(), data, out / "receptive_fields.png",
                          title=f"{rule}: {K} {'filters' if conv else 'hidden units'} after {h.hidden_epochs} epochs (first 100)")

    # phase 2: supervised top layer on the frozen features
    fb = 200 if conv else 2000          # conv maps [B, K, H, W] are large: smaller chunks stay in cache
    if top_done == 0:
        raw = _batched(model.raw, data.x_train, device, fb)
        model.feature_scale.fill_(float(raw.max(1).values.mean().clamp_min(1e-12)) if model.feature != "softmax" else 1.0)
        del raw
    cache = len(data.x_train) * K * 4 <= FEATURE_CACHE_BYTES
    f_train = _batched(model.features, data.x_train, device, fb) if cache else None
    f_eval = _batched(model.features, data.x_eval, device, fb) if cache else None
    bar = tqdm(range(top_done + 1, cfg.train.epochs + 1), desc=f"{rule} top", unit="epoch", disable=not progress,
               initial=top_done, total=cfg.train.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(len(data.x_train), generator=gen)
        loss_sum = correct = total = 0.0
        for lo in range(0, len(perm), cfg.train.batch_size):
            idx = perm[lo:lo + cfg.train.batch_size]
            fb = f_train[idx].to(device) if cache else model.features(data.x_train[idx].to(device))
            yb = data.y_train[idx].to(device)
            outb = model.head(fb)
            loss = _loss(model, outb, yb, h.m)
            if not math.isfinite(float(loss.detach())):
                raise TrainingError(f"{rule} top-layer loss is {float(loss.detach())} at epoch {epoch}; the last good checkpoint "
                                    f"is kept in {str(out)!r}. Lower train.lr (now {cfg.train.lr}) or hebbian.beta.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += float((outb.argmax(1) == yb).sum())
            total += len(idx)
        acc = evaluate(model, data.x_eval, data.y_eval, device, f_eval)
        history.append({"phase": "top", "epoch": epoch, "loss": loss_sum / total, "train_accuracy": correct / total,
                        "eval_accuracy": acc, "lr": opt.param_groups[0]["lr"],
                        "norm_dev": _norm_dev(model.hidden_w, cfg), "epoch_s": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{loss_sum / total:.4f}", eval=f"{acc:.4f}")
        done_now += 1
        save(epoch, h.hidden_epochs)
        if stop():
            break
    wall = wall_before + time.perf_counter() - t_start
    top = [r for r in history if r["phase"] == "top"]
    last = top[-1]
    m = {"dataset": cfg.data.name, "model": cfg.model.kind, "rule": rule, "backend": h.backend, "device": str(device),
         "hidden_epochs": h.hidden_epochs, "epochs": last["epoch"], "hidden": [K] if conv else list(cfg.model.hidden),
         "feature": model.feature, "readout": model.readout, "train_accuracy": last["train_accuracy"],
         "test_accuracy": last["eval_accuracy"], "best_eval_accuracy": max(r["eval_accuracy"] for r in top),
         "norm_dev": last["norm_dev"], "params": model.top.weight.numel() + model.hidden_w.numel(),
         "wall_s": round(wall, 2), "hidden_wall_s": round(sum(r["epoch_s"] for r in history if r["phase"] == "hidden"), 2),
         "eval_split": data.eval_split, "n_train": len(data.x_train), "n_eval": len(data.x_eval)}
    write_json(out / "metrics.json", m)
    plot_history(top, out / "curves.png", title=f"{rule} top layer on {K} Hebbian units ({cfg.data.name})")
    return m


def plot_receptive_fields(w: torch.Tensor, data, path: Path, title: str = "", n: int = 100) -> None:
    """The first ``n`` hidden units' weights as square image tiles (28x28 MNIST, 8x8 digits), each
    scaled symmetrically to its own largest |weight| (red +, blue -), as a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, f = w.shape
    side = int(round(math.sqrt(f)))
    if side * side != f:
        return
    n = min(n, k)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    tiles = np.zeros((rows * (side + 1) - 1, cols * (side + 1) - 1), np.float32)
    ww = w[:n].numpy()
    for i in range(n):
        r, c = divmod(i, cols)
        t = ww[i].reshape(side, side)
        tiles[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = t / max(np.abs(t).max(), 1e-12)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * cols, 1 + 0.6 * rows))
    ax.imshow(tiles, cmap="bwr", vmin=-1, vmax=1)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)



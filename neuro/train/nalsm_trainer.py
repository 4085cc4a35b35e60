"""The NALSM / LSM / LSM+STDP pipeline (``train.rule = "nalsm"``, ``[nalsm]`` table), reached through
``neuro train``. The model and its protocol are in ``neuro.models.nalsm``; this file runs it:

1. *init*: ``nalsm.init_samples`` random training images, ``nalsm.init_duration`` ms each, with
   plasticity and no rate decay, shape one weight vector (``w_init.npy``; checkpointed every chunk).
2. *simulate*: every training, validation (``data.val_fraction`` of the training set, stratified) and
   test image is presented for ``nalsm.duration`` ms starting from those weights, with plasticity
   (NALSM, LSM+STDP) or without (LSM); the liquid's spike counts are cached, ``nalsm.chunk`` samples per
   file (``counts/``), so an interrupted run resumes at the next missing chunk. The first
   ``nalsm.record`` test samples' rasters give the branching factor.
3. *readout*: a softmax layer on the spike counts (each sample scaled to unit sum, then each neuron
   standardised with training-set statistics), trained with Adam (``train.epochs``, ``train.lr``,
   ``train.batch_size``) on the cached counts; the reported test accuracy is the one at the epoch of
   best validation accuracy (the paper's protocol), the last epoch's is recorded too. A different
   ``train.lr`` or ``train.batch_size`` on ``--resume`` retrains the readout from scratch on the cached
   counts; other ``[nalsm]``/``[data]`` keys or ``train.seed`` would need new counts and are refused.

Run folder: ``config.toml checkpoint.pt w_init.npy counts/ raster_test.npy metrics.json history.csv
curves.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro.data.datasets import load_dataset, stratified_split
from neuro.device import resolve_device
from neuro.errors import ConfigError
from neuro.io import atomic_path, write_json, write_csv, write_text
from neuro.models import nalsm as nm
from neuro.train.config import RunConfig, to_dict, to_toml
from neuro.train.trainer import plot_history, restore_schedule, run_folder

HISTORY_FIELDS = ("epoch", "loss", "train_accuracy", "val_accuracy", "eval_accuracy", "lr", "epoch_s")
TEST_KEY_OFFSET = 10**9  # Bernoulli keys of test samples (training samples use their index)
INIT_KEY_OFFSET = 2 * 10**9


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)


def load_data(cfg: RunConfig):
    """``(train_x, train_y, val_x, val_y, test_x, test_y)`` as flat float arrays in [0, 1]."""
    d = cfg.data
    tr = load_dataset(d.name, "train", flatten=True, progress=False)
    te = load_dataset(d.name, "test", flatten=True, progress=False)
    x, y = np.asarray(tr.images), np.asarray(tr.labels)
    if d.limit_train:
        x, y = x[:d.limit_train], y[:d.limit_train]
    tx, ty = np.asarray(te.images), np.asarray(te.labels)
    if d.limit_test:
        tx, ty = tx[:d.limit_test], ty[:d.limit_test]
    if d.val_fraction > 0:
        keep, held = stratified_split(y, d.val_fraction, seed=cfg.train.seed)
        return x[keep], y[keep], x[held], y[held], tx, ty, keep, held
    idx = np.arange(len(x))
    return x, y, x[:0], y[:0], tx, ty, idx, idx[:0]


def train(cfg: RunConfig, out: str | Path, *, resume: bool = False, progress: bool = True,
          stop_after_epoch: int | None = None) -> dict:
    out, ckpt_path = run_folder(out, resume)
    if cfg.data.encoding != "rate":
        raise ConfigError(f"data.encoding={cfg.data.encoding!r} is not used by train.rule = \"nalsm\" (it encodes "
                          "images as Bernoulli spike trains itself); allowed: rate (the default).")
    n_cfg = cfg.nalsm
    train_x, train_y, val_x, val_y, test_x, test_y, train_idx, val_idx = load_data(cfg)
    p = n_cfg.params(n_input=train_x.shape[1])
    net = nm.build_network(p)
    scale = nm.input_scale(np.concatenate([train_x, val_x]))
    state = torch.load(ckpt_path, weights_only=False) if ckpt_path.exists() else {"sim_s": 0.0, "init_done": 0}
    sim_key = {"nalsm": {k: v for k, v in to_dict(cfg.nalsm).items() if k not in ("backend", "record")},
               "data": to_dict(cfg.data), "seed": cfg.train.seed}
    if state.setdefault("sim_key", sim_key) != sim_key:
        raise ConfigError(f"--resume with different [nalsm]/[data] settings or train.seed than the cached spike "
                          f"counts in {str(out)!r} were made with; allowed: the run's own config.toml (only [train] "
                          "readout keys may change). Fix: resume with that config or choose another --out folder.")
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.toml", to_toml(cfg))
    device = resolve_device(cfg.train.device)
    sim_device = device if n_cfg.backend == "torch" else None

    last = [time.time()]

    def save_state() -> None:  # also accumulates the wall time over interrupted and resumed processes
        now = time.time()
        state["wall_s"] = state.get("wall_s", 0.0) + now - last[0]
        last[0] = now
        with atomic_path(ckpt_path) as tmp:
            torch.save(state, tmp)

    save_state()
    # 1. initialisation phase
    w_path = out / "w_init.npy"
    if w_path.exists():
        w = np.load(w_path)
    elif p.init_samples == 0 or p.init_mode == "none":
        w = net.w0.copy()
        _save_npy(w_path, w)
    else:
        rng = np.random.default_rng(cfg.train.seed)
        order = rng.choice(len(train_x), size=p.init_samples, replace=p.init_samples > len(train_x))
        part = out / "w_init.partial.npy"
        w = np.load(part) if (part.exists() and state["init_done"] > 0) else net.w0.copy()
        step = max(1, min(n_cfg.chunk, 2000))
        bar = tqdm(total=p.init_samples, initial=state["init_done"], desc="nalsm init", unit="sample",
                   disable=not progress)
        while state["init_done"] < p.init_samples:
            a = state["init_done"]
            b = min(a + step, p.init_samples)
            t0 = time.time()
            w = nm.initialize(p, net, nm.encode(train_x[order[a:b]], scale), INIT_KEY_OFFSET + np.arange(a, b), w=w)
            state["sim_s"] += time.time() - t0
            _save_npy(part, w)
            state["init_done"] = b
            save_state()
            bar.update(b - a)
        bar.close()
        _save_npy(w_path, w)
        part.unlink(missing_ok=True)
    # 2. spike counts of every sample, cached per chunk
    splits = {"train": (train_x, train_idx), "val": (val_x, val_idx), "test": (test_x, TEST_KEY_OFFSET + np.arange(len(test_x)))}
    counts = {}
    cdir = out / "counts"
    total = sum(len(x) for x, _ in splits.values())
    bar = tqdm(total=total, desc=f"nalsm simulate ({p.plasticity})", unit="sample", disable=not progress)
    for name, (x, keys) in splits.items():
        parts = []
        for c, a in enumerate(range(0, len(x), n_cfg.chunk)):
            f = cdir / f"{name}_{c:05d}.npy"
            b = min(a + n_cfg.chunk, len(x))
            if f.exists():
                parts.append(np.load(f))
            else:
                rec = n_cfg.record if (name == "test" and c == 0) else 0
                t0 = time.time()
                res = nm.simulate(p, net, nm.encode(x[a:b], scale), keys[a:b], w=w, n_record=rec,
                                  backend=n_cfg.backend, device=sim_device)
                state["sim_s"] += time.time() - t0
                if rec:
                    _save_npy(out / "raster_test.npy", res.raster)
                    _save_npy(out / "astro_test.npy", res.astro)
                _save_npy(f, res.counts)
                save_state()
                parts.append(res.counts)
            bar.update(b - a)
        counts[name] = np.concatenate(parts) if parts else np.zeros((0, net.n_liq), np.float32)
    bar.close()
    # 3. readout on the cached counts
    hist = readout(cfg, counts, (train_y, val_y, test_y), state, save_state, progress, stop_after_epoch)
    if hist is None:
        return {}
    raster_path = out / "raster_test.npy"
    bf = nm.branching_factor(np.load(raster_path), net) if raster_path.exists() else float("nan")
    best = max(hist, key=lambda r: (r["val_accuracy"] if len(val_y) else r["eval_accuracy"], -r["epoch"]))
    rate_hz = float(counts["test"].mean() / (p.duration / 1000.0)) if len(test_x) else float("nan")
    metrics = {
        "rule": "nalsm", "model": {"none": "LSM", "stdp": "LSM+STDP", "astro": "NALSM"}[p.plasticity],
        "n_liquid": net.n_liq, "synapses": int(len(net.w0)), "dataset": cfg.data.name,
        "n_train": int(len(train_y)), "n_val": int(len(val_y)), "n_test": int(len(test_y)),
        "test_accuracy": best["eval_accuracy"], "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"],
        "final_test_accuracy": hist[-1]["eval_accuracy"], "train_accuracy": best["train_accuracy"],
        "branching_factor": bf, "liquid_rate_hz": rate_hz, "sim_s": state["sim_s"],
        "config": to_dict(cfg),
    }
    save_state()
    metrics["wall_s"] = state["wall_s"]
    write_json(out / "metrics.json", metrics)
    write_csv(out / "history.csv", hist, HISTORY_FIELDS)
    plot_history(hist, out / "curves.png", title=f"{metrics['model']}-{net.n_liq} on {cfg.data.name}")
    return metrics


def features(c: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None):
    """Spike counts -> readout input: each sample scaled to unit sum (the paper's normalisation), then
    each neuron standardised with the training set's mean and standard deviation (``stats``; computed
    from ``c`` when None), which keeps Adam's steps well scaled. Returns ``(features, stats)``."""
    f = c / np.maximum(c.sum(1, keepdims=True), 1.0)
    if stats is None:
        stats = (f.mean(0), f.std(0) + 1e-6 / max(c.shape[1], 1))
    return ((f - stats[0]) / stats[1]).astype(np.float32), stats


def readout(cfg: RunConfig, counts: dict, labels: tuple, state: dict, save_state, progress: bool,
            stop_after_epoch: int | None) -> list[dict] | None:
    """Train the softmax readout (resumable per epoch through ``state``); returns the history."""
    train_y, val_y, test_y = labels
    ftr, st = features(counts["train"])
    fva, _ = features(counts["val"], st)
    fte, _ = features(counts["test"], st)
    n_classes = int(max(train_y.max(), test_y.max()) + 1)
    torch.manual_seed(cfg.train.seed)
    lin = torch.nn.Linear(ftr.shape[1], n_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=cfg.train.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.train.epochs)
    setting = {"lr": cfg.train.lr, "batch_size": cfg.train.batch_size, "seed": cfg.train.seed}
    if state.get("readout_setting") != setting:  # new readout settings on the same cached counts: start over
        for k in ("history", "readout", "opt", "sched"):
            state.pop(k, None)
        state["readout_setting"] = setting
    hist = state.get("history", [])
    if "readout" in state:
        lin.load_state_dict(state["readout"])
        opt.load_state_dict(state["opt"])
        restore_schedule(sched, state["sched"])
    X, Y = torch.from_numpy(ftr), torch.from_numpy(np.asarray(train_y, np.int64))
    gen = torch.Generator()

    def acc(f, y) -> float:
        if len(y) == 0:
            return float("nan")
        with torch.no_grad():
            return float((lin(torch.from_numpy(f)).argmax(1).numpy() == np.asarray(y)).mean())

    for epoch in tqdm(range(len(hist) + 1, cfg.train.epochs + 1), desc="readout", disable=not progress):
        t0 = time.time()
        gen.manual_seed(cfg.train.seed * 100_003 + epoch)  # per-epoch shuffle: a resumed run repeats it
        perm = torch.randperm(len(X), generator=gen)
        tot = 0.0
        for a in range(0, len(X), cfg.train.batch_size):
            i = perm[a:a + cfg.train.batch_size]
            loss = torch.nn.functional.cross_entropy(lin(X[i]), Y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(i)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        hist.append({"epoch": epoch, "loss": tot / len(X), "train_accuracy": acc(ftr, train_y),
                     "val_accuracy": acc(fva, val_y), "eval_accuracy": acc(fte, test_y), "lr": lr,
                     "epoch_s": time.time() - t0})
        state.update(history=hist, readout=lin.state_dict(), opt=opt.state_dict(), sched=sched.state_dict())
        save_state()
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            return None
    return hist



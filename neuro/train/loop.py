"""A small supervised training loop for spiking classifiers (surrogate-gradient BPTT).

Inputs are already encoded, time-first ``[T, N, F]`` float32 tensors; labels ``[N]`` int64.
The loss is cross-entropy on the model's readout (``model.logits``). Runs on CPU or CUDA.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro.checks import check_number
from neuro.device import resolve_device


@dataclass
class FitResult:
    """What ``fit`` measured: per-epoch loss and train accuracy, wall time in seconds."""

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 20, lr: float = 2e-3,
        batch_size: int = 64, seed: int = 0, device: str | None = "auto", progress: bool = True) -> FitResult:
    """Train ``model`` in place with Adam and a cosine learning-rate schedule.

    ``x``: ``[T, N, F]`` float32 (time first); ``y``: ``[N]`` int64. Mini-batches are shuffled with
    a generator seeded by ``seed``, so runs are repeatable on CPU.
    """
    check_number("epochs", epochs, lo=1, integer=True)
    check_number("lr", lr, lo=0.0, lo_open=True)
    check_number("batch_size", batch_size, lo=1, integer=True)
    dev = resolve_device(device)
    model.to(dev)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[1]
    steps = epochs * math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    result = FitResult()
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), desc="train", unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        perm = torch.randperm(n, generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for lo in range(0, n, batch_size):
            idx = perm[lo:lo + batch_size]
            xb, yb = x[:, idx].to(dev), y[idx].to(dev)
            logits = model.logits(model(xb))
            loss = torch.nn.functional.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(-1) == yb).sum())
            total += len(idx)
        result.loss.append(loss_sum / total)
        result.train_accuracy.append(correct / total)
        bar.set_postfix(loss=f"{result.loss[-1]:.3f}", acc=f"{result.train_accuracy[-1]:.3f}")
    result.wall_s = time.perf_counter() - t0
    model.cpu()
    return result


def accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``pred == y``."""
    return float(np.mean(np.asarray(pred) == np.asarray(y)))

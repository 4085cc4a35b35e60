"""The ``[hebbian]`` table of a run config: settings of the unsupervised Hebbian hidden layer and its
supervised top layer (``train.rule`` = ``"krotov"`` or ``"softhebb"``; ignored otherwise). No torch import.

The hidden layer (``model.hidden = [K]``) learns first, for ``hidden_epochs`` epochs with minibatches
of ``hidden_batch_size``, then is frozen; ``[train]`` (``epochs``, ``lr``, ``batch_size``, ``optimizer``,
``schedule``) then trains the top layer on its features with autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from neuro.errors import ConfigError

HebbianBackend = Literal["torch", "numba"]
Feature = Literal["auto", "power", "triangle", "relu", "softmax"]
Readout = Literal["auto", "tanh_power", "linear_ce"]


@dataclass(frozen=True)
class HebbianConfig:
    """hidden_epochs / hidden_batch_size / lr: the unsupervised phase (``lr`` decays linearly to 0 over
    the hidden epochs for krotov, constant for softhebb). p, k, delta: Krotov's norm, anti-Hebbian rank
    and strength. temperature, anti_hebbian, adaptive_lr, init_radius, normalize_update (divide each batch's
    update by its largest entry), normalize_input (unit-length inputs): SoftHebb.
    feature: what the top layer sees (auto: ``power`` for krotov, ``triangle`` for softhebb); power:
    ``relu(h / s)**n`` with ``s`` the training set's mean per-sample max of ``h``. readout (auto:
    ``tanh_power`` for krotov, ``linear_ce`` for softhebb): ``tanh(beta * S f)`` with loss
    ``sum |c - t|**m`` (t = +-1), or a linear layer with cross-entropy. backend: the hidden update's
    implementation (torch on any device, numba on CPU). pool: max-pool size after the conv layer
    (softhebb with ``model.kind = "ann_conv"``: ``model.channels[0]`` filters of ``model.kernel_size``)."""

    hidden_epochs: int = 20
    hidden_batch_size: int = 100
    lr: float = 0.02
    p: float = 3.0
    k: int = 7
    delta: float = 0.4
    temperature: float = 1.0
    anti_hebbian: bool = True
    adaptive_lr: bool = True
    init_radius: float = 25.0
    normalize_update: bool = True
    normalize_input: bool = True
    feature: Feature = "auto"
    pool: int = 4
    n: float = 4.5
    m: float = 6.0
    beta: float = 1.0
    readout: Readout = "auto"
    backend: HebbianBackend = "torch"

    def __post_init__(self) -> None:
        for key, v, lo, hi in (("hidden_epochs", self.hidden_epochs, 0, 100_000),
                               ("hidden_batch_size", self.hidden_batch_size, 1, 1_000_000),
                               ("lr", self.lr, 1e-12, 10.0), ("p", self.p, 1.0, 20.0), ("k", self.k, 2, 1_000_000),
                               ("delta", self.delta, 0.0, 1.0), ("temperature", self.temperature, 1e-9, 1e6),
                               ("init_radius", self.init_radius, 1e-9, 1e6), ("n", self.n, 1.0, 20.0),
                               ("m", self.m, 1.0, 50.0), ("pool", self.pool, 1, 64), ("beta", self.beta, 1e-9, 1e6)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"hebbian.{key}={v!r} is out of range; allowed: a number in [{lo}, {hi}].")

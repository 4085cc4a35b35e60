"""The ``[ff]`` table of a run config: forward-forward hyper-parameters (used when ``train.rule`` is
``"ff"``, ``"ff_unsup"``, ``"ff_spiking"`` or ``"ff_model_free"``; ignored otherwise). No torch import."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from neuro.errors import ConfigError

FFGoodness = Literal["sum_sq", "mean_sq"]
FFNegatives = Literal["hard", "random"]
FFBackend = Literal["torch", "autograd", "numba"]
FFSpikeGoodness = Literal["rate", "membrane"]
FFPhysical = Literal["wave_mixing", "saturable", "none"]
FFEval = Literal["goodness", "readout"]


@dataclass(frozen=True)
class FFConfig:
    """Forward-forward settings.

    theta, goodness, peer, momentum: the layer loss (``neuro.rules.ff.FFParams``).
    scale: multiplies the goodness, i.e. the sharpness (inverse temperature) of the logistic loss;
        theta is in the same units (default 1: goodness as before).
    label_scale: value of the one-hot label appended to the input (supervised rules).
    negatives: ``"hard"`` (wrong labels drawn by the current goodness, Hinton) or ``"random"``.
    backend: the layer gradient: ``"torch"`` (closed form), ``"autograd"`` (in-layer autograd), ``"numba"``.
    readout_lr: Adam learning rate of the linear readout (trained on detached features).
    readout_from: first layer used by goodness inference and the readout (0 = all layers).
    eval_by: the metric reported as ``eval_accuracy``/``test_accuracy`` (both are always recorded;
        unsupervised runs always use the readout).
    blur_steps: blurring passes of the hybrid-negative masks (``ff_unsup``).
    spike_goodness: ``ff_spiking`` goodness from spike ``"rate"`` or positive ``"membrane"``.
    physical: the black-box layer before each digital layer (``ff_model_free``), one per entry of
        ``model.hidden`` (the list is repeated/truncated to fit); the default puts the wave-mixing
        and the saturable element *between* digital layers (digital, wave, digital, saturable, digital).
        ``["none"]`` gives the differentiable twin of the same size (plain FF). phys_noise: read-out noise std of
        ``"saturable"``. phys_seed: seed of the fixed random physical layers.
    """

    theta: float = 1.0
    goodness: FFGoodness = "mean_sq"
    peer: float = 0.0
    scale: float = 1.0
    momentum: float = 0.9
    label_scale: float = 1.0
    negatives: FFNegatives = "hard"
    backend: FFBackend = "torch"
    readout_lr: float = 1e-3
    readout_from: int = 1
    eval_by: FFEval = "goodness"
    blur_steps: int = 6
    spike_goodness: FFSpikeGoodness = "rate"
    physical: tuple[FFPhysical, ...] = ("none", "wave_mixing", "saturable")
    phys_noise: float = 0.01
    phys_seed: int = 1234

    def __post_init__(self) -> None:
        for key, v, lo, hi in (("theta", self.theta, 1e-9, 1e9), ("peer", self.peer, 0.0, 1e6), ("scale", self.scale, 1e-9, 1e6),
                               ("momentum", self.momentum, 0.0, 0.999999), ("label_scale", self.label_scale, 0.0, 1e3),
                               ("readout_lr", self.readout_lr, 1e-12, 10.0), ("readout_from", self.readout_from, 0, 1000),
                               ("blur_steps", self.blur_steps, 0, 100), ("phys_noise", self.phys_noise, 0.0, 10.0),
                               ("phys_seed", self.phys_seed, 0, 2**31 - 1)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"ff.{key}={v!r} is out of range; allowed: a number in [{lo}, {hi}].")
        if not self.physical:
            raise ConfigError("ff.physical is empty; allowed: a list of wave_mixing, saturable, none.")

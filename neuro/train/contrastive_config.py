"""The ``[contrastive]`` table of a run config: settings of the contrastive Hebbian rules
(``train.rule`` = ``"ep"``, ``"chl"``, ``"dualprop"``; ignored otherwise). No torch import."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from neuro.errors import ConfigError

ContrastiveBackend = Literal["torch", "numba"]


@dataclass(frozen=True)
class ContrastiveConfig:
    """beta: nudging strength (EP: ``+-beta`` phases; dual propagation: the output nudge).
    free_steps / nudged_steps: fixed-point sweeps of the free and nudged phases (EP, CHL).
    centered: EP with ``+-beta`` phases (else ``+beta`` against the free phase).
    alpha: dual propagation's dyadic split (1/2: symmetric).
    init_gain: multiplies the Glorot-uniform initial weights (EP nets settle better with > 1).
    backend: ``"torch"`` (CPU/GPU) or ``"numba"`` (CPU kernels of ``kernels/contrastive.py``)."""

    beta: float = 1.0
    free_steps: int = 20
    nudged_steps: int = 4
    centered: bool = True
    alpha: float = 0.5
    init_gain: float = 1.0
    backend: ContrastiveBackend = "torch"

    def __post_init__(self) -> None:
        for key, v, lo, hi in (("beta", self.beta, 1e-9, 100.0), ("free_steps", self.free_steps, 1, 100000),
                               ("nudged_steps", self.nudged_steps, 1, 100000), ("alpha", self.alpha, 0.0, 1.0),
                               ("init_gain", self.init_gain, 1e-6, 100.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"contrastive.{key}={v!r} is out of range; allowed: a number in [{lo}, {hi}].")

"""The ``[amsu]`` table of a run config: the recurrent AM-SU sequence classifier (``train.rule = "amsu"``;
ignored otherwise). No torch import.

The network is ``neuro.models.amsu.AMSUNet`` with ``model.hidden = [H]`` recurrent units; ``model.beta``,
``model.v_th``, ``model.reset``, ``model.surrogate`` and ``model.surrogate_slope`` set the neuron."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from neuro.errors import ConfigError

AMSUFeedback = Literal["current", "threshold"]
AMSUSequence = Literal["rows", "pixels"]
AMSUReadout = Literal["membrane_mean", "membrane_last"]


@dataclass(frozen=True)
class AMSUConfig:
    """astro: true = AM-SU; false = the plain recurrent LIF layer of the same size (gains held at 0).
    feedback: where the astrocyte acts (``"current"`` or ``"threshold"``).
    tau_astro: astrocyte time constant in steps. astro_gain: initial per-unit gain; learn_gain: train it.
    sequence: ``"rows"`` (one image row per step: 28 steps of 28 pixels on MNIST) or ``"pixels"``.
    readout: mean or last membrane of the leaky output integrator (decay ``out_beta``).
    rec_scale: recurrent weights start uniform in ``+-rec_scale / sqrt(H)``.
    grad_clip: clip the gradient's global norm to this value before each step (0: off; BPTT through
        the recurrence can spike its gradients)."""

    astro: bool = True
    feedback: AMSUFeedback = "current"
    tau_astro: float = 50.0
    astro_gain: float = 0.5
    learn_gain: bool = True
    sequence: AMSUSequence = "rows"
    readout: AMSUReadout = "membrane_mean"
    out_beta: float = 0.9
    rec_scale: float = 1.0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        for key, v, lo, hi in (("tau_astro", self.tau_astro, 1e-6, 1e9), ("astro_gain", self.astro_gain, -100.0, 100.0),
                               ("out_beta", self.out_beta, 0.0, 1.0), ("rec_scale", self.rec_scale, 0.0, 100.0),
                               ("grad_clip", self.grad_clip, 0.0, 1e6)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"amsu.{key}={v!r} is out of range; allowed: a number in [{lo}, {hi}].")

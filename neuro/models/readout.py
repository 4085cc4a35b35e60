"""Readouts (output layer over time -> class scores) and the training losses of spiking classifiers.

A spiking classifier's output holds ``spikes`` and ``membrane``, both ``[T, B, C]`` (time first;
``C`` output neurons, one per class). A *readout* reduces the time axis to class scores ``[B, C]``:

=================  ===========================================================================
``spike_count``    number of output spikes per neuron, ``spikes.sum(0)``
``membrane_mean``  mean membrane potential over the ``T`` steps
``membrane_max``   largest membrane potential over the steps
``membrane_last``  membrane potential after the last step
=================  ===========================================================================

Readouts are written once for torch tensors and numpy arrays (same values, same dtype as the
input), so the torch and numba backends of a model predict through the same code. This module
imports torch only when a loss is computed.

Losses (torch only; ``loss(out, labels)`` with integer labels ``[B]`` in ``[0, C)``, returning a
0-d tensor, mean over the batch):

=================  ===========================================================================
``rate_ce``        cross-entropy of the output *spikes* at every step, averaged over the ``T``
                   steps: ``mean_t CE(spikes[t], y)`` (``snntorch.functional.ce_rate_loss``)
``membrane_ce``    cross-entropy of the configured readout ``CE(readout(out), y)``; with
                   ``spike_count`` it is ``snntorch.functional.ce_count_loss``, with
                   ``membrane_max`` ``ce_max_membrane_loss``
``count_mse``      mean squared error between the spike counts and target counts, divided by
                   ``T``: the correct class should fire ``int(correct_rate * T)`` times, the
                   others ``int(incorrect_rate * T)`` (``snntorch.functional.mse_count_loss``,
                   including its truncation to whole spikes)
=================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from neuro.checks import check_number, is_torch
from neuro.errors import ConfigError

ReadoutName = Literal["spike_count", "membrane_mean", "membrane_max", "membrane_last"]
READOUTS: tuple[str, ...] = get_args(ReadoutName)
LossName = Literal["rate_ce", "membrane_ce", "count_mse"]
LOSSES: tuple[str, ...] = get_args(LossName)


def check_readout(name: str) -> None:
    """ConfigError unless ``name`` is one of ``READOUTS``."""
    if name not in READOUTS:
        raise ConfigError(f"readout={name!r} is not supported; allowed: {', '.join(READOUTS)}.")


def _fields(out: Any) -> tuple[Any, Any]:
    """``(spikes, membrane)`` of a model output, each checked to be ``[T, B, C]``."""
    try:
        spikes, membrane = out.spikes, out.membrane
    except AttributeError:
        raise ConfigError(f"a model output of type {type(out).__name__} has no spikes/membrane; allowed: the "
                          "output of a spiking model's run() (e.g. MLPOutput).") from None
    for name, a in (("spikes", spikes), ("membrane", membrane)):
        if len(a.shape) != 3:
            raise ConfigError(f"out.{name} has shape {tuple(a.shape)}; allowed: 3 dims [T, B, C] (time first).")
    return spikes, membrane


def readout(name: str, out: Any):
    """Class scores ``[B, C]`` of ``out`` (anything with ``spikes``/``membrane`` ``[T, B, C]``) by the
    readout ``name``; a torch tensor for torch outputs (differentiable), a numpy array for numpy ones."""
    check_readout(name)
    spikes, membrane = _fields(out)
    if name == "spike_count":
        return spikes.sum(0)
    if name == "membrane_mean":
        return membrane.mean(0)
    if name == "membrane_max":
        return membrane.amax(0) if is_torch(membrane) else np.max(membrane, axis=0)
    return membrane[-1]


@dataclass(frozen=True)
class Loss:
    """A training loss: ``loss(out, labels) -> 0-d tensor`` (see the module docstring).

    name: one of ``LOSSES``. readout: the scores ``membrane_ce`` classifies (the other losses
    ignore it). correct_rate, incorrect_rate: ``count_mse``'s target firing rates in [0, 1]
    (spikes per step) for the correct and the other classes.
    """

    name: LossName = "membrane_ce"
    readout: ReadoutName = "membrane_mean"
    correct_rate: float = 0.8
    incorrect_rate: float = 0.2

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ConfigError(f"loss={self.name!r} is not supported; allowed: {', '.join(LOSSES)}.")
        check_readout(self.readout)
        check_number("Loss.correct_rate", self.correct_rate, lo=0.0, hi=1.0)
        check_number("Loss.incorrect_rate", self.incorrect_rate, lo=0.0, hi=1.0)

    def __call__(self, out: Any, labels):
        import torch.nn.functional as F

        spikes, membrane = _fields(out)
        T, B, C = spikes.shape
        labels = _check_labels(labels, B, C)
        if self.name == "rate_ce":
            # mean over T*B rows == mean over steps of the batch-mean CE (ce_rate_loss)
            return F.cross_entropy(spikes.reshape(T * B, C), labels.expand(T, B).reshape(T * B))
        if self.name == "membrane_ce":
            return F.cross_entropy(readout(self.readout, out), labels)
        on, off = int(T * self.correct_rate), int(T * self.incorrect_rate)
        target = spikes.new_full((B, C), float(off))
        target.scatter_(1, labels.view(B, 1), float(on))
        return F.mse_loss(spikes.sum(0), target) / T


def _check_labels(labels, B: int, C: int):
    """``labels`` as an int64 tensor, after checking type, shape ``[B]`` and range ``[0, C)``."""
    if not is_torch(labels) or labels.is_floating_point() or labels.is_complex() or str(labels.dtype) == "torch.bool":
        raise ConfigError(f"labels of type {type(labels).__name__} ({getattr(labels, 'dtype', None)}); allowed: "
                          "an integer torch tensor [B] of class indices. Use torch.as_tensor(y, dtype=torch.long).")
    if tuple(labels.shape) != (B,):
        raise ConfigError(f"labels have shape {tuple(labels.shape)}; allowed: ({B},), one class index per sample.")
    if B == 0:
        raise ConfigError("the batch is empty (B=0); allowed: at least one sample.")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= C:
        bad = lo if lo < 0 else hi
        raise ConfigError(f"labels contain {bad}; allowed: class indices in [0, {C - 1}] ({C} output neurons).")
    return labels.long()


def get_loss(name: str, **kw) -> Loss:
    """The loss ``name`` (one of ``LOSSES``) with options ``readout``, ``correct_rate``,
    ``incorrect_rate`` (see ``Loss``). Unknown names or options raise ConfigError listing the allowed."""
    if name not in LOSSES:
        raise ConfigError(f"loss={name!r} is not supported; allowed: {', '.join(LOSSES)}.")
    allowed = ("readout", "correct_rate", "incorrect_rate")
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise ConfigError(f"get_loss({name!r}) got unknown option(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(allowed)}.")
    return Loss(name, **kw)

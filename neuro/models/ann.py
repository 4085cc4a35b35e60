"""Conventional (non-spiking) twins of the spiking models, for accuracy and energy baselines.

``ann_like(model_or_config)`` builds an ``ANN`` with exactly the spiking model's layers (same
``Linear``/``Conv2d`` shapes, same max-pooling, same parameter names, so parameter counts are equal
and state dicts load across) with ReLU in place of the spiking neuron and no time axis:

- from a ``SpikingMLP`` / ``SpikingMLPConfig``: input ``[B, n_in]``,
  ``Linear-ReLU-...-Linear`` (no ReLU after the last layer; parameters ``layers.i.*``);
- from a ``SpikingConvNet`` / ``SpikingConvConfig``: input ``[B, C, H, W]``,
  ``conv1-ReLU-maxpool-conv2-ReLU-maxpool-flatten-fc`` (parameters ``conv1``, ``conv2``, ``fc``).

The output is the class scores ``[B, n_classes]`` themselves.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuro.checks import check_array, check_number
from neuro.errors import ConfigError
from neuro.models.conv import SpikingConvConfig, SpikingConvNet
from neuro.models.mlp import SpikingMLP, SpikingMLPConfig

ANN_BACKENDS = ("torch",)


class ANN(nn.Module):
    """The ReLU network mirroring a spiking config (see the module docstring)."""

    spiking = False

    def __init__(self, config: SpikingMLPConfig | SpikingConvConfig) -> None:
        super().__init__()
        if not isinstance(config, (SpikingMLPConfig, SpikingConvConfig)):
            raise ConfigError(f"config of type {type(config).__name__} has no ANN twin; allowed: SpikingMLPConfig, "
                              "SpikingConvConfig.")
        self.config = config
        self.kind = "mlp" if isinstance(config, SpikingMLPConfig) else "conv"
        if self.kind == "mlp":
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(config.sizes[:-1], config.sizes[1:]))
        else:
            c1, c2 = config.channels
            k, p = config.kernel_size, config.pad
            self.conv1 = nn.Conv2d(config.in_shape[0], c1, k, padding=p)
            self.conv2 = nn.Conv2d(c1, c2, k, padding=p)
            self.fc = nn.Linear(config.fc_in, config.n_classes)

    @property
    def in_shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(n_in,)`` or ``(C, H, W)``."""
        return (self.config.sizes[0],) if self.kind == "mlp" else self.config.in_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, *in_shape]`` float -> class scores ``[B, n_classes]``."""
        check_array("x", x, ndim=1 + len(self.in_shape), finite=False)
        if tuple(x.shape[1:]) != self.in_shape:
            raise ConfigError(f"x has samples of shape {tuple(x.shape[1:])} (x: {tuple(x.shape)}); allowed: "
                              f"{self.in_shape}, as [B, ...] without a time axis.")
        if self.kind == "mlp":
            h = x
            for i, layer in enumerate(self.layers):
                h = layer(h)
                if i < len(self.layers) - 1:
                    h = F.relu(h)
            return h
        q = self.config.pool
        h = F.max_pool2d(F.relu(self.conv1(x)), q)
        h = F.max_pool2d(F.relu(self.conv2(h)), q)
        return self.fc(h.flatten(1))

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        """The class scores: the network's output itself."""
        return out

    @torch.no_grad()
    def predict(self, x, backend: str = "torch", batch_size: int = 256) -> np.ndarray:
        """Predicted class per sample (int64 numpy ``[B]``); ``x``: ``[B, *in_shape]`` tensor or array."""
        if backend not in ANN_BACKENDS:
            raise ConfigError(f"backend={backend!r} cannot evaluate an ANN; allowed: {', '.join(ANN_BACKENDS)}.")
        check_number("batch_size", batch_size, lo=1, integer=True)
        x = torch.as_tensor(x)
        dev = next(self.parameters()).device
        preds = [self(x[lo:lo + batch_size].to(dev)).argmax(-1).cpu() for lo in range(0, x.shape[0], batch_size)]
        return torch.cat(preds).numpy().astype(np.int64) if preds else np.zeros(0, np.int64)


def ann_like(model_or_config: SpikingMLP | SpikingMLPConfig | SpikingConvNet | SpikingConvConfig, *,
             copy_weights: bool = False) -> ANN:
    """The ANN twin of a spiking model or config. ``copy_weights`` (a model only): start from the
    spiking model's weights (same parameter names and shapes)."""
    if isinstance(model_or_config, (SpikingMLP, SpikingConvNet)):
        ann = ANN(model_or_config.config)
        if copy_weights:
            ann.load_state_dict(model_or_config.state_dict())
            ann.to(next(model_or_config.parameters()).device)
        return ann
    if copy_weights:
        raise ConfigError("copy_weights=True needs a model; allowed with a config: copy_weights=False.")
    if isinstance(model_or_config, (SpikingMLPConfig, SpikingConvConfig)):
        return ANN(model_or_config)
    raise ConfigError(f"ann_like() got a {type(model_or_config).__name__}; allowed: SpikingMLP, SpikingMLPConfig, "
                      "SpikingConvNet, SpikingConvConfig.")


def is_spiking(model) -> bool:
    """True for a spiking model (it has a time axis and a ``run(x, backend)``), False for an ANN or
    any other module. Looks through ``DistributedDataParallel``/``DataParallel`` wrappers."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return bool(getattr(model, "spiking", False))

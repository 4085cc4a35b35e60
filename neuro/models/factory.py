"""Build the network a ``[model]`` config table describes (``neuro.train.config.ModelConfig``)."""

from __future__ import annotations

from torch import nn

from neuro.errors import ConfigError


def neuron_params(m):
    """LIFParams or ALIFParams from the config's neuron keys (slope 0 = the surrogate's default)."""
    common = dict(beta=m.beta, v_th=m.v_th, reset=m.reset, refractory_steps=m.refractory_steps,
                  surrogate=m.surrogate, surrogate_slope=m.surrogate_slope or None)
    if m.neuron == "alif":
        from neuro.neurons.alif import ALIFParams

        return ALIFParams(rho=m.rho, adapt=m.adapt, **common)
    from neuro.neurons.lif import LIFParams

    return LIFParams(**common)


def build(m, in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """``m``: a ModelConfig. ``in_shape``: one sample's shape (``(F,)`` or ``(C, H, W)``)."""
    from neuro.models.ann import ann_like
    from neuro.models.conv import SpikingConvConfig, SpikingConvNet
    from neuro.models.mlp import SpikingMLP, SpikingMLPConfig

    if m.kind.endswith("mlp"):
        if len(in_shape) != 1:
            raise ConfigError(f"model.kind={m.kind!r} needs flat inputs; got sample shape {in_shape}.")
        cfg = SpikingMLPConfig(sizes=(in_shape[0], *m.hidden, n_classes), lif=neuron_params(m),
                               readout=m.readout, neuron=m.neuron)
        return SpikingMLP(cfg) if m.kind == "spiking_mlp" else ann_like(cfg)
    if len(in_shape) != 3:
        raise ConfigError(f"model.kind={m.kind!r} needs image inputs [C, H, W]; got sample shape {in_shape}.")
    cfg = SpikingConvConfig(in_shape=tuple(in_shape), channels=tuple(m.channels), kernel_size=m.kernel_size,
                            n_classes=n_classes, lif=neuron_params(m), readout=m.readout, neuron=m.neuron)
    return SpikingConvNet(cfg) if m.kind == "spiking_conv" else ann_like(cfg)

"""Network models built from the neurons in ``neuro.neurons``."""

from neuro.models.mlp import SpikingMLP, SpikingMLPConfig

__all__ = ["SpikingMLP", "SpikingMLPConfig"]

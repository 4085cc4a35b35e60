"""Neuron models: each a frozen Params dataclass, a State NamedTuple and pure step functions."""

from neuro.neurons.lif import LIF, LIFParams, LIFState, lif_multistep

__all__ = ["LIF", "LIFParams", "LIFState", "lif_multistep"]

"""Neuron models: each a frozen Params dataclass, a State NamedTuple and pure step functions."""

from neuro.neurons.alif import ALIF, ALIFParams, ALIFState, alif_multistep
from neuro.neurons.amsu import AMSULayer, AMSUParams, AMSUState, amsu_multistep
from neuro.neurons.lif import LIF, LIFParams, LIFState, lif_multistep

__all__ = ["ALIF", "ALIFParams", "ALIFState", "AMSULayer", "AMSUParams", "AMSUState", "amsu_multistep", "LIF", "LIFParams", "LIFState", "alif_multistep", "lif_multistep"]

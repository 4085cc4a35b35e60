"""Network models built from the neurons in ``neuro.neurons``, their readouts/losses and ANN twins."""

from neuro.models.ann import ANN, ann_like, is_spiking
from neuro.models.conv import ConvOutput, SpikingConvConfig, SpikingConvNet
from neuro.models.mlp import MLPOutput, SpikingMLP, SpikingMLPConfig
from neuro.models.readout import LOSSES, READOUTS, Loss, get_loss, readout

__all__ = ["ANN", "ConvOutput", "LOSSES", "Loss", "MLPOutput", "READOUTS", "SpikingConvConfig", "SpikingConvNet",
           "SpikingMLP", "SpikingMLPConfig", "ann_like", "get_loss", "is_spiking", "readout"]

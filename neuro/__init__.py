"""neuroforge: spiking, astrocyte-modulated, Hebbian and forward-forward networks.

Public entry points live in submodules (``neuro.neurons``, ``neuro.data``, ``neuro.models``);
this module imports nothing heavy so that ``import neuro`` is quick.
"""

__version__ = "0.1.0"

from neuro.errors import BackendError, ConfigError, DataError, HardwareError, NeuroError, TrainingError

__all__ = ["BackendError", "ConfigError", "DataError", "HardwareError", "NeuroError", "TrainingError", "__version__"]

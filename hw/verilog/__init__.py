"""Verilog generation from Jinja2 templates (``templates/*.v.j2``); see ``generate.py``."""

from hw.verilog.generate import (render_lif_neuron, render_snn, snn_layer_parameters, snn_readout_parameters,
                                 verilog_parameters, write_lif_neuron, write_snn)

__all__ = ["render_lif_neuron", "render_snn", "snn_layer_parameters", "snn_readout_parameters",
           "verilog_parameters", "write_lif_neuron", "write_snn"]

"""Verilog generation from Jinja2 templates (``templates/*.v.j2``); see ``generate.py``."""

from hw.verilog.generate import render_lif_neuron, verilog_parameters, write_lif_neuron

__all__ = ["render_lif_neuron", "verilog_parameters", "write_lif_neuron"]

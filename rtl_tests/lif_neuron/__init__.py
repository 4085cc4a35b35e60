"""RTL tests of the generated fixed-point LIF neuron (hw/verilog/templates/lif_neuron.v.j2)."""

"""RTL tests of the generated spiking-MLP core (hw/verilog/templates/snn_*.v.j2)."""

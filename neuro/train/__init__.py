"""Training loops (surrogate-gradient BPTT for spiking models)."""

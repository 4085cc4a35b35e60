"""Hardware path: fixed point, the integer golden model, Verilog generation, simulation, synthesis.

Nothing here imports torch at module load; optional tools are found lazily with an error that
names what to install.
"""

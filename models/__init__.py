"""Physics and circuits: MTJ device kernels, memory arrays, DRAM and PE figures (no SimPy, no torch)."""

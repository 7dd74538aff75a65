"""Hardware units of the engine: scratchpads, DRAM with its DMA, and the tile timing of the units."""

"""Memory technologies, one module each, registered under their YAML ``technology:`` name.

`parse` / `from_config` turn a memory's YAML mapping into its technology's spec / `ArrayFigures`;
`names` lists what is registered; a new technology is one module with a `MemorySpec` subclass
decorated with `register` (see `base`), imported here (or by the code that uses it).
"""

from models.technologies.base import (
    DeviceSweep, MemorySpec, for_nvsim_cell, from_config, get, names, nvsim_cells, parse, register, unregister,
)
from models.technologies import sram, stt_mram  # noqa: F401  (built-ins register themselves)

__all__ = ["DeviceSweep", "MemorySpec", "for_nvsim_cell", "from_config", "get", "names", "nvsim_cells", "parse",
           "register", "unregister"]

"""Memory technologies, one module each, registered under their YAML ``technology:`` name.

`parse` / `from_config` turn a memory's YAML mapping into its technology's spec / `ArrayFigures`;
`names` lists what is registered; a new technology is one module with a `MemorySpec` subclass
decorated with `register` (see `base`), imported here (or by the code that uses it).
"""

from models.technologies.base import (
    DeviceSweep, MemorySpec, for_nvsim_cell, from_config, get, names, nvsim_cells, parse, register, unregister,
)
# Built-ins register themselves on import, in this order (the order error messages list them in).
from models.technologies import sram  # noqa: E402,F401  isort: skip
from models.technologies import stt_mram  # noqa: E402,F401  isort: skip
from models.technologies import sot_mram  # noqa: E402,F401  isort: skip

__all__ = ["DeviceSweep", "MemorySpec", "for_nvsim_cell", "from_config", "get", "names", "nvsim_cells", "parse",
           "register", "unregister"]

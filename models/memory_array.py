"""Compatibility names for code written before the technology registry (`models.technologies`).

`MemoryArray.from_config` / `MemoryArray.parse` are `models.technologies.from_config` / `parse`.
"""

from models import technologies
from models.figures import ArrayFigures
from models.technologies.calibration import cmos_constants
from models.technologies.mram_periphery import MramCell, mram_figures
from models.technologies.search import capacity_for_area
from models.technologies.sram import sram_figures


class MemoryArray:
    from_config = staticmethod(technologies.from_config)
    parse = staticmethod(technologies.parse)


__all__ = ["ArrayFigures", "MemoryArray", "MramCell", "capacity_for_area", "cmos_constants", "mram_figures",
           "sram_figures"]

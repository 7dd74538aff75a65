"""A memory's write buffer (``write_buffer_words``): a small HP SRAM in front of the banks.

Every word written enters the buffer and is read out into its bank, so a buffered memory's write
costs the buffer's write and read energy on top of its own; the buffer adds its area and leakage.
Its figures are the SRAM technology's (`models.technologies.sram`, NVSim-calibrated) for one bank of
``words`` words of the memory's width at the memory's node, HP flavour (the buffer must keep up
with the writer). The engine's use of it: `simulator.components.scratchpad` (the writer moves on
before the buffered words have drained).
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO_SLOTS = (0, 1, 2, 4, 8, 16)  # words per bank that ``write_buffer_words: auto`` tries


@dataclass(frozen=True)
class BufferFigures:
    words: int
    area_mm2: float
    write_energy_pj: float  # per word
    read_energy_pj: float  # per word
    write_latency_ns: float
    leakage_mw: float


NO_BUFFER = BufferFigures(0, 0.0, 0.0, 0.0, 0.0, 0.0)


def buffer_figures(node_nm: float, word_bits: int, words: int, where: str = "write_buffer_words") -> BufferFigures:
    """The buffer of ``words`` words of ``word_bits`` (none for 0 words)."""
    if words <= 0:
        return NO_BUFFER
    from models.technologies.sram import sram_figures

    f = sram_figures(words * word_bits // 8, 1, word_bits, node_nm, "hp", where)
    return BufferFigures(words, f.area_mm2, f.write_energy_pj, f.read_energy_pj, f.write_latency_ns, f.leakage_mw)


def with_buffer(base: dict, extra: dict, b: BufferFigures) -> tuple[dict, dict]:
    """A memory's figure dicts (as `simulator.config` keeps them) with its buffer's costs added."""
    if not b.words:
        return base, extra
    base, extra = dict(base), dict(extra)
    through = b.write_energy_pj + b.read_energy_pj
    base["write_energy_pj"] += through
    extra["write_energy_pj_fixed"] += through
    base["area_mm2"] += b.area_mm2
    base["leakage_mw"] += b.leakage_mw
    return base, extra

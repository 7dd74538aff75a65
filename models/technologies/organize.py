"""Organisation search (``organize: auto``): banks and word width for the write bandwidth the
accelerator needs; one function over the technology interface, shared by every technology.

The rule, in bytes per accelerator cycle:
- required write bandwidth of a memory = the fastest of its writers, each at its peak rate (a write
  buffer, or a transfer's slack, absorbs the overlap of DMA with the array; a sum of the two would
  double the sense amplifiers and write drivers, and with them the MRAM's area). Writers: the PE
  array's output rate for the classes the array writes there (``activation``, ``error``,
  ``weight_gradient``): cols x element bytes per cycle for ``ws`` / ``is`` (one output per column
  per cycle), rows x element bytes for ``os`` (outputs drain row-wise); the accumulator's partial
  sums at the same rate in fp32 (4 bytes); the vector unit's lanes x element bytes for every class
  it writes (all placed classes: batch-norm, ReLU, the optimizer). DMA fill: the DRAM bandwidth over
  all channels at the clock, for a memory that holds any placed (DRAM-backed) class.
- sustainable write bandwidth of an organisation = banks x word_bytes / write occupancy in cycles
  (ceil of the occupancy in ns times clock_ghz, as the engine counts it).
- candidates: banks 1-256 and word widths 64-512 bits (NVSim's widest word), powers of two, at the
  given capacity (or, with a target area, at the largest capacity of that organisation that fits
  it), that lose neither read nor write bandwidth against the organisation given in the YAML (so
  ``auto`` cannot make a run slower for want of bandwidth) and that sustain the required rate.
- choice: the least energy-delay product per byte, (read + write energy per word / word bytes) x
  (read + write latency); ties go to fewer banks, then narrower words. If no candidate sustains the
  required rate, the one with the most write bandwidth (ties by energy-delay): the YAML's own is
  always a candidate.
- write buffer (``write_buffer_words: auto`` or a list of depths in words): each organisation is
  also tried with each depth (auto: 0, 1, 2, 4, 8, 16 words per bank). The buffer is a small HP SRAM
  at the memory's node (`write_buffer.buffer_figures`): every word written passes through it (its
  write and read energy are added to the memory's write energy), its area is added to the memory's
  (with a target area the memory's capacity shrinks to make room) and its leakage to the memory's.
  It hides the write latency from the writer when it holds what the fastest writer produces during
  one write occupancy (``required x occupancy cycles / (banks x word bytes)`` words per bank): then
  the latency in the energy-delay is the buffer's write latency, else the memory's. A candidate may
  not hide fewer cycles (words per bank x write occupancy) than the fixed organisation with the
  smallest listed depth (auto: none), which is what ``auto`` replaces. Ties: fewer banks, narrower
  words, shallower buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.figures import ArrayFigures
from models.technologies.base import MemorySpec
from models.technologies.search import MAX_BANK_KIB, capacity_step_kib, largest_fitting
from models.technologies.write_buffer import AUTO_SLOTS, NO_BUFFER, BufferFigures, buffer_figures

BANK_CHOICES = tuple(2**k for k in range(9))  # 1 .. 256
WORD_BITS_CHOICES = (64, 128, 256, 512)
ORGANIZE_MODES = ("fixed", "auto")
PSUM_BYTES = 4  # fp32 partial sums (simulator.plan.PSUM_BYTES)
ARRAY_WRITTEN = ("activation", "error", "weight_gradient")


def cycles(ns: float, clock_ghz: float) -> int:
    """Whole cycles covering ``ns`` (the engine's ceil rule)."""
    return max(1, math.ceil(ns * clock_ghz - 1e-9))


def write_bandwidth(f: ArrayFigures, clock_ghz: float) -> float:
    """Bytes per cycle the memory absorbs: banks x word bytes / write occupancy (cycles)."""
    return f.banks * f.word_bytes / cycles(f.write_occupancy_ns, clock_ghz)


def read_bandwidth(f: ArrayFigures, clock_ghz: float) -> float:
    return f.banks * f.word_bytes / cycles(f.read_occupancy_ns, clock_ghz)


def required_write_bytes_per_cycle(classes: tuple[str, ...], accumulator: bool, dataflow: str, rows: int, cols: int,
                                   element_bytes: int, vector_lanes: int, dram_bytes_per_cycle: float) -> float:
    """The module's rule: the fastest writer of a memory holding ``classes`` (and partial sums if
    it is the ``accumulator``), in bytes per cycle."""
    outputs_per_cycle = rows if dataflow == "os" else cols
    on_chip = [0.0]
    if any(c in ARRAY_WRITTEN for c in classes):
        on_chip.append(outputs_per_cycle * element_bytes)
    if accumulator:
        on_chip.append(outputs_per_cycle * PSUM_BYTES)
    if classes:
        on_chip.append(vector_lanes * element_bytes)
    return max(on_chip + ([dram_bytes_per_cycle] if classes else []))


@dataclass(frozen=True)
class Choice:
    figures: ArrayFigures
    required_bytes_per_cycle: float
    sustained_bytes_per_cycle: float
    candidates: int
    buffer_words: int = 0
    buffer: BufferFigures = NO_BUFFER

    @property
    def sustains(self) -> bool:
        return self.sustained_bytes_per_cycle >= self.required_bytes_per_cycle


def energy_delay(f: ArrayFigures) -> float:
    """pJ ns per byte: (read + write energy per word) / word bytes x (read + write latency)."""
    return (f.read_energy_pj + f.write_energy_pj) / f.word_bytes * (f.read_latency_ns + f.write_latency_ns)


def buffered_energy_delay(f: ArrayFigures, b: BufferFigures, slots: int, required_bytes_per_cycle: float,
                          clock_ghz: float) -> float:
    """`energy_delay` with a buffer of ``slots`` words per bank in front of the banks (module rule)."""
    needed = required_bytes_per_cycle * cycles(f.write_occupancy_ns, clock_ghz) / (f.banks * f.word_bytes)
    write_ns = b.write_latency_ns if slots and slots >= needed else f.write_latency_ns
    return ((f.read_energy_pj + f.write_energy_pj + b.write_energy_pj + b.read_energy_pj) / f.word_bytes
            * (f.read_latency_ns + write_ns))


def organise(spec: MemorySpec, required_bytes_per_cycle: float, clock_ghz: float,
             target_area_mm2: float | None = None, buffer_words: tuple[int, ...] | str | None = None) -> Choice:
    """The organisation of ``spec``'s memory by the module's rule (``spec``'s own banks and word
    width are the fixed organisation it replaces; with ``target_area_mm2`` each candidate takes the
    largest capacity that fits it, else ``spec``'s capacity). ``buffer_words``: the write buffer
    depths to search (words, or ``"auto"``), None to leave the buffer out of the search."""
    model = spec.organisation_model()

    def depths(banks: int) -> tuple[int, ...]:
        if buffer_words is None:
            return (0,)
        return tuple(s * banks for s in AUTO_SLOTS) if buffer_words == "auto" else tuple(buffer_words)

    def at(banks: int, word_bits: int, room_mm2: float) -> ArrayFigures | None:
        if target_area_mm2 is None:
            if spec.capacity_bytes % (banks * word_bits // 8) or spec.capacity_bytes // banks > MAX_BANK_KIB * 1024:
                return None
            return model(spec.capacity_bytes, banks, word_bits)
        if target_area_mm2 - room_mm2 <= 0:
            return None
        kib, _ = largest_fitting(lambda c: model(c, banks, word_bits).area_mm2, target_area_mm2 - room_mm2,
                                 capacity_step_kib(banks, word_bits), banks * MAX_BANK_KIB)
        return model(kib * 1024, banks, word_bits) if kib else None

    def buffer(banks: int, word_bits: int, words: int) -> BufferFigures:
        return buffer_figures(spec.node_nm, word_bits, words, f"{spec.where}.write_buffer_words")

    fixed_words = min(depths(spec.banks))
    fixed = model(spec.capacity_bytes, spec.banks, spec.word_bits)
    floor_read, floor_write = read_bandwidth(fixed, clock_ghz), write_bandwidth(fixed, clock_ghz)
    floor_hidden = fixed_words // spec.banks * cycles(fixed.write_occupancy_ns, clock_ghz)
    pool = [(fixed, fixed_words, buffer(spec.banks, spec.word_bits, fixed_words))]
    for banks in BANK_CHOICES:
        for word_bits in WORD_BITS_CHOICES:
            for words in depths(banks):
                if (banks, word_bits, words) == (spec.banks, spec.word_bits, fixed_words) and target_area_mm2 is None:
                    continue
                b = buffer(banks, word_bits, words)
                f = at(banks, word_bits, b.area_mm2)
                if f is None or read_bandwidth(f, clock_ghz) < floor_read or write_bandwidth(f, clock_ghz) < floor_write:
                    continue
                if words // banks * cycles(f.write_occupancy_ns, clock_ghz) < floor_hidden:
                    continue
                pool.append((f, words, b))

    def edp(c) -> float:
        f, words, b = c
        return buffered_energy_delay(f, b, words // f.banks, required_bytes_per_cycle, clock_ghz)

    sustaining = [c for c in pool if write_bandwidth(c[0], clock_ghz) >= required_bytes_per_cycle]
    if sustaining:
        best = min(sustaining, key=lambda c: (edp(c), c[0].banks, c[0].word_bits, c[1]))
    else:
        best = min(pool, key=lambda c: (-write_bandwidth(c[0], clock_ghz), edp(c), c[0].banks, c[0].word_bits, c[1]))
    f, words, b = best
    return Choice(f, required_bytes_per_cycle, write_bandwidth(f, clock_ghz), len(pool), words, b)

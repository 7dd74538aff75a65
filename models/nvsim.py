"""Read an NVSim output file (SEAL-UCSB NVSim, design target RAM) into `ArrayFigures`.

NVSim prints one solution: the cell (``Memory Cell: SRAM`` or ``MRAM (Magnetoresistive)``), the
DESIGN SPECIFICATION (``Capacity``, ``Data Width``), the CONFIGURATION and the RESULT section with
``Total Area``, ``Read Latency``, ``Write Latency``, ``Read Bandwidth``, ``Write Bandwidth``, ``Read
Dynamic Energy``, ``Write Dynamic Energy`` and ``Leakage Power``, each with a unit suffix (ps/ns/us,
pJ/nJ, pW/nW/uW/mW/W, um^2/mm^2, MB/s, GB/s). The file describes the whole memory; bank
concurrency is the simulator's (`models.technologies.from_config` sets ``banks``).
Which technology reads which NVSim cell is the technology's ``NVSIM_CELL``.

What NVSim does not give and how it is filled in: occupancy = word bytes / NVSim's bandwidth (its
bandwidth is one word per subarray cycle); NVSim drives every bit of a word, so for MRAM the
per-bit write energy is (write energy - H-tree write energy) / word bits and the fixed part is the
H-tree write energy (SRAM: all fixed). NVSim has no error model: error probabilities are 0 here,
the technology adds them from its device model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from models.errors import UserError, shown
from models.figures import ArrayFigures

_SCALE = {
    "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6,
    "fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6,
    "pW": 1e-9, "nW": 1e-6, "uW": 1e-3, "mW": 1.0, "W": 1e3,
    "nm^2": 1e-12, "um^2": 1e-6, "mm^2": 1.0,
    "KB/s": 1e-6, "MB/s": 1e-3, "GB/s": 1.0, "TB/s": 1e3,
}
_CAPACITY = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
MAX_BYTES = 4 << 20  # an NVSim output is a few KiB
MAX_CAPACITY_BYTES = 16 << 30  # the config's capacity_kib limit (simulator.config)
# Each figure in the project's units, [low, high]: beyond any array NVSim models (issue 13: finite, physical).
FIELD_RANGES = {
    "area_mm2": (0.0, 1e5), "read_latency_ns": (0.0, 1e6), "write_latency_ns": (0.0, 1e6),
    "read_bandwidth_gbps": (0.0, 1e6), "write_bandwidth_gbps": (0.0, 1e6), "read_energy_pj": (0.0, 1e9),
    "write_energy_pj": (0.0, 1e9), "write_htree_energy_pj": (0.0, 1e9), "leakage_mw": (0.0, 1e7),
    "write_pulse_ns": (0.0, 1e6), "sense_ns": (0.0, 1e6),
}
POSITIVE = ("area_mm2", "read_latency_ns", "write_latency_ns", "read_bandwidth_gbps", "write_bandwidth_gbps")
_NUMBER = r"([0-9]{0,40}\.?[0-9]{1,40}(?:[eE][-+]?[0-9]{1,4})?)"  # bounded: no quadratic regex scans


@dataclass(frozen=True)
class NvsimRun:
    """The figures of one NVSim output file, in the project's units."""

    path: str
    technology: str
    per_bit_write: bool  # the technology drives (and NVSim charges) each bit of a word: MRAM
    capacity_bytes: int
    word_bits: int
    area_mm2: float
    read_latency_ns: float
    write_latency_ns: float
    read_bandwidth_gbps: float
    write_bandwidth_gbps: float
    read_energy_pj: float
    write_energy_pj: float
    write_htree_energy_pj: float
    leakage_mw: float
    write_pulse_ns: float
    sense_ns: float
    organisation: str


class _Text:
    def __init__(self, path: Path, text: str):
        self.path, self.text = path, text

    def missing(self, what: str) -> UserError:
        return UserError(f"{self.path}: no {what} found (not an NVSim RAM output file?)")

    def quantity(self, label: str, units: tuple[str, ...], after: str = "", sub: bool = False) -> float:
        """``- Label = <number><unit>`` (``|--- Label ...`` for a breakdown line when ``sub``)."""
        start = self.text.find(after) if after else 0
        if start < 0:
            raise self.missing(repr(after))
        unit_re = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
        lead = r"^[ \t]*\|-+[ \t]*" if sub else r"^[ \t]*-[ \t]+"
        m = re.compile(lead + re.escape(label) + r"[ \t]*[=:][ \t]*" + _NUMBER + r"[ \t]*(" + unit_re + r")",
                       re.MULTILINE).search(self.text, start)
        if m is None:
            where = f" after '{after}'" if after else ""
            raise self.missing(f"'{label} = <number><unit>' ({'/'.join(units)}){where}")
        return float(m.group(1)) * _SCALE[m.group(2)]

    def optional(self, label: str, units: tuple[str, ...], after: str = "", sub: bool = False) -> float:
        try:
            return self.quantity(label, units, after, sub)
        except UserError:
            return 0.0

    def line(self, pattern: str, what: str) -> re.Match:
        m = re.search(pattern, self.text)
        if m is None:
            raise self.missing(what)
        return m


def parse_nvsim_output(path: str | Path) -> NvsimRun:
    """All figures of an NVSim RAM output file; one-line UserError naming what is missing."""
    from models import technologies
    from models.yamlio import read_bytes

    path = Path(path)
    t = _Text(path, read_bytes(path, "an NVSim output file", MAX_BYTES).decode("latin-1"))

    cell = t.line(r"Memory Cell:\s*(\w+)", "'Memory Cell:' line").group(1)
    tech = technologies.for_nvsim_cell(cell)
    if tech is None:
        raise UserError(f"{path}: Memory Cell = {cell} (supported: {', '.join(technologies.nvsim_cells())})")
    cap = t.line(r"Capacity\s*:\s*" + _NUMBER + r"\s*(GB|MB|KB|B)\b", "'Capacity : <n>KB/MB' line")
    capacity_bytes = float(cap.group(1)) * _CAPACITY[cap.group(2)]
    if not capacity_bytes.is_integer():
        raise UserError(f"{path}: Capacity = {cap.group(1)}{cap.group(2)} (not a whole number of bytes)")
    width = t.line(r"Data Width\s*:\s*(\d+)\s*Bits", "'Data Width : <n>Bits' line").group(1)
    word_bits = int(width) if len(width) <= 6 else 0
    if not 8 <= word_bits <= 4096 or word_bits % 8:
        raise UserError(f"{path}: Data Width = {shown(width)} Bits (must be a multiple of 8 from 8 to 4096)")
    if not 1 <= capacity_bytes <= MAX_CAPACITY_BYTES:
        raise UserError(f"{path}: Capacity = {cap.group(1)}{cap.group(2)} (must be 1 B to {MAX_CAPACITY_BYTES >> 30} GiB)")
    time_u, energy_u = ("ps", "ns", "us", "ms"), ("fJ", "pJ", "nJ", "uJ")
    run = NvsimRun(
        path=str(path),
        technology=tech.NAME,
        per_bit_write=tech.NVSIM_PER_BIT_WRITE,
        capacity_bytes=int(capacity_bytes),
        word_bits=word_bits,
        area_mm2=_total_area(t),
        read_latency_ns=t.quantity("Read Latency", time_u),
        write_latency_ns=t.quantity("Write Latency", time_u),
        read_bandwidth_gbps=t.quantity("Read Bandwidth", ("KB/s", "MB/s", "GB/s", "TB/s")),
        write_bandwidth_gbps=t.quantity("Write Bandwidth", ("KB/s", "MB/s", "GB/s", "TB/s")),
        read_energy_pj=t.quantity("Read Dynamic Energy", energy_u),
        write_energy_pj=t.quantity("Write Dynamic Energy", energy_u),
        write_htree_energy_pj=t.optional("H-Tree Dynamic Energy", energy_u, after="Write Dynamic Energy", sub=True),
        leakage_mw=t.quantity("Leakage Power", ("pW", "nW", "uW", "mW", "W")),
        write_pulse_ns=max(t.optional("Set Pulse", time_u), t.optional("Reset Pulse", time_u)),
        sense_ns=t.optional("Senseamp Latency", time_u, sub=True),
        organisation=_organisation(t),
    )
    if run.per_bit_write and run.write_pulse_ns <= 0:
        raise t.missing("'Set Pulse:' line of the MRAM cell")
    for name, (lo, hi) in FIELD_RANGES.items():
        value = getattr(run, name)
        if not (math.isfinite(value) and lo <= value <= hi) or (lo == 0 and name in POSITIVE and not value > 0):
            raise UserError(f"{path}: {name} = {value:g} (must be {'> 0 and ' if name in POSITIVE else ''}"
                            f"in [{lo:g}, {hi:g}])")
    if run.write_htree_energy_pj > run.write_energy_pj:
        raise UserError(f"{path}: H-Tree write energy {run.write_htree_energy_pj:g} pJ exceeds the Write Dynamic "
                        f"Energy {run.write_energy_pj:g} pJ (a part larger than its total)")
    return run


def _total_area(t: _Text) -> float:
    """``Total Area = W x H = A<unit>^2``: the product after the last '='."""
    m = t.line(r"Total Area\s*=[^\n]*=\s*" + _NUMBER + r"\s*(nm\^2|um\^2|mm\^2)",
               "'Total Area = ... = <area>um^2' line")
    return float(m.group(1)) * _SCALE[m.group(2)]


def _organisation(t: _Text) -> str:
    parts = []
    for label in ("Bank Organization", "Mat Organization", "Subarray Size"):
        m = re.search(re.escape(label) + r"\s*:\s*([^\n]+)", t.text)
        if m:
            parts.append(f"{label.split()[0].lower()} {m.group(1).strip()}")
    return "NVSim: " + ", ".join(parts) if parts else "NVSim"


def figures_from_run(run: NvsimRun, banks: int = 1) -> ArrayFigures:
    """`ArrayFigures` of an NVSim run: NVSim's figures, no error model (see module doc)."""
    word_bytes = run.word_bits / 8
    if run.per_bit_write:
        fixed = run.write_htree_energy_pj
        per_bit = (run.write_energy_pj - fixed) / run.word_bits
    else:
        fixed, per_bit = run.write_energy_pj, 0.0
    return ArrayFigures(
        technology=run.technology, capacity_bytes=run.capacity_bytes, banks=banks, word_bits=run.word_bits,
        read_latency_ns=run.read_latency_ns, write_latency_ns=run.write_latency_ns,
        read_occupancy_ns=word_bytes / run.read_bandwidth_gbps,
        write_occupancy_ns=word_bytes / run.write_bandwidth_gbps,
        read_energy_pj=run.read_energy_pj, write_energy_pj=run.write_energy_pj,
        write_energy_pj_per_switched_bit=per_bit, write_energy_pj_fixed=fixed,
        leakage_mw=run.leakage_mw, area_mm2=run.area_mm2,
        source=run.path, organisation=run.organisation,
    )


def read_nvsim_output(path: str | Path) -> ArrayFigures:
    """NVSim output file -> `ArrayFigures` (one bank, no error probabilities)."""
    return figures_from_run(parse_nvsim_output(path))

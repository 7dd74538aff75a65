"""The technology interface, the keys every memory has, and the registry keyed by ``technology:``.

A technology is a frozen dataclass subclassing `MemorySpec`, registered with `@register`. It owns:
its YAML keys (``KEYS``) and their validation (``parse_keys``), its cell and periphery figures
(``circuit_figures``; the organisation search and iso-area sizing in `search` call it), its per-bit
error probabilities (fields of the `ArrayFigures` it returns: what the /errors ledger records), its
NVSim mapping (``NVSIM_CELL``, ``figures_from_nvsim``) and its device sweep (``device_sweep``).
Code outside a technology's module sees only this interface.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from models.errors import UnknownKeyError, UserError, shown
from models.limits import RANGES, checked
from models.figures import ArrayFigures
from models.technologies.calibration import FLAVORS, cmos_constants

COMMON_KEYS = ("technology", "capacity_kib", "banks", "word_bits", "node_nm", "cell_area_f2", "nvsim_file")
# With nvsim_file the file fixes the circuit; these keys would be silently ignored, so they are refused.
NOT_WITH_NVSIM = ("node_nm", "cell_area_f2")


def number(d: dict, key: str, where: str, default=None, integer: bool = False, positive: bool = True):
    """``d[key]`` (or ``default``) checked to be a positive finite number (or integer)."""
    value = d.get(key, default)
    kind = "a positive integer" if integer else "a positive number"
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if not ok or (positive and not value > 0) or (not integer and not math.isfinite(value)):
        raise UserError(f"{where}.{key} = {shown(value)} (must be {kind})")
    if key in RANGES:  # the key's physical range (models.limits)
        checked(value, f"{where}.{key}", integer=integer)
    return value


@dataclass(frozen=True)
class DeviceSweep:
    """A technology's operating-point table for ``python -m simulator device`` (plain text cells)."""

    summary: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemorySpec(ABC):
    """A validated memory description: the keys every technology has; `figures()` evaluates it."""

    technology: str
    capacity_bytes: int
    banks: int
    word_bits: int
    node_nm: float = 22.0
    flavor: str = "hp"
    cell_area_f2: float = 0.0
    nvsim_file: Path | None = None
    where: str = field(default="memory", compare=False)

    NAME: ClassVar[str] = ""
    KEYS: ClassVar[tuple[str, ...]] = ()  # the technology's own YAML keys
    FLAVOR_KEY: ClassVar[str] = "periphery_flavor"
    CELL_AREA_F2: ClassVar[float] = 0.0  # default cell area
    NVSIM_CELL: ClassVar[str | None] = None  # NVSim's "Memory Cell:" name this technology reads
    NVSIM_PER_BIT_WRITE: ClassVar[bool] = False  # NVSim's write energy is per bit driven (else per word)
    DESCRIPTION: ClassVar[str] = ""
    # Whether the cells keep their data with the periphery power-gated (``power_gating: true``).
    RETAINS_DATA_GATED: ClassVar[bool] = False

    @classmethod
    def accepted_keys(cls) -> tuple[str, ...]:
        return COMMON_KEYS + (cls.FLAVOR_KEY,) + cls.KEYS

    @classmethod
    def parse_keys(cls, d: dict, common: dict) -> MemorySpec:
        """Validate the technology's own keys of ``d``; ``common`` holds the validated common fields."""
        return cls(**common)

    @abstractmethod
    def circuit_figures(self) -> ArrayFigures:
        """Figures from the technology's own circuit and device model."""

    def area_model(self) -> Callable[[int], float]:
        """capacity_bytes -> area (mm2), for the iso-area search (may cache device terms)."""
        model = self.organisation_model()
        return lambda capacity_bytes: model(capacity_bytes, self.banks, self.word_bits).area_mm2

    def organisation_model(self) -> Callable[[int, int, int], ArrayFigures]:
        """(capacity_bytes, banks, word_bits) -> figures, for the organisation search (a technology
        may cache its device terms, which do not depend on the organisation)."""
        return lambda capacity_bytes, banks, word_bits: replace(
            self, capacity_bytes=capacity_bytes, banks=banks, word_bits=word_bits).circuit_figures()

    def wake_up(self, figures: ArrayFigures, area_mm2: float, peak_power_mw: float):
        """`models.technologies.gating.WakeUp` of the power-gated periphery, for a memory of ``figures``
        (the technology's) simulated with ``area_mm2`` (ECC included) and ``peak_power_mw``; only a
        technology with ``RETAINS_DATA_GATED`` has one."""
        raise UserError(f"{self.where}.power_gating = True ({self.technology} is volatile: gating loses its data; "
                        f"accepted: false; technologies that may be gated: "
                        f"{', '.join(n for n in names() if get(n).RETAINS_DATA_GATED)})")

    def figures_from_nvsim(self, figures: ArrayFigures, run) -> ArrayFigures:
        """NVSim's figures (already checked against this spec) completed by the technology."""
        return figures

    def device_sweep(self, voltages_v: list[float], pulses_ns: list[float], mc: int, seed: int) -> DeviceSweep:
        """Optional: a technology with operating points overrides this (`has_device_sweep` tells)."""
        raise UserError(f"{self.where}: technology {self.technology} has no device sweep "
                        f"(technologies with one: {', '.join(n for n in names() if get(n).has_device_sweep())})")

    @classmethod
    def has_device_sweep(cls) -> bool:
        return cls.device_sweep is not MemorySpec.device_sweep

    def figures(self) -> ArrayFigures:
        return self._nvsim_figures() if self.nvsim_file is not None else self.circuit_figures()

    def area_mm2(self) -> float:
        return self.area_model()(self.capacity_bytes)

    def _nvsim_figures(self) -> ArrayFigures:
        from models import nvsim

        run = nvsim.parse_nvsim_output(self.nvsim_file)
        where = self.where
        if run.technology != self.technology:
            raise UserError(f"{where}.technology = {self.technology!r} ({self.nvsim_file} is a {run.technology} "
                            "NVSim output)")
        if self.capacity_bytes and self.capacity_bytes != run.capacity_bytes:
            raise UserError(f"{where}.capacity_kib = {self.capacity_bytes // 1024} ({self.nvsim_file} has "
                            f"{run.capacity_bytes / 1024:g} KiB)")
        if self.word_bits != run.word_bits:
            raise UserError(f"{where}.word_bits = {self.word_bits} ({self.nvsim_file} has {run.word_bits})")
        if run.capacity_bytes % (self.banks * self.word_bits // 8):
            raise UserError(f"{where}.banks = {self.banks} ({run.capacity_bytes / 1024:g} KiB does not divide "
                            f"into {self.banks} banks of whole words)")
        return self.figures_from_nvsim(nvsim.figures_from_run(run, self.banks), run)


_REGISTRY: dict[str, type[MemorySpec]] = {}


def register(cls: type[MemorySpec]) -> type[MemorySpec]:
    """Class decorator: make ``cls`` the technology named ``cls.NAME`` in YAML."""
    if not cls.NAME or cls.NAME in _REGISTRY:
        raise ValueError(f"technology name {cls.NAME!r} is empty or already registered")
    _REGISTRY[cls.NAME] = cls
    return cls


def unregister(name: str) -> None:
    del _REGISTRY[name]


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name, where: str = "memory") -> type[MemorySpec]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UserError(f"{where}.technology = {shown(repr(name))} (available: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def for_nvsim_cell(cell: str) -> type[MemorySpec] | None:
    """The technology that reads NVSim outputs of this cell (the first registered)."""
    return next((c for c in _REGISTRY.values() if c.NVSIM_CELL == cell), None)


def nvsim_cells() -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.NVSIM_CELL for c in _REGISTRY.values() if c.NVSIM_CELL))


def parse(d: dict, where: str, base_dir: str | Path | None = None) -> MemorySpec:
    """YAML mapping of one memory -> its technology's validated spec (``where`` names it in errors).

    A relative ``nvsim_file`` is resolved against ``base_dir`` (default: the working directory).
    """
    if not isinstance(d, dict):
        raise UserError(f"{where} = {d!r} (must be a mapping with technology, capacity_kib, banks, word_bits)")
    cls = get(d.get("technology"), where)
    tech = cls.NAME
    accepted = cls.accepted_keys()
    for key in d:
        if key not in accepted:
            raise UnknownKeyError(f"{where}.{key} = {d[key]!r} (unknown key for {tech}; accepted: {', '.join(accepted)})")
    nvsim_file = None
    if "nvsim_file" in d:
        if cls.NVSIM_CELL is None:
            raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} ({tech} has no NVSim cell to read)")
        for key in NOT_WITH_NVSIM + (cls.FLAVOR_KEY,):
            if key in d:
                raise UserError(f"{where}.{key} = {d[key]!r} (not used with nvsim_file: the NVSim output fixes it)")
        if not isinstance(d["nvsim_file"], (str, Path)) or not str(d["nvsim_file"]):
            raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} (must be a path to an NVSim output file)")
        nvsim_file = Path(d["nvsim_file"])
        if not nvsim_file.is_absolute() and base_dir is not None:
            nvsim_file = Path(base_dir) / nvsim_file
    banks = number(d, "banks", where, default=1, integer=True)
    if banks & (banks - 1):
        raise UserError(f"{where}.banks = {banks} (must be a power of two)")
    word_bits = number(d, "word_bits", where, integer=True)
    if word_bits % 8:
        raise UserError(f"{where}.word_bits = {word_bits} (must be a multiple of 8)")
    capacity_bytes = 0
    if nvsim_file is None or "capacity_kib" in d:
        capacity_kib = number(d, "capacity_kib", where, integer=True)
        capacity_bytes = capacity_kib * 1024
        if capacity_bytes % (banks * word_bits // 8):
            raise UserError(f"{where}.capacity_kib = {capacity_kib} (not divisible into {banks} banks of "
                            f"whole {word_bits}-bit words)")
    node = number(d, "node_nm", where, default=22)
    flavor = d.get(cls.FLAVOR_KEY, "hp")
    if flavor not in FLAVORS:
        raise UserError(f"{where}.{cls.FLAVOR_KEY} = {flavor!r} (accepted: {', '.join(FLAVORS)})")
    if nvsim_file is None:
        cmos_constants(node, flavor, f"{where}.node_nm")
    common = dict(technology=tech, capacity_bytes=capacity_bytes, banks=banks, word_bits=word_bits,
                  node_nm=float(node), flavor=flavor,
                  cell_area_f2=float(number(d, "cell_area_f2", where, default=cls.CELL_AREA_F2)),
                  nvsim_file=nvsim_file, where=where)
    return cls.parse_keys(d, common)


def from_config(d: dict, where: str, base_dir: str | Path | None = None):
    """YAML mapping of one memory -> `ArrayFigures` (``where`` e.g. ``configs/x.yaml: memories.spm``)."""
    return parse(d, where, base_dir).figures()

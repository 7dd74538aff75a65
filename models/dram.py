"""Off-chip DRAM figures: presets for DDR4, LPDDR4 and HBM2, plus per-field overrides from a config.

Figures are per channel; the engine models `channels` independent channels. Bandwidth is the peak
data rate (transfers/s x bus width), latency the row-miss access time tRP + tRCD + CL of the speed
bin, and energy per bit the whole transfer (core, I/O, termination) as quoted in the literature:

- DDR4-3200 x64 channel: 3200 MT/s x 8 B = 25.6 GB/s; JEDEC JESD79-4 speed bin DDR4-3200AA
  (22-22-22 at a 1600 MHz clock): tRP = tRCD = CL = 13.75 ns; burst BL8 x 8 B = 64 B. Energy: DDR4
  figures including I/O are typically quoted at 15-20 pJ/bit; we take the low end, 15 pJ/bit.
- LPDDR4-3200 x16 channel: 3200 MT/s x 2 B = 6.4 GB/s; JESD209-4 at 3200 MT/s: RL = 28 clocks
  at 1600 MHz (17.5 ns), tRCD = 18 ns, tRPpb = 18 ns; burst BL16 x 2 B = 32 B. Energy: typically quoted
  at 4-6 pJ/bit; we take 5 pJ/bit.
- HBM2 128-bit (legacy-mode) channel at 2 Gb/s per pin: 32 GB/s (8 channels = 256 GB/s per stack);
  1000 MHz clock, tRP = tRCD = CL = 14 ns; burst BL2 x 16 B = 32 B. Energy 3.9 pJ/bit (O'Connor et
  al., "Fine-Grained DRAM", MICRO 2017, for HBM2 including I/O).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from models.errors import UnknownKeyError, UserError, shown
from models.limits import checked


@dataclass(frozen=True)
class DramFigures:
    """One DRAM interface. ``bandwidth_gbps`` is gigabytes (not bits) per second per channel."""

    preset: str
    bandwidth_gbps: float
    channels: int
    latency_ns: float
    energy_pj_per_bit: float
    burst_bytes: int
    clock_mhz: float

    @property
    def total_bandwidth_gbps(self) -> float:
        return self.bandwidth_gbps * self.channels

    @property
    def energy_pj_per_byte(self) -> float:
        return 8.0 * self.energy_pj_per_bit


PRESETS: dict[str, DramFigures] = {
    "ddr4": DramFigures("ddr4", bandwidth_gbps=25.6, channels=1, latency_ns=41.25,
                        energy_pj_per_bit=15.0, burst_bytes=64, clock_mhz=1600.0),
    "lpddr4": DramFigures("lpddr4", bandwidth_gbps=6.4, channels=4, latency_ns=53.5,
                          energy_pj_per_bit=5.0, burst_bytes=32, clock_mhz=1600.0),
    "hbm2": DramFigures("hbm2", bandwidth_gbps=32.0, channels=8, latency_ns=42.0,
                        energy_pj_per_bit=3.9, burst_bytes=32, clock_mhz=1000.0),
}

_INT_FIELDS = ("channels", "burst_bytes")
_FLOAT_FIELDS = ("bandwidth_gbps", "latency_ns", "energy_pj_per_bit", "clock_mhz")


def dram_from_config(d: dict, where: str) -> DramFigures:
    """``{preset: ddr4, channels: 2, ...}`` -> `DramFigures`: the preset, then the given fields.

    ``where`` names the mapping in error messages, e.g. ``configs/x.yaml: dram``.
    """
    if not isinstance(d, dict):
        raise UserError(f"{where} = {d!r} (must be a mapping with a 'preset' key)")
    accepted = ("preset",) + _FLOAT_FIELDS + _INT_FIELDS
    for key in d:
        if key not in accepted:
            raise UnknownKeyError(f"{where}.{key} = {d[key]!r} (unknown key; accepted: {', '.join(accepted)})")
    name = d.get("preset", "ddr4")
    if not isinstance(name, str) or name not in PRESETS:
        raise UserError(f"{where}.preset = {shown(name)} (available: {', '.join(PRESETS)})")
    overrides: dict[str, float | int] = {}
    for key in _FLOAT_FIELDS:
        if key in d:
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise UserError(f"{where}.{key} = {shown(value)} (must be a positive number)")
            overrides[key] = float(checked(value, f"{where}.{key}"))
    for key in _INT_FIELDS:
        if key in d:
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"{where}.{key} = {shown(value)} (must be a positive integer)")
            overrides[key] = checked(value, f"{where}.{key}", integer=True)
    if "burst_bytes" in overrides and overrides["burst_bytes"] & (overrides["burst_bytes"] - 1):
        raise UserError(f"{where}.burst_bytes = {overrides['burst_bytes']} (must be a power of two)")
    return replace(PRESETS[name], **overrides)


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


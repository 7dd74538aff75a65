"""Physical ranges of every numeric input, and the one check that applies them.

A number from a user (a config key, a ``--set`` value, a CLI list, an NVSim field) must be finite,
of the right kind and inside its key's range; the error is one line naming the key, the value (cut
short) and the range. The ranges are wide enough for any design the models describe and narrow
enough that no later step overflows, runs out of memory or takes minutes on a nonsense value.
"""

from __future__ import annotations

import math

from models.errors import UserError, shown

# Highest cell supply voltage: the write-point search's own bound (operating_point.V_MAX, 3 V, a
# thick-oxide I/O rail); the barrier's breakdown (mtj.breakdown_v) is checked on V_mtj by the cell model.
MAX_CELL_VOLTAGE_V = 3.0

# key -> (low, high, unit): inclusive bounds. Keys are leaf names (the same name means the same
# quantity in every section); a key missing here is checked only for being a finite number.
RANGES: dict[str, tuple[float, float, str]] = {
    # memories (models.technologies)
    "node_nm": (5.0, 180.0, "nm"),
    "cell_area_f2": (1.0, 2000.0, "F^2"),
    "write_voltage_v": (1e-3, MAX_CELL_VOLTAGE_V, "V"),
    "read_voltage_v": (1e-3, MAX_CELL_VOLTAGE_V, "V"),
    # 1 us: 5x the write-point search's longest pulse (operating_point.T_MAX_NS); the Fokker-Planck
    # solve grows with the pulse (10 us took 18 s on this 2-core machine)
    "write_pulse_ns": (0.01, 1e3, "ns"),
    "read_pulse_ns": (0.01, 1e3, "ns"),
    "wer_target": (1e-30, 0.5, ""),
    "temperature_k": (200.0, 400.0, "K"),
    # MTJ cell and coupling keys (memories.*.mtj; the MTJ's own parameters are ranged in models.mtj)
    "mu0_hk_t": (1e-4, 100.0, "T"),
    "eta_p2ap": (1e-4, 1.0, ""),
    "eta_ap2p": (1e-4, 1.0, ""),
    "tmr_vh_v": (1e-3, 100.0, "V"),
    "breakdown_v": (0.05, 10.0, "V"),
    "access_r_on_ohm_um": (1.0, 1e7, "Ohm um"),
    "access_i_sat_ua_per_um": (1.0, 1e5, "uA/um"),
    # DRAM (models.dram)
    "channels": (1, 1024, ""),
    "bandwidth_gbps": (0.01, 1e5, "GB/s"),
    "latency_ns": (0.1, 1e6, "ns"),
    "energy_pj_per_bit": (0.0, 1e4, "pJ/bit"),
    "burst_bytes": (1, 1 << 20, "B"),
    "clock_mhz": (1.0, 1e5, "MHz"),
    # CLI numbers
    "--voltages": (1e-3, MAX_CELL_VOLTAGE_V, "V"),
    "--pulses": (0.01, 1e3, "ns"),
}


def _text(lo: float, hi: float, unit: str) -> str:
    return f"[{lo:g}, {hi:g}]" + (f" {unit}" if unit else "")


def checked(value, name: str, lo: float | None = None, hi: float | None = None, integer: bool = False,
            unit: str = "", key: str | None = None):
    """``value`` if it is a finite number (an int when ``integer``) in [lo, hi], else a one-line `UserError`.

    ``name`` is what the message starts with (e.g. ``configs/x.yaml: dram.latency_ns``); the range is
    ``lo``/``hi``/``unit`` or, when those are None, ``RANGES[key]`` (``key`` defaults to the last part
    of ``name``).
    """
    if lo is None or hi is None:
        rlo, rhi, unit = RANGES.get(key or name.rsplit(".", 1)[-1], (-math.inf, math.inf, unit))
        lo, hi = (rlo if lo is None else lo), (rhi if hi is None else hi)
    kind = "an integer" if integer else "a number"
    rng = _text(lo, hi, unit) if math.isfinite(lo) or math.isfinite(hi) else "finite"
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if ok and not integer:
        ok = math.isfinite(value) if isinstance(value, float) else abs(value) < 1e300
    if not ok:
        raise UserError(f"{name} = {shown(value)} (must be {kind}" + (f" in {rng})" if rng != "finite" else ", finite)"))
    if not lo <= value <= hi:
        raise UserError(f"{name} = {shown(value)} (must be in {rng})")
    return value


def in_range(key: str) -> tuple[float, float, str]:
    """The (low, high, unit) of a key in `RANGES` (for messages and docs)."""
    return RANGES[key]

"""`write_voltage_v: auto` / `write_pulse_ns: auto`: the write point that meets the memory's
``wer_target`` (worst switching direction, raw, from the technology's own device model).

- voltage: the lowest voltage, rounded up to 1 mV, at the configured pulse. The worst-direction WER
  falls monotonically with voltage until the access transistor saturates; above that extra voltage
  buys nothing, and past the barrier's breakdown it is refused. If even the highest voltage below
  breakdown misses the target, the error names the WER it reaches.
- pulse: the shortest pulse, rounded up to 0.1 ns, at the configured voltage (up to 1 µs).
- both: the shortest pulse any voltage below breakdown reaches the target with, then the lowest
  voltage that reaches it at that pulse (past the transistor's saturation more voltage only costs energy).
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import replace

from models.errors import UserError

V_STEP = 1e-3
T_STEP_NS = 0.1
V_MAX = 3.0
T_MAX_NS = 200.0


def _worst(spec) -> float | None:
    """Worst-direction WER at the spec's point, None where the device model refuses it (breakdown)."""
    try:
        return spec.worst_wer()
    except UserError:
        return None


def _drivable(spec) -> bool:
    """Whether the device model accepts the write voltage (cheap: the write current, not the WER)."""
    try:
        spec.write_cell_energy_pj(1.0)
        return True
    except UserError:
        return False


def _highest_safe_voltage(spec) -> float:
    lo, hi = 0.0, V_MAX
    while hi - lo > V_STEP:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _drivable(replace(spec, write_voltage_v=mid)) else (lo, mid)
    return math.floor(lo / V_STEP) * V_STEP


def solve_point(spec, keys: tuple[str, ...]):
    """``spec`` with ``keys`` (write_voltage_v and/or write_pulse_ns) set to meet its ``wer_target``.

    Both: the shortest pulse that the highest voltage below breakdown makes meet the target, then
    the lowest voltage that meets it at that pulse. The solve sees only the device (not the array
    geometry), so memories with the same device share it.
    """
    device = replace(spec, capacity_bytes=0, banks=1, word_bits=8)
    voltage, pulse = _solve(device, tuple(sorted(keys)))
    return replace(spec, write_voltage_v=voltage, write_pulse_ns=pulse)


@lru_cache(maxsize=256)
def _solve(spec, keys):
    if keys == ("write_pulse_ns", "write_voltage_v"):
        spec = replace(spec, write_voltage_v=_highest_safe_voltage(spec))
        spec = _solve_one(spec, "write_pulse_ns")
        spec = _solve_one(spec, "write_voltage_v")
    else:
        spec = _solve_one(spec, keys[0])
    return spec.write_voltage_v, spec.pulse_ns()


def _solve_one(spec, key: str):
    target, where = spec.wer_target, spec.where
    if key == "write_voltage_v":
        v_hi = _highest_safe_voltage(spec)
        best = _worst(replace(spec, write_voltage_v=v_hi)) if v_hi > 0 else None
        if best is None or best > target:
            raise UserError(f"{where}.write_voltage_v = 'auto' (no voltage up to {v_hi:.3g} V (the breakdown limit or {V_MAX:g} V) "
                            f"meets wer_target = {target:g} at {spec.pulse_ns():g} ns: the best is "
                            f"{best if best is not None else float('nan'):.3g}; lengthen write_pulse_ns)")
        lo, hi = 0, round(v_hi / V_STEP)  # in mV steps; hi meets the target
        while hi - lo > 1:
            mid = (lo + hi) // 2
            w = _worst(replace(spec, write_voltage_v=mid * V_STEP))
            lo, hi = (lo, mid) if w is not None and w <= target else (mid, hi)
        return replace(spec, write_voltage_v=round(hi * V_STEP, 6))
    lo, hi = 0, round(T_MAX_NS / T_STEP_NS)
    w = _worst(replace(spec, write_pulse_ns=T_MAX_NS))
    if w is None or w > target:
        raise UserError(f"{where}.write_pulse_ns = 'auto' (no pulse up to {T_MAX_NS:g} ns at {spec.write_voltage_v:g} V "
                        f"meets wer_target = {target:g}; raise write_voltage_v)")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        w = _worst(replace(spec, write_pulse_ns=mid * T_STEP_NS))
        lo, hi = (lo, mid) if w is not None and w <= target else (mid, hi)
    return replace(spec, write_pulse_ns=round(hi * T_STEP_NS, 6))

"""The 1T-1MTJ cell around a junction: coupled device parameters, the access transistor, bias-dependent
TMR and barrier breakdown. `models.mtj` is the bare junction (Ohm's law through ``r_access_ohm``);
this module is what the STT-MRAM technology uses.

Coupling (`couple`): the primary parameters are Ms, μ0 Hk (``mu0_hk_t``), the free-layer disc
(diameter, thickness), the temperature, α and the spin-torque efficiency η per direction; derived
are Δ = μ0 Ms Hk V / (2 kB T), Ic0 = 4 e α kB T Δ / (ħ η) per direction (Sun, PRB 62, 570 (2000))
and R_P = RA / area. The base device's Hk and η come from its own Δ and Ic0. An override of
``delta`` makes Hk the derived one (Ms, V, T kept); an override of ``ic0_*`` makes that direction's
η the derived one. Giving both sides of one relation (``delta`` with ``mu0_hk_t``, ``ic0_x`` with
``eta_x``) is refused unless they agree to 0.1%. A temperature change at fixed Ms and Hk scales Δ as
1/T (Ms(T), Hk(T) are not modelled) and leaves Ic0 unchanged (kB T Δ is the barrier energy).

Cell (`CellModel`): access-transistor width from the cell area, W/F = A/(3 F^2) − 1 (Dong et al.,
DAC 2008, as NVSim's cell model), on-resistance and saturation current per micron of width
(configs/devices/mtj_default.yaml, ``cell:``). The write current through the junction and its
transistor is I = min(V / (R(V_mtj) + R_on), I_sat), with R_AP(V_mtj) = R_P (1 + TMR0 / (1 +
(V_mtj/Vh)^2)) at the bias across the barrier, V_mtj = I R(V_mtj), solved by bisection on V_mtj.
A point whose V_mtj exceeds ``breakdown_v`` is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import yaml

from models import mtj
from models.errors import UnknownKeyError, UserError
from models.limits import checked

CELL_KEYS = ("tmr_vh_v", "breakdown_v", "access_r_on_ohm_um", "access_i_sat_ua_per_um")
COUPLING_KEYS = ("mu0_hk_t", "eta_p2ap", "eta_ap2p")
AGREE_REL = 1e-3


@dataclass(frozen=True)
class CellModel:
    tmr_vh_v: float
    breakdown_v: float
    width_nm: float
    r_on_ohm: float
    i_sat_ua: float


def access_width_nm(cell_area_f2: float, node_nm: float, where: str) -> float:
    """W = (A / 3F² − 1) F (Dong et al., DAC 2008: cell area 3 (W/L + 1) F², L = F)."""
    w_f = cell_area_f2 / 3.0 - 1.0
    if not w_f > 0:
        raise UserError(f"{where}.cell_area_f2 = {cell_area_f2:g} (a 1T-1MTJ cell needs more than 3 F^2 "
                        "for its access transistor)")
    return w_f * node_nm


def load_cell_defaults(path=mtj.DEFAULT_CONFIG) -> dict:
    data = yaml.safe_load(Path(path).read_text()) or {}
    cell = data.get(mtj.CELL_SECTION, {})
    missing = [k for k in CELL_KEYS if k not in cell]
    if missing or set(cell) - set(CELL_KEYS):
        raise UserError(f"{path}: {mtj.CELL_SECTION} must have exactly the keys {', '.join(CELL_KEYS)}")
    return {k: float(cell[k]) for k in CELL_KEYS}


def make_cell(values: dict, cell_area_f2: float, node_nm: float, where: str) -> CellModel:
    for k in CELL_KEYS:
        v = values[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise UserError(f"{where}.mtj.{k} = {v!r} (must be a positive number)")
        checked(v, f"{where}.mtj.{k}")
    width = access_width_nm(cell_area_f2, node_nm, where)
    return CellModel(tmr_vh_v=float(values["tmr_vh_v"]), breakdown_v=float(values["breakdown_v"]), width_nm=width,
                     r_on_ohm=values["access_r_on_ohm_um"] / (1e-3 * width),
                     i_sat_ua=values["access_i_sat_ua_per_um"] * 1e-3 * width)


def eta(params: mtj.MTJParams, direction: str) -> float:
    """Spin-torque efficiency η from Ic0 = 4 e α kB T Δ / (ħ η)."""
    return mtj.critical_current_ua(params.delta, params.alpha, params.temperature_k, 1.0) / params.ic0_ua(direction)


def couple(base: mtj.MTJParams, overrides: dict, where: str) -> mtj.MTJParams:
    """The base device with ``overrides`` applied and the derived parameters following (module doc)."""
    names = {f.name for f in fields(base)}
    for k in overrides:
        if k not in names and k not in COUPLING_KEYS:
            raise UnknownKeyError(f"{where}: unknown key {k!r} (accepted: {', '.join(sorted(names))}, "
                            f"{', '.join(COUPLING_KEYS)}, {', '.join(CELL_KEYS)})")
    for k in COUPLING_KEYS:
        if overrides.get(k) is not None:
            checked(overrides[k], f"{where}.{k}")
    # Validate the plain fields' ranges before using them.
    mtj.MTJParams.from_dict({f.name: overrides.get(f.name, getattr(base, f.name)) for f in fields(base)}, where)
    get = lambda k: float(overrides.get(k, getattr(base, k)))  # noqa: E731
    ms, d_nm, t_nm, temp, alpha = (get(k) for k in ("ms_a_per_m", "diameter_nm", "thickness_nm", "temperature_k",
                                                      "alpha"))
    volume = math.pi * (0.5e-9 * d_nm) ** 2 * 1e-9 * t_nm
    hk_from_geometry = float(overrides.get("mu0_hk_t", base.mu0_hk_t))
    delta = ms * hk_from_geometry * volume / (2.0 * mtj.K_B * temp)
    if "delta" in overrides:
        given = float(overrides["delta"])
        if "mu0_hk_t" in overrides and abs(given / delta - 1.0) > AGREE_REL:
            raise UserError(f"{where}.delta = {given:g} (contradicts mu0_hk_t = {hk_from_geometry:g} T, which with "
                            f"Ms, the free-layer volume and T gives delta = {delta:.4g}; give one of them)")
        delta = given
    out = {"delta": delta}
    for direction in ("p2ap", "ap2p"):
        key, eta_key = f"ic0_{direction}_ua", f"eta_{direction}"
        eta_dir = float(overrides.get(eta_key, eta(base, direction)))
        ic0 = mtj.critical_current_ua(delta, alpha, temp, eta_dir)
        if key in overrides:
            given = float(overrides[key])
            if eta_key in overrides and abs(given / ic0 - 1.0) > AGREE_REL:
                raise UserError(f"{where}.{key} = {given:g} ({eta_key} = {eta_dir:g} gives Ic0 = {ic0:.4g} uA "
                                f"at delta = {delta:.4g}; give one of them)")
            ic0 = given
        out[key] = ic0
    if "r_p_ohm" not in overrides:
        out["r_p_ohm"] = base.r_p_ohm * (base.diameter_nm / d_nm) ** 2  # RA fixed
    plain = {f.name: overrides.get(f.name, getattr(base, f.name)) for f in fields(base)} | out
    return mtj.MTJParams.from_dict(plain, where)


# ---- currents through the cell ------------------------------------------------------------------


def _r_mtj(params: mtj.MTJParams, cell: CellModel, state: str, v_mtj):
    if state == "p":
        return np.full_like(v_mtj, params.r_p_ohm)
    return params.r_p_ohm * (1.0 + params.tmr / (1.0 + (v_mtj / cell.tmr_vh_v) ** 2))


def bias_point(params: mtj.MTJParams, cell: CellModel, v, state: str):
    """(current µA, voltage across the junction V) for a cell in ``state`` ("p"/"ap") driven at ``v``."""
    v = np.asarray(v, dtype=float)
    lo, hi = np.zeros_like(v), v.copy()
    for _ in range(60):  # f(Vm) = Vm − I(Vm) R(Vm) is increasing in Vm; bisection to 1e-18 V
        mid = 0.5 * (lo + hi)
        r = _r_mtj(params, cell, state, mid)
        i_a = np.minimum(v / (r + cell.r_on_ohm), 1e-6 * cell.i_sat_ua)
        above = mid > i_a * r
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    v_mtj = 0.5 * (lo + hi)
    r = _r_mtj(params, cell, state, v_mtj)
    current = 1e6 * np.minimum(v / (r + cell.r_on_ohm), 1e-6 * cell.i_sat_ua)
    return current, v_mtj


def _start_state(direction: str) -> str:
    return "p" if direction == "p2ap" else "ap"


def write_current_ua(params, cell, v_write_v, direction, where="write_voltage_v"):
    """Write current (start-state resistance at its bias, transistor-limited); refuses breakdown."""
    mtj._check_direction(direction, "direction")
    mtj._check_positive("v_write_v", v_write_v, "models.mtj_cell.write_current_ua")
    current, v_mtj = bias_point(params, cell, v_write_v, _start_state(direction))
    if np.any(v_mtj > cell.breakdown_v):
        worst = float(np.max(v_mtj))
        raise UserError(f"{worst:.3g} V across the barrier ({direction}) exceeds the breakdown limit "
                        f"mtj.breakdown_v = {cell.breakdown_v:g} V")
    return float(current) if np.ndim(current) == 0 else current


def write_error_rate(params, cell, v_write_v, pulse_ns, direction, method="fokker_planck"):
    i = write_current_ua(params, cell, v_write_v, direction) / params.ic0_ua(direction)
    return mtj.wer_at_current(params, i, pulse_ns, direction, method, v_write_v)


def write_energy_pj_per_bit(params, cell, v_write_v, pulse_ns, direction):
    """Supply-side V·I·t per bit (NVSim's convention), I the start-state current held for the pulse."""
    return 1e-3 * v_write_v * write_current_ua(params, cell, v_write_v, direction) * pulse_ns


def read_current_ua(params, cell, v_read_v, state):
    current, _ = bias_point(params, cell, v_read_v, state)
    return float(current)


def read_energy_pj_per_bit(params, cell, v_read_v, t_read_ns):
    mean = 0.5 * (read_current_ua(params, cell, v_read_v, "p") + read_current_ua(params, cell, v_read_v, "ap"))
    return 1e-3 * v_read_v * mean * t_read_ns


def read_disturb_probability(params, cell, v_read_v, t_read_ns):
    """Néel-Brown disturb of the cell the read current pushes (as `models.mtj.read_disturb_probability`)."""
    state = _start_state(params.read_direction)
    current, v_mtj = bias_point(params, cell, v_read_v, state)
    if float(v_mtj) > cell.breakdown_v:
        raise UserError(f"{float(v_mtj):.3g} V across the barrier exceeds mtj.breakdown_v = {cell.breakdown_v:g} V")
    i = float(current) / params.ic0_ua(params.read_direction)
    return mtj.thermal_switching_probability(params.delta, i, t_read_ns, params.tau0_ns, params.beta)


def with_cell(params: mtj.MTJParams, cell: CellModel) -> mtj.MTJParams:
    """The junction with the cell's transistor as its access resistance (for code that uses Ohm's law)."""
    return replace(params, r_access_ohm=cell.r_on_ohm)

"""Spin-orbit-torque (SOT) write of an in-plane MTJ on a heavy-metal line: current, energy, WER.

Geometry ("type-y", Liu et al., Science 336, 555 (2012)): the write current flows along a heavy-metal
(HM) line under the free layer; the spin Hall effect injects a spin current polarised along the
free layer's in-plane easy axis, so the damping-like torque is collinear with it (anti-damping, like
STT) and switching is deterministic in both directions by the current's polarity. The write current
never crosses the tunnel barrier; the read path is the MTJ's, as in STT-MRAM.

- Damping-like field H_DL = ħ θ_SH J / (2 e μ0 Ms t_F) (J: charge current density in the line).
- Critical current density (Liu et al. 2012, in-plane free layer):
  Jc0 = (2e/ħ) μ0 Ms t_F α (Hk + Meff/2) / θ_SH, so Ic0 = Jc0 w_HM t_HM. In units of Hk the critical
  damping-like field is α (1 + h_d/2) with h_d = Meff/Hk; tests check it against the LLG
  (models.llg.wer_monte_carlo_sot with the easy-plane demagnetising term). Under the free layer
  part of the current flows in the (metallic) free layer instead (parallel resistors), so the line
  carries Ic0 = Jc0 w t (1 + shunt). With the line resistance ρ L/(w t) this reproduces the
  calculated write current and power of Zhu et al., Sci. Adv. 5, eaav8025 (2019), Table 1 (six spin
  Hall materials normalised to a seventh, Pt0.6(MgO)0.4) within the table's rounding plus 5%
  (tests/test_sot.py; the five metals agree within 3.5%).
- Switching time scale: the energy of the precession orbit grows at 2 (H_DL − H_DL,c) γ μ0 / (1 + α²)
  (orbit average over the elliptical orbit the demagnetising field imposes), so the uniaxial forms
  apply with i = I/Ic0 and τD,eff = (1 + α²) / (α γ μ0 (Hk + Meff/2)). The closed form (Sun's
  precessional WER with τD,eff) is an upper bound of the LLG at Δ = 40, h_d = 4.2, i = 1.5-3
  (within 1.2x at i = 3, 2x at i = 2, 3.5x at i = 1.5: tests/test_sot.py); the Fokker-Planck solver
  with τD,eff lies below the LLG by up to 2x there. Both are offered (``wer_method``); the closed form
  is the default because it errs on the safe side.
- Write energy: E = V I t with I = V / (R_line + R_access): I² R_line t in the line plus the write
  transistor's share (NVSim's supply-side convention, as `models.mtj.write_energy_pj_per_bit`).

Defaults (configs/devices/sot_default.yaml) name their sources there: β-W line, θ_SH = 0.30 and
ρ = 300 µΩ·cm (Pai et al., APL 101, 122404 (2012); Zhu et al., Sci. Adv. 5, eaav8025 (2019), Table 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path


from models import fokker_planck, mtj
from models.errors import UnknownKeyError, UserError
from models.package_data import data_dir
from models.yamlio import load_yaml_file

DEFAULT_CONFIG = data_dir("configs") / "devices" / "sot_default.yaml"
METHODS = ("closed_form", "fokker_planck")

_RANGES = {
    "theta_sh": (0.0, 10.0, "0 < theta_sh <= 10"),
    "hm_resistivity_uohm_cm": (0.0, 1e5, "0 < hm_resistivity_uohm_cm <= 1e5"),
    "hm_width_nm": (0.0, 1e4, "0 < hm_width_nm <= 1e4"),
    "hm_thickness_nm": (0.0, 1e3, "0 < hm_thickness_nm <= 1e3"),
    "hm_length_nm": (0.0, 1e5, "0 < hm_length_nm <= 1e5"),
    "mu0_meff_t": (0.0, 5.0, "0 < mu0_meff_t <= 5 (tesla)"),
    "fl_width_nm": (0.0, 1e4, "0 < fl_width_nm <= hm_width_nm"),
    "fm_resistivity_uohm_cm": (0.0, 1e5, "0 < fm_resistivity_uohm_cm <= 1e5"),
    "r_write_access_ohm": (-1e-300, 1e9, "0 <= r_write_access_ohm <= 1e9"),
}


@dataclass(frozen=True)
class SOTLine:
    """The heavy-metal write line and what the free layer adds to the SOT write (SI-derived units)."""

    theta_sh: float  # effective spin Hall angle (damping-like efficiency)
    hm_resistivity_uohm_cm: float
    hm_width_nm: float
    hm_thickness_nm: float
    hm_length_nm: float  # between the write transistor's contact and the line's other end
    mu0_meff_t: float  # effective out-of-plane demagnetising field of the in-plane free layer
    fl_width_nm: float  # the free layer's extent across the line (it shunts that share of the width)
    fm_resistivity_uohm_cm: float  # of the free layer, in parallel with the line under it
    r_write_access_ohm: float  # on-resistance of the write transistor

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            low, high, accepted = _RANGES[f.name]
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not (ok and low < value <= high):
                raise UserError(f"models.sot.SOTLine: {f.name} = {value!r} (must be a number, {accepted})")
        if self.fl_width_nm > self.hm_width_nm:
            raise UserError(f"models.sot.SOTLine: fl_width_nm = {self.fl_width_nm!r} (must be <= hm_width_nm = "
                            f"{self.hm_width_nm:g}: the free layer sits on the line)")

    @classmethod
    def from_dict(cls, d, where="sot"):
        if not isinstance(d, dict):
            raise UserError(f"{where} = {d!r} (must be a mapping of SOTLine fields)")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise UnknownKeyError(f"{where}: unknown key {unknown[0]!r} (accepted: {', '.join(names)})")
        missing = [n for n in names if n not in d]
        if missing:
            raise UserError(f"{where}: missing key {missing[0]!r}")
        try:
            return cls(**{k: d[k] for k in names})
        except UserError as exc:
            raise UserError(f"{where}: {str(exc).split(': ', 1)[1]}") from None

    @property
    def r_line_ohm(self) -> float:
        """ρ L / (w t)."""
        return self.hm_resistivity_uohm_cm * 1e-8 * self.hm_length_nm / (self.hm_width_nm * self.hm_thickness_nm * 1e-9)


def load_default(path=DEFAULT_CONFIG) -> tuple[mtj.MTJParams, SOTLine]:
    """(free layer and read path, write line) from configs/devices/sot_default.yaml."""
    path = Path(path)
    data = load_yaml_file(path, "SOT-MRAM parameters")
    if not isinstance(data, dict) or set(data) != {"mtj", "line"}:
        raise UserError(f"{path}: expected the two sections mtj and line")
    return mtj.MTJParams.from_dict(data["mtj"], f"{path}: mtj"), SOTLine.from_dict(data["line"], f"{path}: line")


def h_demag(params: mtj.MTJParams, line: SOTLine) -> float:
    """Meff / Hk, the easy-plane field in units of the anisotropy field."""
    return line.mu0_meff_t / params.mu0_hk_t


def critical_current_density_a_per_m2(params: mtj.MTJParams, line: SOTLine) -> float:
    """Jc0 = (2e/ħ) μ0 Ms t_F α (Hk + Meff/2) / θ_SH (Liu et al. 2012), in A/m²."""
    mu0_h_t = params.mu0_hk_t + 0.5 * line.mu0_meff_t
    return (2.0 * mtj.Q_E / mtj.HBAR) * params.ms_a_per_m * params.thickness_nm * 1e-9 * params.alpha * mu0_h_t \
        / line.theta_sh


def shunt_ratio(params: mtj.MTJParams, line: SOTLine) -> float:
    """Current through the free layer over current through the line under it (parallel resistors:
    the free layer covers fl_width / hm_width of the line's width)."""
    g_fm = (line.fl_width_nm / line.hm_width_nm) * params.thickness_nm / line.fm_resistivity_uohm_cm
    return g_fm / (line.hm_thickness_nm / line.hm_resistivity_uohm_cm)


def critical_current_ua(params: mtj.MTJParams, line: SOTLine) -> float:
    """Line current at threshold, Jc0 w_HM t_HM (1 + shunt), in µA."""
    return critical_current_density_a_per_m2(params, line) * line.hm_width_nm * line.hm_thickness_nm * 1e-18 * 1e6 \
        * (1.0 + shunt_ratio(params, line))


def damping_like_field_over_hk(params: mtj.MTJParams, line: SOTLine, current_ua: float) -> float:
    """H_DL / Hk = ħ θ_SH J / (2 e μ0 Ms t_F) / Hk for a line current (J: the heavy metal's share)."""
    j = current_ua * 1e-6 / (line.hm_width_nm * line.hm_thickness_nm * 1e-18) / (1.0 + shunt_ratio(params, line))
    mu0_h_dl_t = mtj.HBAR * line.theta_sh * j / (2.0 * mtj.Q_E * params.ms_a_per_m * params.thickness_nm * 1e-9)
    return mu0_h_dl_t / params.mu0_hk_t


def tau_d_eff_ns(params: mtj.MTJParams, line: SOTLine) -> float:
    """τD,eff = (1 + α²) / (α γ μ0 (Hk + Meff/2)), in ns."""
    return 1e9 * (1.0 + params.alpha**2) / (params.alpha * mtj.GAMMA * (params.mu0_hk_t + 0.5 * line.mu0_meff_t))


def write_current_ua(line: SOTLine, v_write_v: float) -> float:
    """V / (R_line + R_access), in µA (the MTJ is not in the write path)."""
    if not v_write_v > 0:
        raise UserError(f"models.sot.write_current_ua: v_write_v = {v_write_v!r} (must be > 0)")
    return 1e6 * v_write_v / (line.r_line_ohm + line.r_write_access_ohm)


def write_energy_pj_per_bit(line: SOTLine, v_write_v: float, pulse_ns: float) -> float:
    """Supply-side V I t per written bit, in pJ: I² R_line t in the line plus the write transistor."""
    return v_write_v * write_current_ua(line, v_write_v) * pulse_ns * 1e-3


def line_energy_pj_per_bit(line: SOTLine, v_write_v: float, pulse_ns: float) -> float:
    """I² R_line t alone, in pJ."""
    return mtj.joule_energy_pj(write_current_ua(line, v_write_v), line.r_line_ohm, pulse_ns)


def write_error_rate(params: mtj.MTJParams, line: SOTLine, v_write_v: float, pulse_ns: float,
                     method: str = "closed_form") -> float:
    """Probability a write leaves the bit unswitched (the same in both directions: the line current's
    polarity picks the direction, and its magnitude does not depend on the MTJ's state)."""
    where = "models.sot.write_error_rate"
    if method not in METHODS:
        raise UserError(f"{where}: method = {method!r} (must be one of {', '.join(METHODS)})")
    if not pulse_ns > 0:
        raise UserError(f"{where}: pulse_ns = {pulse_ns!r} (must be > 0)")
    i = write_current_ua(line, v_write_v) / critical_current_ua(params, line)
    tau = tau_d_eff_ns(params, line)
    if method == "fokker_planck":
        return float(fokker_planck.wer(params.delta, i, pulse_ns, tau))
    if i < mtj.I_PRECESSIONAL_MIN:
        raise UserError(f"{where}: v_write_v = {v_write_v} gives I/Ic0 = {i:.4g} (the SOT write needs I/Ic0 >= "
                        f"{mtj.I_PRECESSIONAL_MIN} for its closed form; raise the voltage or use "
                        "wer_method fokker_planck)")
    return float(mtj.wer_precessional(params.delta, i, pulse_ns, tau))

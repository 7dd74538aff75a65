"""SOT-MRAM: 2T-1MTJ cell written through a heavy-metal line (`models.sot`), read as STT-MRAM.

What differs from STT-MRAM, and only that, is here; the read path (sensing time, 2 V_read I_read
t_sense per sensed bit, read disturb through the barrier), retention and the shared MRAM periphery
come from `SttMramSpec`, which this subclasses.

- Cell: 2T-1MTJ, 108 F^2 by default: one access transistor per path, each the size of the 1T-1MTJ
  cell's (NVSim's 54 F^2 sample cell is transistor-limited), no shared contact assumed.
- Write: ``write_voltage_v`` drives the line through the write transistor; energy per written bit
  V I t (line I^2 R t plus the transistor), WER from `models.sot` (closed form by default, both
  directions alike), write occupancy and latency = pulse + the shared MRAM periphery.
- Keys: those of stt_mram plus ``sot`` (overrides of `models.sot.SOTLine`); ``mtj`` overrides the
  SOT cell's MTJ (configs/devices/sot_default.yaml), not the STT default. NVSim has no SOT cell, so
  ``nvsim_file`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from models import mtj, sot
from models.errors import UserError
from models.figures import ArrayFigures
from models.technologies.base import register
from models.technologies.stt_mram import MRAM_CELL_F2, SttMramSpec

SOT_CELL_F2 = 2 * MRAM_CELL_F2
# 0.7 V drives 4.3 Ic0 (224 uA) through the default line and write transistor; 5 ns then gives a
# WER of 1.4e-9 in both directions (closed form), below the STT default's worse direction at half its pulse.
DEFAULT_WRITE_VOLTAGE_V = 0.7
DEFAULT_WRITE_PULSE_NS = 5.0
# The SOT write current bypasses the tunnel barrier, so barrier wear-out (STT's 1e12) does not bound
# writes; 1e15 is the projection SOT-MRAM papers commonly assume (a projection, not a measured bound;
# imec's devices showed no write degradation over the cycles tested, Garello et al., VLSI 2018).
ENDURANCE_CYCLES = 1e15


@register
@dataclass(frozen=True)
class SotMramSpec(SttMramSpec):
    cell_area_f2: float = SOT_CELL_F2
    write_voltage_v: float = DEFAULT_WRITE_VOLTAGE_V
    wer_method: str = "closed_form"
    line: sot.SOTLine | None = None

    NAME = "sot_mram"
    ENDURANCE_CYCLES = ENDURANCE_CYCLES
    KEYS = SttMramSpec.KEYS + ("sot",)
    CELL_AREA_F2 = SOT_CELL_F2
    NVSIM_CELL = None
    DESCRIPTION = "2T-1MTJ spin-orbit-torque MRAM (write current through a heavy-metal line)"
    DEFAULT_WRITE_PULSE_NS = DEFAULT_WRITE_PULSE_NS
    DEFAULT_WRITE_VOLTAGE_V = DEFAULT_WRITE_VOLTAGE_V
    WER_METHODS = sot.METHODS

    @classmethod
    def default_mtj(cls) -> mtj.MTJParams:
        return sot.load_default()[0]

    @classmethod
    def default_cell(cls) -> None:
        return None  # the write goes through the line and its own transistor (models.sot), not the 1T-1MTJ cell

    @classmethod
    def complete(cls, spec: SotMramSpec, d: dict) -> SotMramSpec:
        line = sot.load_default()[1]
        if "sot" in d:
            if not isinstance(d["sot"], dict):
                raise UserError(f"{spec.where}.sot = {d['sot']!r} (must be a mapping of SOTLine fields)")
            merged = {f.name: getattr(line, f.name) for f in fields(line)} | d["sot"]
            line = sot.SOTLine.from_dict(merged, f"{spec.where}.sot")
        return replace(spec, line=line)

    def _sot(self, key: str, value: float, fn, *args):
        try:
            return float(fn(*args))
        except UserError as exc:
            raise UserError(f"{self.where}.{key} = {value!r} ({exc})") from None

    def write_cell_energy_pj(self, pulse_ns: float) -> float:
        v = self.write_voltage_v
        return self._sot("write_voltage_v", v, sot.write_energy_pj_per_bit, self.line, v, pulse_ns)

    def write_errors(self, pulse_ns: float) -> dict:
        v = self.write_voltage_v
        wer = self._sot("write_voltage_v", v, sot.write_error_rate, self.mtj_params, self.line, v, pulse_ns,
                        self.wer_method)
        return dict(p_write_p2ap=wer, p_write_ap2p=wer)

    # ---- device sweep

    def sweep_summary(self, figs: ArrayFigures) -> tuple[str, ...]:
        p, line = self.mtj_params, self.line
        return (f"SOT-MRAM, Δ = {p.delta:g}, Ic0 {sot.critical_current_ua(p, line):.1f} µA in the line "
                f"(θ_SH {line.theta_sh:g}, R_line {line.r_line_ohm:.0f} Ω), τD,eff = {sot.tau_d_eff_ns(p, line):.3g} ns, "
                f"WER by {self.wer_method}",) + super().sweep_summary(figs)[1:]

    def sweep_currents_ua(self, v: float) -> dict:
        i = sot.write_current_ua(self.line, v)
        return {"p2ap": i, "ap2p": i}

    def sweep_mc(self, currents: dict, figs: ArrayFigures, pulse: float, mc: int, seed: int) -> str:
        from models import llg

        p, line = self.mtj_params, self.line
        a = sot.damping_like_field_over_hk(p, line, currents["p2ap"])
        t_k_ns = 1e9 / (mtj.GAMMA * p.mu0_hk_t)
        wer, lo, hi = llg.wer_monte_carlo_sot(p.delta, a, pulse, t_k_ns, mc, seed, h_demag=sot.h_demag(p, line),
                                              alpha=p.alpha)
        return f"{wer:.3g} [{lo:.2g}, {hi:.2g}]"

"""STT-MRAM: 1T-1MTJ cell written through the tunnel barrier; figures from the device model (`models.mtj`).

Cell (NVSim sample_STTRAM.cell, conservative): 54 F^2. A write costs, per bit driven, the shared
MRAM periphery's bitline charge plus V I t of the MTJ at the configured write voltage and pulse
(mean of both directions), and the pulse sets the write latency; a read costs the sense amplifier
plus 2 V_read I_read t_sense (cell and reference cell, NVSim's convention). Per-bit errors: write
error rate per switching direction (Fokker-Planck by default), read disturb per read at the read
point, retention for a residence time. NVSim ran at 350 K, the default MTJ is at 300 K: periphery
figures are NVSim's, cell figures the device model's at its own temperature.

The device is the 1T-1MTJ cell of `models.mtj_cell`: Δ, Ic0 and R_P follow the overridden primary
parameters (``mtj.*``), the access transistor's width follows ``cell_area_f2`` and limits the write
current, TMR falls with bias, breakdown is refused. ``write_voltage_v`` / ``write_pulse_ns`` may be
``auto``: solved to ``wer_target`` (`operating_point`).

The read path (`read_cell_energy_pj`, `read_errors`, the sensing time) is what other MTJ-based
technologies reuse by subclassing `SttMramSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from models import mtj, mtj_cell
from models.errors import UserError
from models.figures import ArrayFigures
from models.names import DIRECTIONS
from models.technologies import calibration as cal
from models.technologies.base import DeviceSweep, MemorySpec, number, register
from models.technologies.gating import WakeUp, periphery_wake_up
from models.technologies.mram_periphery import MramCell, mram_figures
from models.technologies.periphery import f2_um2

WER_METHODS = ("fokker_planck", "closed_form")
MRAM_CELL_F2 = 54.0  # NVSim sample_STTRAM.cell, conservative (80 uA write current)

# Operating point when the config leaves it out (the shipped presets use `auto` instead). 0.9 V
# saturates the default 54 F^2 cell's access transistor (80 uA: 3.2 Ic0 AP->P, 2.1 Ic0 P->AP,
# configs/devices/mtj_default.yaml); 10 ns is NVSim's conservative pulse;
# 0.1 V reads P cells at 0.44 Ic0(P->AP). The sensing time defaults to NVSim's at the node.
DEFAULT_WRITE_VOLTAGE_V = 0.9
DEFAULT_WRITE_PULSE_NS = 10.0
DEFAULT_READ_VOLTAGE_V = 0.1
AUTO = "auto"
# The worst-direction raw WER an `auto` operating point meets: 1e-9, the raw bit-error target that
# SECDED (72,64) brings below 1e-15 per bit (models/ecc.py) for the stored word.
DEFAULT_WER_TARGET = 1e-9
# Write endurance (cycles per cell): barrier wear-out of pMTJ arrays; Kan et al., IEDM 2016, extrapolate
# > 1e12 at the write bias of a 10 ns pulse. The lifetime in the report scales with it.
ENDURANCE_CYCLES = 1e12


@register
@dataclass(frozen=True)
class SttMramSpec(MemorySpec):
    cell_area_f2: float = MRAM_CELL_F2
    write_voltage_v: float = DEFAULT_WRITE_VOLTAGE_V
    write_pulse_ns: float | None = None
    read_voltage_v: float = DEFAULT_READ_VOLTAGE_V
    read_pulse_ns: float | None = None
    differential_write: bool = False
    mtj_params: mtj.MTJParams | None = None
    wer_method: str = "fokker_planck"
    cell: mtj_cell.CellModel | None = None
    wer_target: float = DEFAULT_WER_TARGET

    NAME = "stt_mram"
    KEYS = ("write_voltage_v", "write_pulse_ns", "read_voltage_v", "read_pulse_ns", "differential_write", "mtj",
            "wer_method", "wer_target")
    CELL_AREA_F2 = MRAM_CELL_F2
    NVSIM_CELL = "MRAM"
    NVSIM_PER_BIT_WRITE = True
    DESCRIPTION = "1T-1MTJ spin-transfer-torque MRAM (write current through the barrier)"
    DEFAULT_WRITE_PULSE_NS = DEFAULT_WRITE_PULSE_NS
    DEFAULT_WRITE_VOLTAGE_V = DEFAULT_WRITE_VOLTAGE_V
    WER_METHODS = WER_METHODS  # the first is the default

    ENDURANCE_CYCLES = ENDURANCE_CYCLES
    RETAINS_DATA_GATED = True  # the MTJ keeps its state with the periphery off

    @classmethod
    def default_mtj(cls) -> mtj.MTJParams:
        return mtj.load_default()

    @classmethod
    def default_cell(cls) -> dict | None:
        """The cell keys' defaults (`models.mtj_cell`), or None for a technology without that cell."""
        return mtj_cell.load_cell_defaults()

    # ---- keys

    @classmethod
    def parse_keys(cls, d: dict, common: dict) -> SttMramSpec:
        where = common["where"]
        params = cls.default_mtj()
        overrides = d.get("mtj", {})
        if not isinstance(overrides, dict):
            raise UserError(f"{where}.mtj = {overrides!r} (must be a mapping of MTJParams fields)")
        cell_values = cls.default_cell()
        cell_over = {k: v for k, v in overrides.items() if k in mtj_cell.CELL_KEYS}
        if cell_over and cell_values is None:
            raise UserError(f"{where}.mtj.{next(iter(cell_over))} = {next(iter(cell_over.values()))!r} "
                            f"({cls.NAME} has no 1T-1MTJ write cell to apply it to)")
        if cell_values is not None and "r_access_ohm" in overrides:
            raise UserError(f"{where}.mtj.r_access_ohm = {overrides['r_access_ohm']!r} (derived from cell_area_f2 "
                            "and mtj.access_r_on_ohm_um; set those instead)")
        params = mtj_cell.couple(params, {k: v for k, v in overrides.items() if k not in mtj_cell.CELL_KEYS},
                                 f"{where}.mtj")
        cell = None
        if cell_values is not None:
            cell = mtj_cell.make_cell(cell_values | cell_over, common["cell_area_f2"], common["node_nm"], where)
            params = mtj_cell.with_cell(params, cell)
        target = number(d, "wer_target", where, DEFAULT_WER_TARGET)
        if not target < 0.5:
            raise UserError(f"{where}.wer_target = {target!r} (must be a probability below 0.5)")
        method = d.get("wer_method", cls.WER_METHODS[0])
        if method not in cls.WER_METHODS:
            raise UserError(f"{where}.wer_method = {method!r} (accepted: {', '.join(cls.WER_METHODS)})")
        differential = d.get("differential_write", False)
        if not isinstance(differential, bool):
            raise UserError(f"{where}.differential_write = {differential!r} (must be true or false)")
        read_pulse = number(d, "read_pulse_ns", where) if "read_pulse_ns" in d else None
        auto_v, auto_t = d.get("write_voltage_v") == AUTO, d.get("write_pulse_ns") == AUTO
        write_pulse = number(d, "write_pulse_ns", where) if "write_pulse_ns" in d and not auto_t else None
        voltage = cls.DEFAULT_WRITE_VOLTAGE_V if auto_v else number(d, "write_voltage_v", where,
                                                                    cls.DEFAULT_WRITE_VOLTAGE_V)
        spec = cls(**common, mtj_params=params, wer_method=method, differential_write=differential, cell=cell,
                   wer_target=float(target), write_voltage_v=float(voltage),
                   read_voltage_v=float(number(d, "read_voltage_v", where, DEFAULT_READ_VOLTAGE_V)),
                   write_pulse_ns=None if write_pulse is None else float(write_pulse),
                   read_pulse_ns=None if read_pulse is None else float(read_pulse))
        spec = cls.complete(spec, d)
        if auto_v or auto_t:
            from models.technologies.operating_point import solve_point

            spec = solve_point(spec, tuple(k for k, auto in (("write_voltage_v", auto_v), ("write_pulse_ns", auto_t))
                                           if auto))
        return spec

    @classmethod
    def complete(cls, spec: SttMramSpec, d: dict) -> SttMramSpec:
        """A subclass's own keys added to the parsed spec, before an `auto` write point is solved."""
        return spec

    def worst_wer(self) -> float:
        e = self.write_errors(self.pulse_ns())
        return max(e["p_write_p2ap"], e["p_write_ap2p"])

    # ---- device model

    def pulse_ns(self) -> float:
        return self.DEFAULT_WRITE_PULSE_NS if self.write_pulse_ns is None else self.write_pulse_ns

    def sense_ns(self) -> float:
        if self.read_pulse_ns is not None:
            return self.read_pulse_ns
        return cal.cmos_constants(self.node_nm, self.flavor, f"{self.where}.node_nm").mram_sense_ns

    def _device(self, key: str, value: float, fn, *args):
        """Call the device model; its range errors are re-raised naming this memory's key."""
        try:
            return float(fn(self.mtj_params, *args))
        except UserError as exc:
            raise UserError(f"{self.where}.{key} = {value!r} ({exc})") from None

    def _dev(self, name: str):
        """The device function ``name``: through the cell model when there is one, else the bare MTJ."""
        if self.cell is None:
            return getattr(mtj, name)
        fn = getattr(mtj_cell, name)
        return lambda params, *args: fn(params, self.cell, *args)

    def read_cell_energy_pj(self, sense_ns: float) -> float:
        """2 V_read I_read t_sense per sensed bit (cell plus reference cell, NVSim's convention)."""
        return 2.0 * self._device("read_voltage_v", self.read_voltage_v, self._dev("read_energy_pj_per_bit"),
                                  self.read_voltage_v, sense_ns)

    def write_cell_energy_pj(self, pulse_ns: float) -> float:
        """V I t per switching bit through the MTJ, mean of both directions."""
        v = self.write_voltage_v
        return 0.5 * sum(self._device("write_voltage_v", v, self._dev("write_energy_pj_per_bit"), v, pulse_ns, d)
                         for d in DIRECTIONS)

    def mram_cell(self) -> MramCell:
        pulse, sense = self.pulse_ns(), self.sense_ns()
        e_write = self.write_cell_energy_pj(pulse)
        e_read = self.read_cell_energy_pj(sense)
        return MramCell(area_f2=self.cell_area_f2, write_pulse_ns=pulse, write_energy_pj_per_bit=e_write,
                        read_energy_pj_per_bit=e_read, sense_ns=sense)

    def write_errors(self, pulse_ns: float) -> dict:
        v, method = self.write_voltage_v, self.wer_method
        wer = {d: self._device("write_voltage_v", v, self._dev("write_error_rate"), v, pulse_ns, d, method)
               for d in DIRECTIONS}
        return dict(p_write_p2ap=wer["p2ap"], p_write_ap2p=wer["ap2p"])

    def read_errors(self, sense_ns: float) -> dict:
        p_rd = self._device("read_voltage_v", self.read_voltage_v, self._dev("read_disturb_probability"),
                            self.read_voltage_v, sense_ns)
        return dict(p_read_disturb=p_rd, mtj_params=self.mtj_params)

    def errors(self, pulse_ns: float) -> dict:
        """Per-bit error fields of `ArrayFigures` (what the /errors ledger records)."""
        return self.write_errors(pulse_ns) | self.read_errors(self.sense_ns())

    # ---- figures

    def circuit_figures(self) -> ArrayFigures:
        return mram_figures(self.capacity_bytes, self.banks, self.word_bits, self.mram_cell(), self.node_nm,
                            self.flavor, self.differential_write, self.where, self.NAME,
                            **self.errors(self.pulse_ns()))

    def organisation_model(self):
        cell, errors = self.mram_cell(), self.errors(self.pulse_ns())
        return lambda capacity_bytes, banks, word_bits: mram_figures(
            capacity_bytes, banks, word_bits, cell, self.node_nm, self.flavor, self.differential_write, self.where,
            self.NAME, **errors)

    def wake_up(self, figures: ArrayFigures, area_mm2: float, peak_power_mw: float) -> WakeUp:
        """The gated periphery is the memory's area less its cells (`models.technologies.gating`)."""
        cells_mm2 = figures.capacity_bytes * 8 * self.cell_area_f2 * f2_um2(self.node_nm) * 1e-6
        share = max(0.0, 1.0 - cells_mm2 / figures.area_mm2) if figures.area_mm2 > 0 else 0.0
        return periphery_wake_up(area_mm2 * share * 1e6, self.node_nm, peak_power_mw)

    def figures_from_nvsim(self, figures: ArrayFigures, run) -> ArrayFigures:
        where = self.where
        if self.write_pulse_ns is not None and abs(self.write_pulse_ns - run.write_pulse_ns) > 1e-9:
            raise UserError(f"{where}.write_pulse_ns = {self.write_pulse_ns} ({self.nvsim_file} was run with a "
                            f"{run.write_pulse_ns:g} ns pulse; leave write_pulse_ns out or match it)")
        spec = replace(self, write_pulse_ns=run.write_pulse_ns,
                       read_pulse_ns=self.read_pulse_ns if self.read_pulse_ns is not None else run.sense_ns)
        figures = replace(figures, differential_write=self.differential_write, **spec.errors(run.write_pulse_ns))
        if self.differential_write:
            # Read-before-write costs one read; with NVSim's figures the whole read is charged.
            figures = replace(figures, write_latency_ns=figures.write_latency_ns + figures.read_latency_ns,
                              write_occupancy_ns=figures.write_occupancy_ns + figures.read_occupancy_ns,
                              write_energy_pj_fixed=figures.write_energy_pj_fixed + figures.read_energy_pj,
                              write_energy_pj=figures.write_energy_pj + figures.read_energy_pj)
        return figures

    # ---- device sweep (python -m simulator device)

    def sweep_summary(self, figs: ArrayFigures) -> tuple[str, ...]:
        p = self.mtj_params
        return (f"STT-MRAM, Δ = {p.delta:g}, Ic0 P→AP {p.ic0_p2ap_ua:.1f} µA, AP→P {p.ic0_ap2p_ua:.1f} µA, "
                f"τD = {p.tau_d_ns:.3g} ns, WER by {self.wer_method}",
                f"read at {self.read_voltage_v:g} V: read-disturb probability per bit and read "
                f"{figs.p_read_disturb:.3g}; read latency {figs.read_latency_ns:.3g} ns; "
                f"retention failure per bit in 1 s {mtj.retention_failure_probability(p, 1e9):.3g}")

    def sweep_currents_ua(self, v: float) -> dict:
        return {d: self._dev("write_current_ua")(self.mtj_params, v, d) for d in DIRECTIONS}

    def sweep_mc(self, currents: dict, figs: ArrayFigures, pulse: float, mc: int, seed: int) -> str:
        from models import llg

        p = self.mtj_params
        worse = "p2ap" if figs.p_write_p2ap >= figs.p_write_ap2p else "ap2p"
        wer, lo, hi = llg.wer_monte_carlo(p.delta, currents[worse] / p.ic0_ua(worse), pulse, p.tau_d_ns, mc, seed)
        return f"{wer:.3g} [{lo:.2g}, {hi:.2g}]"

    def device_sweep(self, voltages_v, pulses_ns, mc, seed) -> DeviceSweep:
        columns = ("V write", "pulse", "I P→AP", "I AP→P", "WER P→AP", "WER AP→P", "E/bit", "write lat")
        if mc:
            columns += (f"MC WER (worse dir., n={mc}) [95% CI]",)
        rows, notes = [], []
        for v in voltages_v:
            for pulse in pulses_ns:
                point = replace(self, write_voltage_v=v, write_pulse_ns=pulse)
                try:
                    f = point.figures()
                except UserError as exc:
                    rows.append((f"{v:g} V", f"{pulse:g} ns") + ("-",) * (len(columns) - 2))
                    notes.append(f"{v:g} V, {pulse:g} ns: {exc}")
                    continue
                currents = point.sweep_currents_ua(v)
                cells = (f"{v:g} V", f"{pulse:g} ns", f"{currents['p2ap']:.1f} µA", f"{currents['ap2p']:.1f} µA",
                         f"{f.p_write_p2ap:.3g}", f"{f.p_write_ap2p:.3g}",
                         f"{f.write_energy_pj_per_switched_bit:.3g} pJ", f"{f.write_latency_ns:.3g} ns")
                if mc:
                    cells += (point.sweep_mc(currents, f, pulse, mc, seed),)
                rows.append(cells)
        return DeviceSweep(self.sweep_summary(self.figures()), columns, tuple(rows), tuple(notes))

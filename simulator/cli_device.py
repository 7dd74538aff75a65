"""``python -m simulator device``: operating points of an STT-MRAM memory, to choose one.

For each write voltage and pulse width: write current and write error rate per direction (the
memory's ``wer_method``, Fokker-Planck by default), write energy per switched bit and write latency
from the circuit model; the read-disturb probability of one read at the read point. ``--mc N``
adds the stochastic-LLG Monte Carlo of the worse direction with its 95% interval.
"""

from __future__ import annotations

import copy

from models.errors import UserError

DEFAULT_VOLTAGES = "0.5,0.6,0.7,0.8,0.9,1.0"
DEFAULT_PULSES = "2,5,10,20"


def add_parser(sub) -> None:
    p = sub.add_parser("device", help="write voltage / pulse sweep of an STT-MRAM memory's operating points")
    p.add_argument("--config", help="YAML config (default: configs/mram_iso_capacity.yaml)")
    p.add_argument("--memory", help="which memory of the config (default: its first stt_mram memory)")
    p.add_argument("--voltages", default=DEFAULT_VOLTAGES, help="comma list of write voltages in V")
    p.add_argument("--pulses", default=DEFAULT_PULSES, help="comma list of write pulse widths in ns")
    p.add_argument("--mc", type=int, default=0, metavar="N", help="add an LLG Monte Carlo column with N trajectories")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def _floats(text: str, flag: str, unit: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise UserError(f"{flag} {text}: expected a comma list of positive numbers in {unit}")
    return values


def _memory_section(args) -> tuple[str, dict, str]:
    from simulator.config import CONFIG_DIR, _apply_override, _parse_override, read_with_base

    path = args.config or str(CONFIG_DIR / "mram_iso_capacity.yaml")
    from pathlib import Path

    doc = read_with_base(Path(path), (Path(path).resolve(),))
    for item in args.overrides:
        _apply_override(doc, *_parse_override(item))
    mems = doc.get("memories") or {}
    if args.memory:
        if args.memory not in mems:
            raise UserError(f"--memory {args.memory}: not in {path} (accepted: {', '.join(mems)})")
        name = args.memory
    else:
        mram = [n for n, m in mems.items() if isinstance(m, dict) and m.get("technology") == "stt_mram"]
        if not mram:
            raise UserError(f"{path}: no stt_mram memory to sweep (name one with --memory after setting its "
                            "technology, e.g. --set memories.spm_act.technology=stt_mram)")
        name = mram[0]
    sec = {k: v for k, v in copy.deepcopy(mems[name]).items() if v is not None}
    if sec.get("technology") != "stt_mram":
        raise UserError(f"--memory {name}: technology is {sec.get('technology')!r} (the sweep needs stt_mram)")
    for k in ("iso_area_with", "write_buffer_words"):
        sec.pop(k, None)
    sec.setdefault("capacity_kib", 1024)
    return name, sec, path


def run(args) -> int:
    from rich import box
    from rich.table import Table

    from models import llg, mtj
    from models.memory_array import MemoryArray
    from simulator.report import make_console

    voltages = _floats(args.voltages, "--voltages", "V")
    pulses = _floats(args.pulses, "--pulses", "ns")
    if args.mc < 0:
        raise UserError(f"--mc {args.mc}: must be a number of trajectories >= 0")
    name, sec, path = _memory_section(args)
    where = f"{path}: memories.{name}"
    base = MemoryArray.parse(sec, where)
    params = base.mtj_params
    console = make_console()
    console.print(f"[bold]{name}[/] ({path}): STT-MRAM, Δ = {params.delta:g}, Ic0 P→AP {params.ic0_p2ap_ua:.1f} µA, "
                  f"AP→P {params.ic0_ap2p_ua:.1f} µA, τD = {params.tau_d_ns:.3g} ns, WER by {base.wer_method}")
    figs = MemoryArray.from_config(sec, where)
    console.print(f"read at {base.read_voltage_v:g} V: read-disturb probability per bit and read "
                  f"{figs.p_read_disturb:.3g}; read latency {figs.read_latency_ns:.3g} ns; "
                  f"retention failure per bit in 1 s {mtj.retention_failure_probability(params, 1e9):.3g}")
    t = Table(title="Write operating points", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("V write", "pulse", "I P→AP", "I AP→P", "WER P→AP", "WER AP→P", "E/bit", "write lat"):
        t.add_column(col, justify="right")
    if args.mc:
        t.add_column(f"MC WER (worse dir., n={args.mc}) [95% CI]", justify="right")
    for v in voltages:
        for pulse in pulses:
            point = dict(sec, write_voltage_v=v, write_pulse_ns=pulse)
            try:
                f = MemoryArray.from_config(point, where)
            except UserError as exc:
                t.add_row(f"{v:g} V", f"{pulse:g} ns", *["-"] * 6, *(["-"] if args.mc else []))
                console.print(f"[dim]{v:g} V, {pulse:g} ns: {exc}[/]")
                continue
            currents = {d: mtj.write_current_ua(params, v, d) for d in ("p2ap", "ap2p")}
            cells = [f"{v:g} V", f"{pulse:g} ns", f"{currents['p2ap']:.1f} µA", f"{currents['ap2p']:.1f} µA",
                     f"{f.p_write_p2ap:.3g}", f"{f.p_write_ap2p:.3g}",
                     f"{f.write_energy_pj_per_switched_bit:.3g} pJ", f"{f.write_latency_ns:.3g} ns"]
            if args.mc:
                worse = "p2ap" if f.p_write_p2ap >= f.p_write_ap2p else "ap2p"
                i = currents[worse] / params.ic0_ua(worse)
                wer, lo, hi = llg.wer_monte_carlo(params.delta, i, pulse, params.tau_d_ns, args.mc, args.seed)
                cells.append(f"{wer:.3g} [{lo:.2g}, {hi:.2g}]")
            t.add_row(*cells)
    console.print(t)
    return 0

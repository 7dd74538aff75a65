"""``python -m simulator device``: operating points of a memory whose technology has a device sweep.

The technology's ``device_sweep`` makes the table (for the MRAMs: per write voltage and pulse width,
write current and write error rate per direction, write energy per switched bit, write latency, and
the read point's read-disturb probability; ``--mc N`` adds the stochastic-LLG Monte Carlo of the
worse direction with its 95% interval); this module only picks the memory and renders.
"""

from __future__ import annotations

import copy
import math

from models.errors import UserError, shown
from models.limits import RANGES
from simulator.cli import parse_seed

DEFAULT_VOLTAGES = "0.5,0.6,0.7,0.8,0.9,1.0"
DEFAULT_PULSES = "2,5,10,20"
MAX_POINTS = 64  # voltages or pulses in one table
MAX_MC = 100_000  # LLG trajectories per cell: about a CPU minute per 10 ns cell on this 2-core machine (2e4: 12 s)


def add_parser(sub) -> None:
    p = sub.add_parser("device", help="write voltage / pulse sweep of a memory's operating points (MRAM technologies)")
    p.add_argument("--config", help="YAML config (default: configs/mram_iso_capacity.yaml)")
    p.add_argument("--memory", help="which memory of the config (default: its first with a device sweep)")
    p.add_argument("--voltages", default=DEFAULT_VOLTAGES, help="comma list of write voltages in V")
    p.add_argument("--pulses", default=DEFAULT_PULSES, help="comma list of write pulse widths in ns")
    p.add_argument("--mc", type=int, default=0, metavar="N", help="add an LLG Monte Carlo column with N trajectories")
    p.add_argument("--seed", type=parse_seed, help="seed of the --mc trajectories (default: 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def _floats(text: str, flag: str, unit: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or len(values) > MAX_POINTS:
        raise UserError(f"{flag} {shown(text)}: expected a comma list of 1 to {MAX_POINTS} numbers in {unit}")
    lo, hi, _ = RANGES[flag]
    for v in values:
        if not (math.isfinite(v) and lo <= v <= hi):
            raise UserError(f"{flag} {shown(text)}: {v:g} is outside [{lo:g}, {hi:g}] {unit}")
    return values


def _memory_section(args) -> tuple[str, dict, str]:
    from pathlib import Path

    from models import technologies
    from simulator.config import CONFIG_DIR, _apply_override, _parse_override, read_with_base

    path = args.config or str(CONFIG_DIR / "mram_iso_capacity.yaml")
    doc = read_with_base(Path(path), (Path(path).resolve(),))
    for item in args.overrides:
        _apply_override(doc, *_parse_override(item))
    mems = doc.get("memories") or {}
    sweepable = [n for n in technologies.names() if technologies.get(n).has_device_sweep()]

    def has_sweep(m) -> bool:
        return isinstance(m, dict) and m.get("technology") in sweepable

    if args.memory:
        if args.memory not in mems:
            raise UserError(f"--memory {args.memory}: not in {path} (accepted: {', '.join(mems)})")
        name = args.memory
    else:
        found = [n for n, m in mems.items() if has_sweep(m)]
        if not found:
            raise UserError(f"{path}: {', '.join(f'no {t} memory' for t in sweepable)} to sweep (name one with "
                            f"--memory after setting its technology, e.g. --set memories.spm_act.technology="
                            f"{sweepable[0]})")
        name = found[0]
    sec = {k: v for k, v in copy.deepcopy(mems[name]).items() if v is not None}
    if not has_sweep(sec):
        raise UserError(f"--memory {name}: technology is {sec.get('technology')!r} (the sweep needs one of "
                        f"{', '.join(sweepable)})")
    for k in ("iso_area_with", "write_buffer_words", "organize", "power_gating"):  # config-level, not the device's
        sec.pop(k, None)
    sec.setdefault("capacity_kib", 1024)
    return name, sec, path


def run(args) -> int:
    from rich import box
    from simulator.report_fit import FitTable

    from models import technologies
    from simulator.report import make_console

    voltages = _floats(args.voltages, "--voltages", "V")
    pulses = _floats(args.pulses, "--pulses", "ns")
    if not 0 <= args.mc <= MAX_MC:
        raise UserError(f"--mc {args.mc}: must be a number of trajectories in [0, {MAX_MC}]")
    if args.seed is not None and not args.mc:
        raise UserError(f"--seed {args.seed}: seeds the --mc Monte Carlo only (give --mc N)")
    name, sec, path = _memory_section(args)
    sweep = technologies.parse(sec, f"{path}: memories.{name}").device_sweep(voltages, pulses, args.mc, args.seed or 0)
    console = make_console()
    console.print(f"[bold]{name}[/] ({path}): {sweep.summary[0]}")
    for line in sweep.summary[1:]:
        console.print(line)
    t = FitTable(title="Write operating points", title_justify="left", box=box.SIMPLE_HEAD, keys=2)
    for col in sweep.columns:
        t.add_column(col, justify="right")
    for row in sweep.rows:
        t.add_row(*row)
    for note in sweep.notes:
        console.print(f"[dim]{note}[/]")
    console.print(t)
    return 0

"""``python -m simulator trace show|export|diff``: inspect run files without writing code.

``show FILE`` prints the run's summary, narrowed by ``--layer``, ``--phases``, ``--hw-unit`` and
``--window``, with ``--top N`` longest stalls; ``export FILE`` writes Perfetto JSON (``--perfetto``)
and DRAM request traces (``--dram``, ``--format dramsim3|ramulator``); ``diff A B`` puts two runs side
by side. The file format is docs/trace-format.md.
"""

from __future__ import annotations

import argparse
import time

from models.errors import UserError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("trace", help="inspect a run file: show, export (Perfetto, DRAM traces), diff")
    sub = p.add_subparsers(dest="trace_command", required=True)

    s = sub.add_parser("show", help="summary, per-unit utilisation over time, longest stalls")
    s.add_argument("file", help="run file (.h5) from `python -m simulator workload`")
    _add_filters(s)
    s.add_argument("--top", type=int, default=0, metavar="N", help="list the N longest stalls with their cause")
    s.add_argument("--bins", type=int, help="characters of the utilisation bars (default: fits the terminal)")

    e = sub.add_parser("export", help="write Perfetto JSON and/or a DRAM request trace")
    e.add_argument("file", help="run file (.h5)")
    e.add_argument("--perfetto", metavar="OUT.json", help="Chrome trace-event JSON for Perfetto / chrome://tracing")
    e.add_argument("--dram", metavar="OUT.trace", help="DRAM request trace, one burst per line")
    e.add_argument("--format", dest="fmt", default="dramsim3", help="DRAM trace format: dramsim3 (default) or "
                   "ramulator (Ramulator 2 LoadStoreTrace)")
    _add_filters(e)

    d = sub.add_parser("diff", help="two runs' per-phase and per-layer cycles and stalls side by side")
    d.add_argument("a", metavar="A.h5")
    d.add_argument("b", metavar="B.h5")
    d.add_argument("--phases", help="comma list of phases to compare")
    d.add_argument("--top", type=int, default=20, metavar="N", help="layer ops to list (0: all)")
    return p


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", help="one layer, by name")
    p.add_argument("--phases", help="comma list of phases, e.g. fwd,bwd_data")
    p.add_argument("--hw-unit", dest="hw_unit", help="one hardware unit: pe_array, vector, dma, dram or a memory name")
    p.add_argument("--window", metavar="START:END", help="cycles [START, END); either end may be left out")


def parse_window(text: str | None) -> tuple[int | None, int | None] | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = (int(x.replace("_", "")) if x.strip() else None for x in parts)
    except ValueError:
        raise UserError(f"--window {text}: expected START:END in cycles, e.g. 1000:50000 or 1000:") from None
    if lo is not None and hi is not None and hi <= lo:
        raise UserError(f"--window {text}: END must be greater than START")
    return lo, hi


def _filters(trace, args) -> dict:
    from simulator.cli import parse_phases

    layer = None
    if args.layer is not None:
        names = set(trace.layer_names.values())
        if args.layer not in names:
            shown = ", ".join(sorted(names)[:10]) + (", ..." if len(names) > 10 else "")
            raise UserError(f"--layer {args.layer}: no such layer in {trace.path} ({len(names)} layers: {shown})")
        layer = args.layer
    if args.hw_unit is not None and args.hw_unit not in trace.hw_units:
        raise UserError(f"--hw-unit {args.hw_unit}: no such unit in {trace.path} "
                        f"(accepted: {', '.join(trace.hw_units)})")
    phases = parse_phases(args.phases) if args.phases is not None else None
    return {"layer": layer, "phases": phases, "hw_unit": args.hw_unit, "window": parse_window(args.window)}


def run(args) -> int:
    from simulator import trace as tracemod

    if args.trace_command == "diff":
        from simulator.cli import parse_phases
        from simulator.trace_view import render_diff

        phases = parse_phases(args.phases) if args.phases is not None else None
        if args.top < 0:
            raise UserError(f"--top {args.top}: must be 0 (all) or more")
        with tracemod.open(args.a) as a, tracemod.open(args.b) as b:
            render_diff(a, b, phases=phases, top=args.top)
        return 0
    with tracemod.open(args.file) as tr:
        flt = _filters(tr, args)
        if args.trace_command == "show":
            from simulator.trace_view import render_show

            if args.top < 0:
                raise UserError(f"--top {args.top}: must be 0 or more")
            if args.bins is not None and not 4 <= args.bins <= 1000:
                raise UserError(f"--bins {args.bins}: must be in [4, 1000]")
            render_show(tr, top=args.top, bins=args.bins, **flt)
            return 0
        return _export(tr, args, flt)


def _export(tr, args, flt: dict) -> int:
    from simulator.trace_export import DRAM_FORMATS, check_outputs, dram_summary_line, export_dram, export_perfetto

    if not args.perfetto and not args.dram:
        raise UserError("trace export: give --perfetto OUT.json and/or --dram OUT.trace")
    check_outputs(args.file, args.perfetto, args.dram)
    if args.fmt not in DRAM_FORMATS:
        raise UserError(f"--format {args.fmt}: unknown DRAM trace format (accepted: {', '.join(DRAM_FORMATS)})")
    if args.perfetto:
        t = time.perf_counter()
        c = export_perfetto(tr, args.perfetto, **flt)
        lanes = f", {c['extra_lanes']} extra lanes for overlapping slices" if c["extra_lanes"] else ""
        print(f"{args.perfetto}: {c['slices']:,} slices ({c['stall_slices']:,} stalls) on {c['tracks']} tracks"
              f"{lanes}; written in {time.perf_counter() - t:.2f} s")
    if args.dram:
        if flt["hw_unit"] not in (None, "dram"):
            raise UserError(f"--hw-unit {flt['hw_unit']}: a DRAM trace holds the dram unit only")
        t = time.perf_counter()
        c = export_dram(tr, args.dram, args.fmt, layer=flt["layer"], phases=flt["phases"], window=flt["window"])
        print(f"{args.dram}: {dram_summary_line(c, args.fmt)}; written in {time.perf_counter() - t:.2f} s")
    return 0

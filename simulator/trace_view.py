"""Rich terminal views of run files: ``trace show`` (summary, narrowed views, longest stalls) and
``trace diff`` (two runs side by side, the `compare` view from files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from rich.console import Console
from rich.table import Table

from simulator import schema
from simulator.report import (STALL_LEGEND, STALL_SHORT, fmt_bytes, fmt_energy, fmt_time, make_console,
                              render_compare, render_errors)
from simulator.report import table as report_table
from simulator.trace import NO_STALL_CODE, STALL_NAMES, Trace

SPARK = " ▁▂▃▄▅▆▇█"


def _pct(part: float, total: float) -> str:
    return f"{100.0 * part / total:.1f}" if total else "-"


def _short(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{int(n)}"


def short_track_name(unit: str, slot: int) -> str:
    if unit == "pe_array":
        return "PE array"
    if unit == "dma":
        return f"DMA {slot} {'in' if slot < 2 else 'out'}"
    if unit == "dram":
        return "DRAM"
    return unit if not slot else f"{unit} {slot}"


def _ratio(v: float, v0: float) -> str:
    return f"{v / v0:.2f}x" if v0 else ("=" if v == 0 else "new")


def _layer_mask(trace: Trace, layer, phases, window=None) -> np.ndarray:
    """Rows of /layers in the selection (with a window: the layer ops that run in it)."""
    lay = trace.layers
    m = np.ones(len(lay), bool)
    if layer is not None:
        m &= np.isin(lay["layer_id"], trace.layer_ids(layer))
    if phases is not None:
        m &= np.isin(lay["phase"], [schema.PHASES.index(p) for p in phases])
    if window is not None:
        runs = trace.select_runs(layer=layer, phases=phases, window=window)
        keys = {(int(r["layer_id"]), int(r["op"]), int(r["phase"])) for r in runs}
        m &= np.array([(int(r["layer_id"]), int(r["op"]), int(r["phase"])) in keys for r in lay], bool)
    return m


# ---------------------------------------------------------------------------------- time axis


def selected_spans(trace: Trace, layer=None, phases=None, window=None) -> np.ndarray:
    """(k, 2) disjoint, sorted [start, end) cycles of the selected ops, clipped to the window."""
    runs = trace.select_runs(layer=layer, phases=phases, window=window)
    if not len(runs):
        return np.zeros((0, 2), np.int64)
    s = runs["t_start_cycles"].astype(np.int64)
    e = runs["t_end_cycles"].astype(np.int64)
    if window is not None:
        lo, hi = window
        s = np.maximum(s, lo) if lo is not None else s
        e = np.minimum(e, hi) if hi is not None else e
    order = np.argsort(s, kind="stable")
    out: list[list[int]] = []
    for a, b in zip(s[order].tolist(), e[order].tolist()):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        elif b > a:
            out.append([a, b])
    return np.array(out, np.int64).reshape(-1, 2)


def bin_edges(spans: np.ndarray, bins: int) -> tuple[np.ndarray, float]:
    """Edges (real cycles) of ``bins`` equal bins over the spans laid end to end, and the bin width."""
    lengths = spans[:, 1] - spans[:, 0]
    total = float(lengths.sum())
    cum = np.r_[0.0, np.cumsum(lengths)]
    x = np.linspace(0.0, total, bins + 1)
    k = np.clip(np.searchsorted(cum, x, side="left") - 1, 0, len(spans) - 1)
    return spans[k, 0] + (x - cum[k]), total / bins


def covered_until(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sum over slices of their length before each edge: sum_i clip(edge - s_i, 0, e_i - s_i)."""
    s = np.sort(starts).astype(np.float64)
    e = np.sort(ends).astype(np.float64)
    cs, ce = np.r_[0.0, np.cumsum(s)], np.r_[0.0, np.cumsum(e)]
    ns = np.searchsorted(s, edges, side="right")
    ne = np.searchsorted(e, edges, side="right")
    return (ns * edges - cs[ns]) - (ne * edges - ce[ne])


@dataclass
class TrackStats:
    slices: int = 0
    busy_cycles: int = 0
    bytes: int = 0
    stall_cycles: dict[str, int] = field(default_factory=dict)
    covered: np.ndarray | None = None
    _until: int = -(1 << 62)

    def add_busy(self, s: np.ndarray, e: np.ndarray, nbytes: np.ndarray, edges: np.ndarray) -> None:
        """Busy cycles as the union of slices (DMA transfers of one buffer may overlap)."""
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
        prev = np.maximum.accumulate(np.r_[self._until, e])[:-1]
        self.busy_cycles += int(np.maximum(0, e - np.maximum(s, prev)).sum())
        self._until = max(self._until, int(e.max()))
        self.bytes += int(nbytes.sum())
        cov = covered_until(s, e, edges)
        self.covered = cov if self.covered is None else self.covered + cov


def scan(trace: Trace, layer=None, phases=None, hw_unit=None, window=None, bins: int = 60, top: int = 0):
    """One pass over the selected timeline: per-track statistics, utilisation bins, longest stalls."""
    spans = selected_spans(trace, layer, phases, window)
    edges, width = bin_edges(spans, bins) if len(spans) else (np.zeros(bins + 1), 0.0)
    tracks: dict[tuple[int, int], TrackStats] = {}
    longest = None
    lo, hi = (window if window is not None else (None, None))
    for rows in trace.iter_timeline(layer=layer, phases=phases, hw_unit=hw_unit, window=window):
        s = rows["t_start_cycles"].astype(np.int64)
        e = rows["t_end_cycles"].astype(np.int64)
        if lo is not None:
            s = np.maximum(s, lo)
        if hi is not None:
            e = np.minimum(e, hi)
        key = rows["hw_unit"].astype(np.int64) * 65536 + rows["slot"]
        for k in np.unique(key).tolist():
            m = key == k
            st = tracks.setdefault((k >> 16, k & 0xFFFF), TrackStats())
            st.slices += int(m.sum())
            busy = m & (rows["stall"] == NO_STALL_CODE)
            if busy.any():
                st.add_busy(s[busy], e[busy], rows["bytes"][busy], edges)
            stalled = m & ~busy
            if stalled.any():
                for code in np.unique(rows["stall"][stalled]).tolist():
                    mm = stalled & (rows["stall"] == code)
                    st.stall_cycles[STALL_NAMES[code]] = st.stall_cycles.get(STALL_NAMES[code], 0) + int(
                        (e[mm] - s[mm]).sum())
        if top:
            stalls = rows[rows["stall"] != NO_STALL_CODE]
            if len(stalls):
                longest = stalls if longest is None else np.concatenate([longest, stalls])
                dur = longest["t_end_cycles"] - longest["t_start_cycles"]
                keep = np.argsort(-dur, kind="stable")[:top]
                longest = longest[keep]
    return spans, width, tracks, longest


def sparkline(fractions: np.ndarray) -> str:
    levels = np.where(fractions > 0, np.ceil(np.clip(fractions, 0, 1) * 8), 0).astype(int)
    return "".join(SPARK[v] for v in levels)


# ---------------------------------------------------------------------------------- show


def _config_line(trace: Trace) -> tuple[str, str]:
    cfg = trace.config
    arr = cfg.get("array", {})
    tr = cfg.get("training", {})
    mems = ", ".join(f"{n} {m.get('technology', '?')} {m.get('capacity_kib', '?')} KiB/{m.get('banks', '?')} banks"
                     for n, m in (cfg.get("memories") or {}).items())
    dram = cfg.get("dram", {})
    return (f"{arr.get('rows', '?')}x{arr.get('cols', '?')} {arr.get('dataflow', '?')} {arr.get('precision', '?')} "
            f"@ {trace.clock_ghz:g} GHz, batch {tr.get('batch', '?')}, {tr.get('optimizer', '?')}"
            f"{' (ideal memory)' if trace.ideal_memory else ''}",
            f"memories: {mems}; DRAM {dram.get('preset', '?')} x{dram.get('channels', '?')} "
            f"({dram.get('clock_mhz', '?')} MHz, {dram.get('burst_bytes', '?')}-byte bursts)")


def _stall_table(title: str, labels: list[tuple[str, ...]], rows: list[np.ndarray], clock_hz: float,
                 label_cols: tuple[str, ...]) -> Table:
    t = report_table(title)
    for c in label_cols:
        t.add_column(c)
    for c in ("cycles", "time", "energy"):
        t.add_column(c, justify="right")
    for st in schema.STALL_REPORT_ORDER:
        t.add_column(STALL_SHORT[st], justify="right")
    for label, r in zip(labels, rows):
        cyc = int(r["total_cycles"].sum())
        energy = sum(float(r[f"energy_{c}_pj"].sum()) for c in schema.ENERGY_COMPONENTS)
        t.add_row(*label, f"{cyc:,}", fmt_time(cyc / clock_hz), fmt_energy(energy),
                  *[_pct(r[f"{st}_cycles"].sum(), cyc) for st in schema.STALL_REPORT_ORDER])
    return t


def render_show(trace: Trace, console: Console | None = None, layer=None, phases=None, hw_unit=None,
                window=None, top: int = 0, bins: int | None = None) -> None:
    console = console or make_console()
    bins = bins or max(20, min(80, console.width - 60))
    s = trace.summary()
    clock_hz = trace.clock_ghz * 1e9
    line1, line2 = _config_line(trace)
    console.print(f"[bold]{trace.workload}[/] from {trace.path} (schema {trace.schema_version}, "
                  f"simulator {trace.attrs.get('simulator_version', '?')}, seed {trace.seed})")
    console.print(line1)
    console.print(line2)
    console.print(f"[bold]total[/] {s['total_cycles']:,} cycles = {fmt_time(trace.seconds)} simulated; energy "
                  f"{fmt_energy(s['total_energy_pj'])}; DRAM read {fmt_bytes(s['dram_read_bytes'])}, written "
                  f"{fmt_bytes(s['dram_write_bytes'])}; {s['macs'] / 1e9:.2f} GMAC; {trace.timeline_rows:,} "
                  f"timeline slices; phases {','.join(trace.phases)}")
    narrowed = any(v is not None for v in (layer, phases, hw_unit, window))
    if narrowed:
        parts = [f"layer {layer}" if layer is not None else "", f"phases {','.join(phases)}" if phases else "",
                 f"unit {hw_unit}" if hw_unit else "",
                 f"cycles [{window[0] if window[0] is not None else 0}, "
                 f"{window[1] if window[1] is not None else trace.total_cycles})" if window else ""]
        console.print("[bold]selection[/] " + "; ".join(p for p in parts if p))

    lay = trace.layers
    m = _layer_mask(trace, layer, phases, window)
    sel = lay[m]
    shown_phases = [p for p in schema.PHASES if (sel["phase"] == schema.PHASES.index(p)).any()]
    console.print(_stall_table("Per phase",
                               [(p,) for p in shown_phases],
                               [sel[sel["phase"] == schema.PHASES.index(p)] for p in shown_phases], clock_hz,
                               ("phase",)))
    if layer is not None:
        order = np.argsort(sel["layer_id"] * 16 + sel["phase"], kind="stable")
        console.print(_stall_table(f"Layer {layer}: each op",
                                   [(str(r["layer"]), schema.OPS[r["op"]], schema.PHASES[r["phase"]])
                                    for r in sel[order]], [sel[i:i + 1] for i in order], clock_hz,
                                   ("layer", "op", "phase")))
    else:
        order = np.argsort(-sel["total_cycles"], kind="stable")[:10]
        console.print(_stall_table(f"Slowest {len(order)} layer ops",
                                   [(str(r["layer"]), schema.OPS[r["op"]], schema.PHASES[r["phase"]])
                                    for r in sel[order]], [sel[i:i + 1] for i in order], clock_hz,
                                   ("layer", "op", "phase")))

    console.print(f"[dim]{STALL_LEGEND}[/]")
    if not narrowed:
        render_errors(as_run_result(trace), console)
    spans, width, tracks, longest = scan(trace, layer, phases, hw_unit, window, bins, top)
    span_cycles = int((spans[:, 1] - spans[:, 0]).sum()) if len(spans) else 0
    _render_units(console, trace, tracks, spans, width, span_cycles)
    _render_banks(console, trace, tracks, m, span_cycles)
    if top:
        _render_longest(console, trace, longest, top, clock_hz)


def _render_units(console, trace, tracks, spans, width, span_cycles) -> None:
    if not tracks or not span_cycles:
        console.print("no timeline slices in the selection")
        return
    gaps = ", gaps between the selected ops left out" if len(spans) > 1 else ""
    t = report_table(f"Units over time: cycles {spans[0, 0]:,} to {spans[-1, 1]:,} ({span_cycles:,} cycles in "
                     f"{len(spans)} span(s){gaps}); bar = busy share per bin")
    for col in ("unit", "busy %", "stalls", "bytes", "slices"):
        t.add_column(col, justify="left" if col in ("unit", "stalls") else "right")
    t.add_column("utilisation over time", no_wrap=True)
    units = trace.hw_units
    for (u, slot), st in sorted(tracks.items()):
        bar = sparkline(np.diff(st.covered) / width if st.covered is not None and width else np.zeros(1))
        stalls = " ".join(f"{k} {_short(v)}" for k, v in sorted(st.stall_cycles.items(), key=lambda kv: -kv[1]))
        t.add_row(short_track_name(units[u], slot), _pct(st.busy_cycles, span_cycles), stalls or "-",
                  fmt_bytes(st.bytes) if st.bytes else "-", f"{st.slices:,}", f"[cyan]{bar}[/]")
    console.print(t)


def _render_banks(console, trace, tracks, layer_mask, span_cycles) -> None:
    cfg = trace.config.get("memories") or {}
    mems = [u for u in trace.hw_units if u in cfg]
    if not mems or not layer_mask.any():
        return
    traffic = trace.traffic
    keys = {(int(r["layer_id"]), int(r["phase"])) for r in trace.layers[layer_mask]}
    tk = traffic["layer_id"].astype(np.int64) * 16 + traffic["phase"]
    sel = traffic[np.isin(tk, [a * 16 + b for a, b in keys])] if len(traffic) else traffic
    rows = []
    for name in mems:
        st = tracks.get((trace.hw_units.index(name), 0))
        mm = sel["memory"] == name if len(sel) else np.zeros(0, bool)
        rows.append((st.busy_cycles if st else 0, name, int(sel["read_bytes"][mm].sum()) if len(sel) else 0,
                     int(sel["write_bytes"][mm].sum()) if len(sel) else 0))
    rows.sort(key=lambda r: -r[0])
    t = report_table("Busiest scratchpads (the engine models a scratchpad's banks as one interleaved group; "
                     "read/written: traffic of the selected layer ops' phases)")
    for col in ("memory", "technology", "banks", "busy cycles", "busy %", "read", "written"):
        t.add_column(col, justify="left" if col in ("memory", "technology") else "right")
    for busy, name, rd, wr in rows:
        m = cfg[name]
        t.add_row(name, str(m.get("technology", "?")), str(m.get("banks", "?")), f"{busy:,}",
                  _pct(busy, span_cycles), fmt_bytes(rd), fmt_bytes(wr))
    console.print(t)


def _render_longest(console, trace, longest, top, clock_hz) -> None:
    if longest is None or not len(longest):
        console.print("no stall slices in the selection")
        return
    names = trace.layer_names
    t = report_table(f"{len(longest)} longest stalls")
    for col in ("#", "cycles", "time", "cause", "unit", "layer", "phase", "op", "start cycle"):
        t.add_column(col, justify="right" if col in ("#", "cycles", "time", "start cycle") else "left")
    for i, r in enumerate(longest):
        cyc = int(r["t_end_cycles"] - r["t_start_cycles"])
        t.add_row(str(i + 1), f"{cyc:,}", fmt_time(cyc / clock_hz), STALL_NAMES[r["stall"]],
                  trace.hw_units[r["hw_unit"]], names.get(int(r["layer_id"]), str(r["layer_id"])),
                  schema.PHASES[r["phase"]], schema.OPS[r["op"]], f"{int(r['t_start_cycles']):,}")
    console.print(t)


# ---------------------------------------------------------------------------------- diff


def as_run_result(trace: Trace):
    """A `RunResult` from a file, so `report.render_compare` shows files as it shows fresh runs."""
    from simulator.api import RunResult

    empty = np.zeros(0)
    cfg = SimpleNamespace(clock_ghz=trace.clock_ghz, source=str(trace.path))
    return RunResult(workload=trace.workload, config=cfg, phases=trace.phases, ideal_memory=trace.ideal_memory,
                     seed=trace.seed, layers=trace.layers, traffic=empty, energy=empty,
                     errors=trace.errors if trace.has_errors else empty,
                     timeline=empty, total_cycles=trace.total_cycles, hw_units=list(trace.hw_units),
                     wall_seconds=0.0, events=0, tiles=0, path=trace.path)


def _pair(a: np.ndarray, b: np.ndarray, stalls: list[str]) -> tuple[list[str], list[str]]:
    """Cells of the A row and the B row: cycles, B/A ratio (B row), stall shares in % of cycles."""
    ca, cb = int(a["total_cycles"].sum()), int(b["total_cycles"].sum())
    row_a = ["A", f"{ca:,}", ""] + [_pct(a[f"{st}_cycles"].sum(), ca) for st in stalls]
    row_b = ["B", f"{cb:,}", _ratio(cb, ca)] + [_pct(b[f"{st}_cycles"].sum(), cb) for st in stalls]
    return row_a, row_b


def render_diff(a: Trace, b: Trace, console: Console | None = None, phases=None, top: int = 20) -> None:
    """Totals (the `compare` table), then per-phase and per-layer-op cycles and stall shares, A → B."""
    console = console or make_console()
    if a.workload != b.workload:
        console.print(f"[yellow]note[/]: different workloads ({a.workload} and {b.workload}); layer ops are "
                      "matched by name")
    render_compare([as_run_result(a), as_run_result(b)], console)
    la, lb = a.layers, b.layers
    ma, mb = _layer_mask(a, None, phases), _layer_mask(b, None, phases)
    la, lb = la[ma], lb[mb]
    stalls = [st for st in schema.STALL_REPORT_ORDER
              if la[f"{st}_cycles"].sum() or lb[f"{st}_cycles"].sum()]
    head = ["run", "cycles", "B/A"] + [STALL_SHORT[st] for st in stalls]
    console.print(f"A = {a.path}, B = {b.path}")

    t = report_table("Per phase, A and B (stall columns: % of the row's cycles)")
    t.add_column("phase")
    for h in head:
        t.add_column(h, justify="right", no_wrap=True)
    for ph in schema.PHASES:
        code = schema.PHASES.index(ph)
        ra, rb = la[la["phase"] == code], lb[lb["phase"] == code]
        if len(ra) or len(rb):
            cells_a, cells_b = _pair(ra, rb, stalls)
            t.add_row(ph, *cells_a)
            t.add_row("", *cells_b, end_section=True)
    console.print(t)

    def keyed(lay):
        return {(str(r["layer"]), int(r["op"]), int(r["phase"])): i for i, r in enumerate(lay)}

    ka, kb = keyed(la), keyed(lb)
    keys = list(ka) + [k for k in kb if k not in ka]
    zero = np.zeros(0, la.dtype)

    def pick(lay, index, k):
        return lay[index[k]:index[k] + 1] if k in index else zero

    cyc = [max(int(pick(la, ka, k)["total_cycles"].sum()), int(pick(lb, kb, k)["total_cycles"].sum()))
           for k in keys]
    order = np.argsort(-np.array(cyc), kind="stable")
    if top:
        order = order[:top]
    t = report_table(f"Per layer op, A and B: the {len(order)} of {len(keys)} with the most cycles")
    for col in ("layer", "op", "phase"):
        t.add_column(col, no_wrap=True)
    for h in head:
        t.add_column(h, justify="right", no_wrap=True)
    for i in order:
        k = keys[i]
        cells_a, cells_b = _pair(pick(la, ka, k), pick(lb, kb, k), stalls)
        t.add_row(k[0], schema.OPS[k[1]], schema.PHASES[k[2]], *cells_a)
        t.add_row("", "", "", *cells_b, end_section=True)
    console.print(t)
    only = [k for k in keys if (k in ka) != (k in kb)]
    if only:
        console.print(f"{len(only)} layer ops exist in one file only (shown as 0 cycles in the other)")
    console.print(f"[dim]{STALL_LEGEND}[/]")

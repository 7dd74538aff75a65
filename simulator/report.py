"""Rich terminal reports: a run's totals, phases, slowest layers and energy; several runs side by side."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from simulator import schema
from simulator.report_fit import FitTable, print_fitted

STALL_SHORT = {"compute": "cmp", "fill_drain": "fill", "spm_read": "rd", "spm_write": "wr",
               "bank_conflict": "bank", "dram": "dram", "vector": "vec", "idle": "idle"}
STALL_LEGEND = ("stall columns, % of the row's cycles, each cycle under one cause (the first of dram, bank, wr, rd, "
                "vec, fill, cmp, idle that holds): cmp = PE array computing, fill = array fill/drain, rd = "
                "waiting for scratchpad read bandwidth, wr = waiting to write (outputs cannot drain), bank = waiting for a bank another stream holds, "
                "dram = waiting for DRAM, vec = vector unit at work (a vector op's own cycles), idle = the unit "
                "had nothing to do")
LEGENDS = {
    "phase": "fwd = forward, bwd_data = error back-propagation, bwd_weight = weight gradients, wu = weight "
             "update; time = cycles at the clock; energy = every component in the phase",
    "layers": "one row per layer op and phase, slowest first; DRAM bytes = read + written by the op",
    "energy": "leakage = the memories' static power over the run; share % = of the run's total energy",
    "memories": "figures of one access (one word): energy in pJ, latency in ns; write occ. ns = how long a "
                "write keeps its bank busy; leakage of the whole memory",
    "traffic": "bytes read (rd) and written (wr) at DRAM and at each memory, by tensor class",
    "errors": "P = probability per bit, the highest over the class's rows (write: per switching write, by "
              "direction; read dist. = a read flips the bit; retention = lost over the residence); expected wrong "
              "bits = bits written x (switching share x mean P write + P retention) + bits read x P read dist.",
    "endurance": "raw WER = write error rate per bit before ECC and verify (worse direction); write attempts = "
                 "expected tries per write with write-verify; hot = the most-written cell, mean = all cells; "
                 "lifetime = endurance / hot writes per cell per second",
}


def legend(console: Console, key: str) -> None:
    console.print(f"[dim]{LEGENDS[key]}[/]")


def make_console() -> Console:
    """Rich's own width: COLUMNS when set (also when piped), else the terminal's, else 80."""
    return Console()


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def fmt_energy(pj: float) -> str:
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def _pct(part: float, total: float) -> str:
    return f"{100.0 * part / total:.1f}" if total else "-"


def _phase_mask(layers: np.ndarray, phase: str) -> np.ndarray:
    return layers["phase"] == schema.PHASES.index(phase)


def table(title: str, keys: int = 1) -> Table:
    """A report table; it fits the console when printed (simulator/report_fit.py)."""
    return FitTable(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, keys=keys)


def _stall_columns(t: Table) -> None:
    for st in schema.STALL_REPORT_ORDER:
        t.add_column(STALL_SHORT[st], justify="right")


def render_run(result, console: Console | None = None, top: int = 10) -> None:
    console = console or make_console()
    cfg = result.config
    lay = result.layers
    s = result.summary()
    clock = cfg.clock_ghz * 1e9
    mems = ", ".join(f"{m.name} {m.technology} {m.capacity_bytes // 1024} KiB/{m.banks} banks"
                     for m in cfg.memories.values())
    console.print(f"[bold]{result.workload}[/] on {cfg.array.rows}x{cfg.array.cols} {cfg.array.dataflow} "
                  f"{cfg.array.precision} @ {cfg.clock_ghz:g} GHz, batch {cfg.training.batch}, "
                  f"{cfg.training.optimizer}{' (ideal memory)' if result.ideal_memory else ''}")
    console.print(f"config {cfg.source}; memories: {mems}; DRAM {cfg.dram.preset} x{cfg.dram.channels}")
    console.print(f"[bold]total {s['total_cycles']:,} cycles = {fmt_time(result.seconds)}[/] simulated, "
                  f"[bold]{fmt_energy(s['total_energy_pj'])}[/]; {s['macs'] / 1e9:.3g} GMAC; DRAM read "
                  f"{fmt_bytes(s['dram_read_bytes'])}, written {fmt_bytes(s['dram_write_bytes'])}")
    replayed = f", {result.replayed_ops:,} ops replayed whole" if result.replayed_ops else ""
    console.print(f"[dim]simulated in {result.wall_seconds:.2f} s wall: {result.tiles:,} tiles, "
                  f"{result.events:,} events{replayed}[/]")

    t = table("Per phase")
    for col, just in (("phase", "left"), ("cycles", "right"), ("time", "right"), ("energy", "right")):
        t.add_column(col, justify=just)
    _stall_columns(t)
    for ph in result.phases:
        m = _phase_mask(lay, ph)
        cyc = int(lay["total_cycles"][m].sum())
        energy = sum(float(lay[f"energy_{c}_pj"][m].sum()) for c in schema.ENERGY_COMPONENTS)
        t.add_row(ph, f"{cyc:,}", fmt_time(cyc / clock), fmt_energy(energy),
                  *[_pct(lay[f"{st}_cycles"][m].sum(), cyc) for st in schema.STALL_REPORT_ORDER])
    print_fitted(console, t)
    legend(console, "phase")
    console.print(f"[dim]{STALL_LEGEND}[/]")

    order = np.argsort(-lay["total_cycles"], kind="stable")[:top]
    t = table(f"Slowest {len(order)} layer ops")
    for col, just in (("layer", "left"), ("op", "left"), ("phase", "left"), ("cycles", "right"),
                      ("DRAM bytes", "right")):
        t.add_column(col, justify=just)
    _stall_columns(t)
    for i in order:
        r = lay[i]
        cyc = int(r["total_cycles"])
        name = r["layer"].decode() if isinstance(r["layer"], bytes) else str(r["layer"])
        t.add_row(name, schema.OPS[r["op"]], schema.PHASES[r["phase"]], f"{cyc:,}",
                  fmt_bytes(int(r["dram_read_bytes"]) + int(r["dram_write_bytes"])),
                  *[_pct(r[f"{st}_cycles"], cyc) for st in schema.STALL_REPORT_ORDER])
    print_fitted(console, t, keys=3)
    legend(console, "layers")

    t = table("Energy by component and phase")
    t.add_column("component")
    for ph in result.phases:
        t.add_column(ph, justify="right")
    t.add_column("total", justify="right")
    t.add_column("share %", justify="right")
    total = s["total_energy_pj"]
    for c in schema.ENERGY_COMPONENTS:
        vals = [float(lay[f"energy_{c}_pj"][_phase_mask(lay, ph)].sum()) for ph in result.phases]
        t.add_row(c, *[fmt_energy(v) for v in vals], fmt_energy(sum(vals)), _pct(sum(vals), total))
    print_fitted(console, t)
    legend(console, "energy")

    render_memories(cfg, console)

    tr = result.traffic
    t = table("Traffic by tensor class")
    t.add_column("class")
    places = ["dram"] + list(cfg.memories)
    for p in places:
        t.add_column(f"{p} rd", justify="right")
        t.add_column(f"{p} wr", justify="right")
    mem_names = tr["memory"].astype(str) if len(tr) else np.zeros(0, str)
    for ci, cname in enumerate(schema.TENSOR_CLASSES[:-1]):
        cells = []
        for p in places:
            m = (tr["tensor_class"] == ci) & (mem_names == p)
            cells += [fmt_bytes(int(tr["read_bytes"][m].sum())), fmt_bytes(int(tr["write_bytes"][m].sum()))]
        t.add_row(cname, *cells)
    print_fitted(console, t)
    legend(console, "traffic")
    render_errors(result, console)
    render_endurance(result, console)
    render_power_gating(result, console)
    if result.path:
        console.print(f"trace: [bold]{result.path}[/] (h5py: /layers /traffic /energy /timeline /errors /memories)")


def render_memories(cfg, console: Console) -> None:
    """One row per memory as simulated: organisation, area and per-access figures (= /memories)."""
    from simulator.memories_table import memories_rows

    rows = memories_rows(cfg)
    t = table(f"Memories (total area {rows['area_mm2'].sum():.3f} mm2)")
    cols = (("memory", "name", "{}"), ("technology", "technology", "{}"), ("KiB", "capacity_kib", "{:,}"),
            ("banks", "banks", "{}"), ("word bits", "word_bits", "{}"), ("area mm2", "area_mm2", "{:.3f}"),
            ("leakage mW", "leakage_mw", "{:.3g}"), ("read pJ", "read_energy_pj", "{:.3g}"),
            ("write pJ", "write_energy_pj", "{:.3g}"), ("read ns", "read_latency_ns", "{:.3g}"),
            ("write ns", "write_latency_ns", "{:.3g}"), ("write occ. ns", "write_occupancy_ns", "{:.3g}"),
            ("gated", "power_gating", "{}"))
    for label, _, _ in cols:
        t.add_column(label, justify="left" if label in ("memory", "technology") else "right")
    for r in rows:
        t.add_row(*[fmt.format(r[key].decode() if isinstance(r[key], bytes) else r[key]) for _, key, fmt in cols])
    print_fitted(console, t)
    legend(console, "memories")


def expected_bit_errors(errors: np.ndarray) -> np.ndarray:
    """Expected wrong bits per ledger row: write errors on the bits that switch (half from each
    direction), a read disturb per bit read, retention over the residence of the bits written."""
    p_write = 0.5 * (errors["p_write_p2ap"] + errors["p_write_ap2p"])
    return (errors["bits_written"] * (errors["switch_fraction"] * p_write + errors["p_retention"])
            + errors["bits_read"] * errors["p_read_disturb"])


def render_errors(result, console: Console) -> None:
    err = result.errors
    if not len(err):
        return
    risky = (err["p_write_p2ap"] + err["p_write_ap2p"] + err["p_read_disturb"] + err["p_retention"]) > 0
    if not risky.any():
        console.print("bit errors: none (every memory that holds data is error-free)")
        return
    t = table("Bit errors by memory and tensor class (the /errors ledger)")
    per_field = "field" in (err.dtype.names or ())
    for col in ("memory", "class") + (("field",) if per_field else ()) + (
            "bits written", "bits read", "P write P→AP", "P write AP→P", "P read dist.", "mean residence",
            "P retention", "expected wrong bits"):
        t.add_column(col, justify="left" if col in ("memory", "class", "field") else "right")
    mem_names = err["memory"].astype(str)
    expected = expected_bit_errors(err)
    # a memory with per-field write pulses (simulator/field_pulses.py) has one row per field
    fields = tuple(enumerate(schema.ERROR_FIELD_NAMES)) if per_field else ((None, None),)
    groups = ((mem, ci, cname, fi, fname) for mem in dict.fromkeys(mem_names)
              for ci, cname in enumerate(schema.TENSOR_CLASSES) for fi, fname in fields)
    for mem, ci, cname, fi, fname in groups:
        m = (mem_names == mem) & (err["tensor_class"] == ci)
        if fi is not None:
            m &= err["field"] == fi
        if not m.any():
            continue
        rows = err[m]
        w = max(int(rows["bits_written"].sum()), 1)
        res_ns = float((rows["mean_residence_ns"] * rows["bits_written"]).sum() / w)
        t.add_row(mem, cname, *((fname,) if per_field else ()), f"{int(rows['bits_written'].sum()):.3g}",
                  f"{int(rows['bits_read'].sum()):.3g}",
                  f"{rows['p_write_p2ap'].max():.3g}", f"{rows['p_write_ap2p'].max():.3g}",
                  f"{rows['p_read_disturb'].max():.3g}", fmt_time(res_ns * 1e-9),
                  f"{rows['p_retention'].max():.3g}", f"{expected[m].sum():.4g}")
    print_fitted(console, t, keys=3 if per_field else 2)
    legend(console, "errors")


def render_endurance(result, console: Console) -> None:
    """Writes per cell per second at each memory's hot spot and the lifetime at its endurance."""
    t = table("Write point and endurance (hot spot: every write stream from the buffer base)")
    for col in ("memory", "write point", "raw WER (worse dir.)", "ECC", "write attempts", "hot writes/cell/s",
                "mean writes/cell/s", "endurance", "lifetime"):
        t.add_column(col, justify="left" if col in ("memory", "write point", "ECC") else "right")
    for name, e in result.endurance().items():
        mem = result.config.memories[name]
        life = e["lifetime_years"]
        op = mem.operating_point
        point = (f"{op['write_voltage_v']:g} V, {op['write_pulse_ns']:g} ns"
                 if "write_voltage_v" in op and "write_pulse_ns" in op else "-")
        t.add_row(name, point, f"{max(mem.p_write_p2ap, mem.p_write_ap2p):.3g}", mem.ecc,
                  f"{mem.write_attempts:.4g}", f"{e['hot_writes_per_cell_per_s']:.3g}",
                  f"{e['mean_writes_per_cell_per_s']:.3g}",
                  "unlimited" if e["endurance_cycles"] == float("inf") else f"{e['endurance_cycles']:.0e}",
                  "unlimited" if life == float("inf") else f"{life:.3g} years")
    print_fitted(console, t)
    legend(console, "endurance")


def render_power_gating(result, console: Console) -> None:
    """Per power-gated memory: its wake-up, the gaps gated and the leakage paid (simulator/power_gating.py)."""
    gating = getattr(result, "power_gating", None) or {}
    if not gating:
        return
    t = table("Power gating (idle banks gated between reservations; simulator/power_gating.py)")
    for col in ("memory", "wake-up", "wake energy", "gaps gated from", "gated cycles", "wake-ups", "leakage paid",
                "ungated leakage"):
        t.add_column(col, justify="left" if col == "memory" else "right")
    en = result.energy
    names = en["memory"].astype(str) if len(en) else np.zeros(0, str)
    leak = schema.ENERGY_COMPONENTS.index("leakage")
    for name, g in gating.items():
        mem = result.config.memories[name]
        paid = float(en["energy_pj"][(names == name) & (en["component"] == leak)].sum())
        ungated = mem.leakage_mw * result.total_cycles / result.config.clock_ghz
        t.add_row(name, f"{mem.wake_latency_ns:.3g} ns ({g['wake_cycles']} cyc.)", fmt_energy(mem.wake_energy_pj),
                  f"{g['min_gap_cycles']:,} cyc.", f"{g['gated_cycles']:,} ({_pct(g['gated_cycles'], result.total_cycles)}%)",
                  f"{g['wake_ups']:,}", fmt_energy(paid), fmt_energy(ungated))
    console.print(t)


def render_compare(results, console: Console | None = None) -> None:
    """Several runs of one workload side by side; every cell after the first shows its ratio to the
    first run's value."""
    from pathlib import Path

    console = console or make_console()
    names = [Path(r.config.source).stem for r in results]
    if len(set(names)) < len(names):
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    for n, r in zip(names, results):
        console.print(f"{n} = {r.config.source}")
    t = table(f"{results[0].workload}: side by side (ratio to {names[0]})")
    t.add_column("metric", no_wrap=True)
    for n in names:
        t.add_column(n, justify="right")

    def add(label, values, fmt):
        cells = [fmt(values[0])]
        for v in values[1:]:
            r = v / values[0] if values[0] else None
            ratio = ("=" if v == 0 else "new") if r is None else (f"{r:,.0f}x" if r >= 100 else f"{r:.2f}x")
            cells.append(f"{fmt(v)} ({ratio})")
        t.add_row(label, *cells)

    sums = [r.summary() for r in results]
    add("total cycles", [s["total_cycles"] for s in sums], lambda v: f"{v:,}")
    add("simulated time", [r.seconds for r in results], fmt_time)
    for st in schema.STALL_REPORT_ORDER:
        add(f"  {st} cycles", [s["stall_cycles"][st] for s in sums], lambda v: f"{v:,}")
    add("total energy", [s["total_energy_pj"] for s in sums], fmt_energy)
    for c in schema.ENERGY_COMPONENTS:
        add(f"  {c} energy", [s["energy_pj"][c] for s in sums], fmt_energy)
    if all(hasattr(r.config, "memories") for r in results):  # runs, not a file's summary (trace diff)
        _compare_memories(results, add, t)
    add("DRAM read", [s["dram_read_bytes"] for s in sums], fmt_bytes)
    add("DRAM written", [s["dram_write_bytes"] for s in sums], fmt_bytes)
    print_fitted(console, t)


def _compare_memories(results, add, t) -> None:
    """Area, capacity and organisation of every memory, side by side."""
    add("scratchpad area mm2", [sum(m.area_mm2 for m in r.config.memories.values()) for r in results],
        lambda v: f"{v:.3f}")
    for name in results[0].config.memories:
        if all(name in r.config.memories for r in results):
            mems = [r.config.memories[name] for r in results]
            add(f"  {name} area mm2", [m.area_mm2 for m in mems], lambda v: f"{v:.3f}")
            add(f"  {name} KiB", [m.capacity_bytes // 1024 for m in mems], lambda v: f"{v:,}")
            t.add_row(f"  {name} banks x bits", *[f"{m.banks} x {m.word_bits}" for m in mems])

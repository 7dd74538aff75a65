"""Invariants every run is checked against before its file is written (`check_run`, from `api.run`).

Each compares the ledger with a quantity computed another way, so an accounting bug in the engine
(or in fast-forward's skipped periods) fails the run instead of writing wrong numbers:

- cycles: per (layer, op, phase) row, the stall parts sum to the cycles the engine's clock spent on
  the row's ops (``Engine.op_timing``; the end-of-step write-back belongs to the last op), and the
  rows to the run's total; every cycle count is non-negative;
- bytes: per row, DRAM bytes equal the /traffic table's DRAM rows; they are at least the plan's bytes
  of the operands streamed from DRAM (each element moves at least once), exactly those for vector
  ops; the timeline's DRAM transfers carry the ledger's read and write bytes (when a timeline is kept);
- energy: every value finite and non-negative, and /energy sums to /layers per component;
- probabilities: every ``p_*`` and the switch fraction of /errors in [0, 1], residence times finite
  and non-negative.

A broken invariant is a simulator bug, not bad input: `InvariantError`, which the CLI reports in one
line with exit status 3.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from simulator import schema

EXIT_STATUS = 3
ENERGY_RTOL = 1e-9  # float sums of the same terms in another order


class InvariantError(RuntimeError):
    """A run broke an invariant; the message names it and the values."""

    def __init__(self, message: str):
        super().__init__(f"invariant broken: {message}; a simulator bug, not an input error")


class TimelineTally:
    """DRAM bytes and cycle bounds of timeline rows, counted chunk by chunk as they are written."""

    def __init__(self, dram_unit: int):
        self.dram_unit = dram_unit
        self.read_bytes = 0
        self.write_bytes = 0
        self.rows = 0
        self.min_start = 0
        self.max_end = 0
        self.bad_rows = 0  # rows that end before they start

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        s, e = rows["t_start_cycles"], rows["t_end_cycles"]
        self.rows += len(rows)
        self.min_start = min(self.min_start, int(s.min()))
        self.max_end = max(self.max_end, int(e.max()))
        self.bad_rows += int(np.count_nonzero(e < s))
        dram = rows["hw_unit"] == self.dram_unit
        nbytes = rows["bytes"][dram]
        w = rows["is_write"][dram] != 0
        self.write_bytes += int(nbytes[w].sum())
        self.read_bytes += int(nbytes[~w].sum())


def _fail(message: str) -> None:
    raise InvariantError(message)


def _row_name(row) -> str:
    return f"{row['layer']}/{schema.OPS[int(row['op'])]}/{schema.PHASES[int(row['phase'])]}"


def check_cycles(layers: np.ndarray, total_cycles: int, spans: dict[tuple[int, int, int], int]) -> None:
    """``spans``: (layer_id, op code, phase code) -> cycles the engine's clock spent on those ops."""
    if total_cycles < 0:
        _fail(f"total_cycles = {total_cycles} is negative")
    stall_cols = [f"{s}_cycles" for s in schema.STALLS]
    for col in ["total_cycles", "macs"] + stall_cols:
        if len(layers) and int(layers[col].min()) < 0:
            i = int(np.argmin(layers[col]))
            _fail(f"/layers {_row_name(layers[i])}: {col} = {int(layers[col][i])} is negative")
    parts = sum(layers[c].astype(np.int64) for c in stall_cols) if len(layers) else np.zeros(0, np.int64)
    seen = set()
    for i, row in enumerate(layers):
        key = (int(row["layer_id"]), int(row["op"]), int(row["phase"]))
        seen.add(key)
        clock = spans.get(key)
        if clock is None:
            _fail(f"/layers {_row_name(row)}: a ledger row for an op the engine never ran")
        if int(parts[i]) != clock or int(row["total_cycles"]) != clock:
            _fail(f"/layers {_row_name(row)}: stall parts sum to {int(parts[i])} cycles (total_cycles "
                  f"{int(row['total_cycles'])}) but the engine's clock spent {clock} cycles on the op")
    missing = [k for k, v in spans.items() if v and k not in seen]
    if missing:
        lid, op, ph = missing[0]
        _fail(f"/layers: no row for layer_id {lid} {schema.OPS[op]}/{schema.PHASES[ph]}, which took "
              f"{spans[missing[0]]} cycles")
    rows_total = int(layers["total_cycles"].sum()) if len(layers) else 0
    if rows_total != total_cycles:
        _fail(f"/layers total_cycles sum to {rows_total} but the run took {total_cycles} cycles")


def op_spans(plan, op_timing, total_cycles: int) -> dict[tuple[int, int, int], int]:
    """Cycles of the engine's clock per (layer_id, op code, phase code), from each op's start and end;
    the step's final write-back (after the last op) is booked to the last op, as the engine does."""
    pc, oc = schema.enum_codes(schema.PHASES), schema.enum_codes(schema.OPS)
    if len(op_timing) != len(plan.ops):
        _fail(f"the engine timed {len(op_timing)} ops of a plan of {len(plan.ops)}")
    spans: dict[tuple[int, int, int], int] = defaultdict(int)
    for p, t in zip(plan.ops, op_timing):
        if t.end < t.start:
            _fail(f"op {p.op.layer}/{p.op.op}/{p.op.phase} ends at cycle {t.end} before it starts at {t.start}")
        spans[(p.op.layer_id, oc[p.op.op], pc[p.op.phase])] += t.end - t.start
    if plan.ops:
        last = plan.ops[-1].op
        tail = total_cycles - op_timing[-1].end
        if tail < 0:
            _fail(f"the last op ends at cycle {op_timing[-1].end}, after the run's end {total_cycles}")
        spans[(last.layer_id, oc[last.op], pc[last.phase])] += tail
    return dict(spans)


def dram_floors(plan, ideal_memory: bool) -> dict[tuple[int, int, int], tuple[int, int, bool]]:
    """Per (layer_id, op code, phase code): (read bytes, write bytes, exact) the plan's tensor sizes
    require: whole tensors moved before the op (prefetches, spills), every streamed operand once (and
    the earlier sum of an accumulated output), the final write-back on the last op. ``exact`` when
    all the key's ops are vector ops, which move each streamed tensor exactly once."""
    pc, oc = schema.enum_codes(schema.PHASES), schema.enum_codes(schema.OPS)
    floors: dict[tuple[int, int, int], list] = {}
    for p in plan.ops:
        op = p.op
        key = (op.layer_id, oc[op.op], pc[op.phase])
        f = floors.setdefault(key, [0, 0, True])
        for x in p.pre:
            f[1 if x.to_dram else 0] += x.nbytes
        if not ideal_memory:
            for o in op.reads:
                if not p.resident.get(o.tensor, False):
                    f[0] += o.nbytes
            for o in op.writes:
                if not p.resident.get(o.tensor, False):
                    f[1] += o.nbytes
                    if o.accumulate:
                        f[0] += o.nbytes
        f[2] = f[2] and op.gemm is None
    if plan.ops and plan.post:
        last = plan.ops[-1].op
        f = floors[(last.layer_id, oc[last.op], pc[last.phase])]
        f[1] += sum(x.nbytes for x in plan.post if x.to_dram)
        f[0] += sum(x.nbytes for x in plan.post if not x.to_dram)
    return {k: (r, w, exact) for k, (r, w, exact) in floors.items()}


def check_bytes(layers: np.ndarray, traffic: np.ndarray, floors: dict, tally: TimelineTally | None) -> None:
    for col in ("dram_read_bytes", "dram_write_bytes"):
        if len(layers) and int(layers[col].min()) < 0:
            i = int(np.argmin(layers[col]))
            _fail(f"/layers {_row_name(layers[i])}: {col} = {int(layers[col][i])} is negative")
    for col in ("read_bytes", "write_bytes"):
        if len(traffic) and int(traffic[col].min()) < 0:
            _fail(f"/traffic: {col} = {int(traffic[col].min())} is negative")
    dram = traffic[traffic["memory"] == (b"dram" if traffic.dtype["memory"].kind == "S" else "dram")] \
        if len(traffic) else traffic
    by_layer: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in dram:
        t = by_layer[(int(r["layer_id"]), int(r["phase"]))]
        t[0] += int(r["read_bytes"])
        t[1] += int(r["write_bytes"])
    led: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in layers:
        key = (int(row["layer_id"]), int(row["op"]), int(row["phase"]))
        rb, wb = int(row["dram_read_bytes"]), int(row["dram_write_bytes"])
        t = led[(key[0], key[2])]
        t[0] += rb
        t[1] += wb
        floor_r, floor_w, exact = floors.get(key, (0, 0, False))
        for what, got, need in (("read", rb, floor_r), ("write", wb, floor_w)):
            if got < need or (exact and got != need):
                rel = "exactly" if exact else "at least"
                _fail(f"/layers {_row_name(row)}: DRAM {what} bytes {got} but the plan's tensors need {rel} {need}")
    for key in set(led) | set(by_layer):
        a, b = led.get(key, [0, 0]), by_layer.get(key, [0, 0])
        if a != b:
            _fail(f"layer_id {key[0]} {schema.PHASES[key[1]]}: /layers has DRAM read/write bytes {a[0]}/{a[1]}, "
                  f"/traffic {b[0]}/{b[1]}")
    if tally is not None:
        total_r = int(layers["dram_read_bytes"].sum()) if len(layers) else 0
        total_w = int(layers["dram_write_bytes"].sum()) if len(layers) else 0
        if (tally.read_bytes, tally.write_bytes) != (total_r, total_w):
            _fail(f"the timeline's DRAM transfers carry {tally.read_bytes}/{tally.write_bytes} read/write bytes, "
                  f"the ledger {total_r}/{total_w}")


def check_timeline(tally: TimelineTally, total_cycles: int) -> None:
    if tally.bad_rows:
        _fail(f"/timeline: {tally.bad_rows} rows end before they start")
    if tally.min_start < 0 or tally.max_end > total_cycles:
        _fail(f"/timeline spans cycles [{tally.min_start}, {tally.max_end}] outside the run's [0, {total_cycles}]")


def check_energy(layers: np.ndarray, energy: np.ndarray) -> None:
    for c in schema.ENERGY_COMPONENTS:
        col = layers[f"energy_{c}_pj"] if len(layers) else np.zeros(0)
        bad = ~np.isfinite(col) | (col < 0)
        if bad.any():
            i = int(np.argmax(bad))
            _fail(f"/layers {_row_name(layers[i])}: energy_{c}_pj = {float(col[i])!r} (must be finite and >= 0)")
    if len(energy):
        e = energy["energy_pj"]
        bad = ~np.isfinite(e) | (e < 0)
        if bad.any():
            i = int(np.argmax(bad))
            _fail(f"/energy row {i} ({schema.ENERGY_COMPONENTS[int(energy['component'][i])]}): energy_pj = "
                  f"{float(e[i])!r} (must be finite and >= 0)")
    for k, c in enumerate(schema.ENERGY_COMPONENTS):
        a = float(layers[f"energy_{c}_pj"].sum()) if len(layers) else 0.0
        b = float(energy["energy_pj"][energy["component"] == k].sum()) if len(energy) else 0.0
        if abs(a - b) > ENERGY_RTOL * max(abs(a), abs(b)) + 1e-9:
            _fail(f"{c} energy: /layers sums to {a!r} pJ, /energy to {b!r} pJ")


def check_errors(errors: np.ndarray) -> None:
    if not len(errors):
        return
    names = errors.dtype.names
    for col in [n for n in names if n.startswith("p_")] + ["switch_fraction"]:
        v = errors[col]
        bad = ~((v >= 0) & (v <= 1))  # NaN fails both
        if bad.any():
            i = int(np.argmax(bad))
            _fail(f"/errors row {i} (layer_id {int(errors['layer_id'][i])}, memory {_text(errors['memory'][i])}): "
                  f"{col} = {v[i].item()!r} is not a probability in [0, 1]")
    for col in ("mean_residence_ns", "bits_written", "bits_read"):
        v = errors[col]
        bad = ~np.isfinite(v) | (v < 0)
        if bad.any():
            i = int(np.argmax(bad))
            _fail(f"/errors row {i} (layer_id {int(errors['layer_id'][i])}): {col} = {v[i].item()!r} (must be finite and >= 0)")


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def check_run(result, plan, op_timing, tally: TimelineTally | None) -> None:
    """All invariants of a finished run (``result``: the `api.RunResult` before it is written)."""
    check_cycles(result.layers, result.total_cycles, op_spans(plan, op_timing, result.total_cycles))
    if tally is not None:
        check_timeline(tally, result.total_cycles)
    check_bytes(result.layers, result.traffic, dram_floors(plan, result.ideal_memory),
                tally if tally is not None and not result.ideal_memory else None)
    check_energy(result.layers, result.energy)
    check_errors(result.errors)

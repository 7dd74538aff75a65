"""Power gating of idle banks (``memories.<name>.power_gating: true``), from the memory's bank-busy time.

Banks are word-interleaved and act as one group (`components.scratchpad`), so a memory is gated as a
whole, in the gaps between its busy intervals. The accelerator is statically scheduled: the controller
knows each reservation in advance and starts a wake-up ``W`` (wake latency, whole cycles) before it, so
gating adds no cycles. A gap of G cycles is gated when gating saves energy: (G - W) x leakage per cycle
> wake energy, i.e. G >= ``min_gap`` = W + floor(wake energy / leakage per cycle) + 1 (W plus the
break-even time). A gated gap [g0, g1) is ``power_gated`` over [g0, g1 - W) (no leakage) and
``wake_up`` over [g1 - W, g1) (leakage paid, plus the wake energy once); shorter gaps and busy time
leak. A step starts with the memory awake (cycle 0 acts as the end of a busy interval) and must leave
it awake (the run's end acts as a reservation), so steps chain.

Decisions are exact integers, made as bank time becomes final: an interval that starts (or ends) at
or before the current cycle can no longer change, since no request starts earlier. A gap that is
already ``min_gap`` long is gated whatever comes next, so its cycles up to now - W are decided as time
passes (the tracker's state then repeats, and fast-forward can skip periods of an idle memory).
Gated cycles and wake-ups are counted per op (by the reported cycle they fall in); the leakage of a
gated memory is booked at the run's end: (op cycles - gated cycles) x leakage + wake-ups x wake energy.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right

import numpy as np

from simulator import schema
from simulator.config import ns_to_cycles

GATED, WAKE = 0, 1
STALL_OF = {GATED: schema.GATING_STATES[0], WAKE: schema.GATING_STATES[1]}


class GateTracker:
    """One gated memory: the open gap, its decided part, and per-op counters."""

    def __init__(self, mem, clock_ghz: float, owner: "PowerGating"):
        self.mem = mem
        self.owner = owner
        self.wake_cycles = max(1, ns_to_cycles(mem.wake_latency_ns, clock_ghz))
        leak_pj_per_cycle = mem.leakage_mw / clock_ghz
        self.break_even_cycles = (int(mem.wake_energy_pj // leak_pj_per_cycle) if leak_pj_per_cycle > 0
                                  else 1 << 62)
        self.min_gap = self.wake_cycles + self.break_even_cycles + 1
        self.g0: int | None = 0  # reported start of the open gap; None while the banks are busy
        self.decided = 0  # cycles of the open gap before this are decided (gated)
        self.gated_cycles = 0
        self.wake_ups = 0
        self.per_op: dict[int, list[int]] = {}  # op index -> [gated cycles, wake-ups]
        self.keep = owner.keep_rows
        self.pieces = (array("q"), array("q"), array("b"))  # start, end, kind: the timeline's stretches

    # events, in reported cycles -----------------------------------------------------------------
    def _piece(self, a: int, b: int, kind: int) -> None:
        if b <= a:
            return
        if kind == GATED:
            self.gated_cycles += b - a
            for idx, n in self.owner.split(a, b):
                self.per_op.setdefault(idx, [0, 0])[0] += n
        else:
            self.wake_ups += 1
            self.per_op.setdefault(self.owner.op_at(a), [0, 0])[1] += 1
        if self.keep:
            self.pieces[0].append(a)
            self.pieces[1].append(b)
            self.pieces[2].append(kind)

    def close(self, a: int) -> None:
        """The banks become busy at ``a``: the open gap [g0, a) is final."""
        if self.g0 is None:
            return
        if a - self.g0 >= self.min_gap:
            self._piece(self.decided, a - self.wake_cycles, GATED)
            self._piece(a - self.wake_cycles, a, WAKE)
        self.g0 = None

    def open(self, b: int) -> None:
        self.g0 = self.decided = b

    def advance(self, now: int) -> None:
        """Decide the open gap up to ``now`` - W once it is long enough to be gated whatever follows."""
        if self.g0 is not None and now - self.g0 >= self.min_gap and now - self.wake_cycles > self.decided:
            self._piece(self.decided, now - self.wake_cycles, GATED)
            self.decided = now - self.wake_cycles

    def flush(self, busy: list, now: int) -> None:
        """Take the final part of the scratchpad's ``busy`` intervals (SimPy cycles) at SimPy cycle
        ``now``: intervals that ended are removed from ``busy`` (the engine's offset converts to reported
        cycles: after a fast-forward skip the SimPy state stands for the state k periods later)."""
        offset = self.owner.engine.offset
        n = 0
        while n < len(busy) and busy[n][1] <= now:
            a, b = busy[n]
            self.close(a + offset)
            self.open(b + offset)
            n += 1
        if n:
            del busy[:n]
        if busy and busy[0][0] <= now:
            self.close(busy[0][0] + offset)
        self.advance(now + offset)

    def state(self, now: int) -> tuple:
        """The tracker's state relative to reported cycle ``now`` (after a flush), for fast-forward."""
        if self.g0 is None:
            return ("busy",)
        if now - self.g0 >= self.min_gap:
            return ("gated",)
        return ("idle", now - self.g0)


class PowerGating:
    """The gated memories of one run (none: every hook is a no-op)."""

    def __init__(self, engine, ideal: bool):
        self.engine = engine
        self.keep_rows = engine.tracer.keeps_rows
        self.op_starts: list[int] = []  # reported start cycle of each op (the post-phase's moves too)
        self.op_rows: list = []
        mems = [] if ideal else [m for m in engine.cfg.memories.values() if m.power_gating]
        self.trackers = {m.name: GateTracker(m, engine.cfg.clock_ghz, self) for m in mems}
        for name, t in self.trackers.items():
            engine.spm[name].gate = t
        engine.ledger.gated_memories = set(self.trackers)
        self.max_gap = max((t.min_gap for t in self.trackers.values()), default=0)

    # ops --------------------------------------------------------------------------------------
    def begin_op(self, row, t: int) -> None:
        if self.trackers:
            self.op_starts.append(t)
            self.op_rows.append(row)

    def op_at(self, t: int) -> int:
        return max(bisect_right(self.op_starts, t) - 1, 0)

    def split(self, a: int, b: int):
        """(op index, cycles) of reported stretch [a, b) by the ops it falls in."""
        i = self.op_at(a)
        starts = self.op_starts
        while a < b:
            end = starts[i + 1] if i + 1 < len(starts) else b
            stop = min(b, end)
            if stop > a:
                yield i, stop - a
            a = stop
            i += 1

    # fast-forward -----------------------------------------------------------------------------
    def flush_all(self) -> None:
        eng = self.engine
        now = int(eng.env.now)
        for name, t in self.trackers.items():
            t.flush(eng.spm[name].busy, now)

    def key(self) -> tuple:
        """What must repeat, besides the engine's signature, for a period to be copied exactly: each
        tracker's state and, near the op's start, the distance to it (a copied gap must not reach back
        into the previous op)."""
        if not self.trackers:
            return ()
        self.flush_all()
        now = self.engine.now()
        since = now - self.op_starts[-1]
        return tuple(t.state(now) for t in self.trackers.values()) + (since if since < self.max_gap else -1,)

    def snapshot(self) -> tuple:
        return tuple((t.gated_cycles, t.wake_ups, len(t.pieces[0])) for t in self.trackers.values())

    def repeat(self, prev: tuple, snap: tuple, k: int, delta: int) -> None:
        """k more periods like the one from ``prev`` to ``snap`` (`Snapshot.gating`), ``delta`` cycles each."""
        op = len(self.op_starts) - 1
        for t, (g_a, w_a, n_a), (g_b, w_b, n_b) in zip(self.trackers.values(), prev, snap):
            c = t.per_op.setdefault(op, [0, 0])
            c[0] += k * (g_b - g_a)
            c[1] += k * (w_b - w_a)
            t.gated_cycles += k * (g_b - g_a)
            t.wake_ups += k * (w_b - w_a)
            if t.g0 is not None:
                t.g0 += k * delta
                t.decided += k * delta
            if t.keep and n_b > n_a:
                shift = np.repeat(np.arange(1, k + 1, dtype=np.int64) * delta, n_b - n_a)
                for col, arr in enumerate(t.pieces):
                    block = np.tile(np.frombuffer(arr, dtype=arr.typecode)[n_a:n_b], k)
                    arr.frombytes((block + shift if col < 2 else block).astype(block.dtype).tobytes())

    # the run's end ----------------------------------------------------------------------------
    def finish(self, ledger) -> None:
        """Close every open gap at the run's end, book the gated memories' leakage per op and put
        the gated stretches on the timeline."""
        if not self.trackers:
            return
        self.flush_all()
        end = self.engine.now()
        spans = self.op_starts[1:] + [end]
        for t in self.trackers.values():
            t.close(end)
            mem = t.mem
            for i, row in enumerate(self.op_rows):
                gated, wakes = t.per_op.get(i, (0, 0))
                cycles = spans[i] - self.op_starts[i] - gated
                ledger.gated_leakage(row, mem, cycles, wakes)
        if self.keep_rows:
            self._timeline(end)

    def totals(self) -> dict:
        """Per gated memory: gated cycles, wake-ups, wake latency (cycles) and the smallest gap gated."""
        return {name: {"gated_cycles": t.gated_cycles, "wake_ups": t.wake_ups, "wake_cycles": t.wake_cycles,
                       "min_gap_cycles": t.min_gap} for name, t in self.trackers.items()}

    def _timeline(self, end: int) -> None:
        from simulator.timeline import _ROW_DTYPE

        units = self.engine.tracer.units
        starts = np.asarray(self.op_starts, dtype=np.int64)
        info = np.array([(r.layer_id, schema.PHASES.index(r.phase), schema.OPS.index(r.op)) for r in self.op_rows],
                        dtype=np.int64).reshape(-1, 3)
        stall_code = schema.enum_codes(schema.TIMELINE_STALLS)
        for name, t in self.trackers.items():
            a, b, kind = (np.frombuffer(x, dtype=x.typecode).astype(np.int64) for x in t.pieces)
            if not len(a):
                continue
            order = np.lexsort((a, kind))
            a, b, kind = a[order], b[order], kind[order]
            # one stretch per gated gap: merge pieces that touch, then cut at op boundaries
            new = np.ones(len(a), dtype=bool)
            new[1:] = (a[1:] != b[:-1]) | (kind[1:] != kind[:-1])
            first = np.flatnonzero(new)
            a, kind = a[first], kind[first]
            b = np.maximum.reduceat(b, first)
            cuts = starts[1:]
            lo_op = np.searchsorted(starts, a, side="right") - 1
            hi_op = np.searchsorted(starts, b - 1, side="right") - 1
            reps = hi_op - lo_op + 1
            idx = np.repeat(np.arange(len(a)), reps)
            op = lo_op[idx] + (np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps))
            s = np.maximum(a[idx], starts[op])
            e = np.minimum(b[idx], np.append(cuts, end)[op])
            rows = np.zeros(len(idx), dtype=_ROW_DTYPE)
            rows["t_start_cycles"], rows["t_end_cycles"] = s, e
            rows["hw_unit"] = units[name]
            rows["layer_id"], rows["phase"], rows["op"] = info[op, 0], info[op, 1], info[op, 2]
            rows["tensor_class"] = schema.TENSOR_CLASSES.index("none")
            rows["dram_addr"] = -1
            rows["stall"] = np.where(kind[idx] == GATED, stall_code[STALL_OF[GATED]], stall_code[STALL_OF[WAKE]])
            order = np.lexsort((rows["stall"], rows["t_start_cycles"]))
            self.engine.tracer.extend(rows[order])

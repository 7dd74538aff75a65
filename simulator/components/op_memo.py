"""Whole-op replay for the fast-forward: an op that equals one simulated earlier is not simulated.

An op's timing depends only on what it moves and computes where (its tiles, operands and staging,
with tensor names replaced by their order of appearance) and on the state its streams start from:
the bank time each scratchpad still has reserved and the DRAM's next free cycle, relative to now
(the previous op's DMA streams have all finished when the next op starts). Two ops equal in both
evolve identically, shifted in time, so the second is replayed from the first's record: its stall
and access counts (integers), its busy-cycle deltas, its timeline rows shifted with numpy (layer id
set to the new op's, DRAM addresses moved from the recorded op's tensors to the new op's), and the
bank and DRAM state it leaves, relative to its end. Runs with power gating are not replayed (a gated
gap spans ops). Only ops up to ``OP_ROWS`` timeline rows are recorded, ``TOTAL_ROWS`` in all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from simulator.components.skip import add_delta, busy_counts, copy_counts

OP_ROWS = 1 << 16  # longest op, in timeline rows, that is recorded
TOTAL_ROWS = 1 << 21  # timeline rows all records hold (memory stays bounded)


@dataclass
class Probe:
    """An op about to run: its key, its tensors in order of appearance, and what the engine holds at its start."""

    key: tuple
    tensors: list[str]
    entry: "Entry | None"
    now: int = 0  # reported cycle
    mark: int = 0
    stalls: dict | None = None
    busy: tuple = ()


@dataclass
class Entry:
    start: int  # reported start cycle of the recorded op
    duration: int
    stalls: dict  # the op's stall deltas
    unit_access: dict
    dma_access: dict
    dram_access: dict
    busy: tuple  # busy-cycle deltas of each scratchpad, then of the DRAM
    end_state: tuple  # `_state` at its end
    rows: np.ndarray
    bases: np.ndarray  # DRAM base of each of its tensors, ascending
    order: np.ndarray  # tensor index of each base


def _state(engine) -> tuple:
    """Bank time each scratchpad still has reserved and the DRAM's next free cycle, relative to now."""
    now = int(engine.env.now)
    banks = tuple(tuple((max(a, now) - now, b - now) for a, b in s.busy if b > now) for s in engine.spm.values())
    return banks, max(engine.dram.next_free - now, 0)


def _work(p, dram_addr: dict) -> tuple[tuple, list[str]]:
    """What an op does, with its tensors named by order of appearance; and those tensors."""
    names: dict[str, int] = {}
    op = p.op
    operands = tuple((names.setdefault(o.tensor, len(names)), o.tclass, o.nbytes, o.accumulate,
                      bool(p.resident.get(o.tensor))) for o in op.reads + op.writes)
    pre = tuple((names.setdefault(x.tensor, len(names)), x.tclass, x.memory, x.nbytes, x.to_dram,
                 x.dram_addr - dram_addr[x.tensor]) for x in p.pre)
    return (op.op, op.phase, op.gemm, op.vector_elem_ops, operands, pre, p.tiles.memo_key()), list(names)


class OpMemo:
    def __init__(self, engine):
        self.engine = engine
        self.entries: dict[tuple, Entry] = {}
        self.rows_kept = 0
        self.replayed = 0  # ops replayed (for tests and benchmarks)
        # how many ops still to run do each work: an op whose work no later op repeats is not recorded
        self.work = {id(p): _work(p, engine.plan.dram_addr) for p in engine.plan.ops if hasattr(p.tiles, "memo_key")}
        self.ahead = Counter(w for w, _ in self.work.values())

    def probe(self, p, row) -> Probe | None:
        """The op's probe, or None if it can neither be replayed nor be worth recording."""
        eng = self.engine
        found = self.work.get(id(p))
        if found is None or eng.gating.trackers:
            return None
        work, names = found
        self.ahead[work] -= 1
        now = eng.env.now
        if any(t > now for t, *_ in eng.env._queue):  # a stream of the previous op still running
            return None
        key = (work, _state(eng))
        pr = Probe(key, names, self.entries.get(key))
        if pr.entry is None and not self.ahead[work]:
            return None
        if pr.entry is None:
            pr.now, pr.mark, pr.stalls, pr.busy = eng.now(), eng.tracer.mark(), dict(row.stalls), busy_counts(eng)
        return pr

    def record(self, pr: Probe, row) -> None:
        """At the end of the simulated op (its accesses not yet booked): keep it if it fits."""
        eng = self.engine
        n_rows = eng.tracer.mark() - pr.mark
        if n_rows > OP_ROWS or self.rows_kept + n_rows > TOTAL_ROWS:
            return
        rows = eng.tracer.since(pr.mark, copy=True)
        addr = eng.plan.dram_addr
        base = np.array([addr[t] for t in pr.tensors], dtype=np.int64)
        order = np.argsort(base, kind="stable")
        bases = base[order]
        a = rows["dram_addr"]
        a = a[a >= 0]
        if a.size:  # every address must lie in one of the op's tensors
            i = np.searchsorted(bases, a, side="right") - 1
            size = np.array([max(eng.plan.tensor_bytes.get(pr.tensors[j], 1), 1) for j in order], dtype=np.int64)
            if (i < 0).any() or (a >= bases[np.maximum(i, 0)] + size[np.maximum(i, 0)]).any():
                return
        stalls = {k: v - pr.stalls.get(k, 0) for k, v in row.stalls.items() if v != pr.stalls.get(k, 0)}
        busy = tuple(b - a for a, b in zip(pr.busy, busy_counts(eng)))
        self.entries[pr.key] = Entry(pr.now, eng.now() - pr.now, stalls, copy_counts(eng._unit_access),
                                     copy_counts(eng._dma_access), copy_counts(eng._dram_access), busy,
                                     _state(eng), rows, bases, order)
        self.rows_kept += n_rows

    def replay(self, pr: Probe, row, tiles: int) -> None:
        """Account for the op as its record did, shifted to now; the engine books its accesses next."""
        eng = self.engine
        e = pr.entry
        eng.ledger.add_stalls(row, e.stalls)
        for mine, theirs in ((eng._unit_access, e.unit_access), (eng._dma_access, e.dma_access),
                             (eng._dram_access, e.dram_access)):
            add_delta(mine, theirs, {}, 1)
        for s, d in zip(eng.spm.values(), e.busy):
            s.busy_cycles += d
        eng.dram.busy_cycles += e.busy[-1]
        if len(e.rows) and eng.tracer.keeps_rows:
            out = e.rows.copy()
            shift = eng.now() - e.start
            out["t_start_cycles"] += shift
            out["t_end_cycles"] += shift
            out["layer_id"] = row.layer_id
            addr = out["dram_addr"]
            has = addr >= 0
            if has.any():
                new_base = np.array([eng.plan.dram_addr[pr.tensors[j]] for j in e.order], dtype=np.int64)
                i = np.searchsorted(e.bases, addr[has], side="right") - 1
                addr[has] += (new_base - e.bases)[i]
            eng.tracer.extend(out)
        now = int(eng.env.now)
        banks, dram_next = e.end_state
        for s, rel in zip(eng.spm.values(), banks):
            s.busy = [(now + a, now + b) for a, b in rel]
        if dram_next:
            eng.dram.next_free = now + dram_next
        eng.offset += e.duration
        eng.skipped_tiles += tiles
        self.replayed += 1

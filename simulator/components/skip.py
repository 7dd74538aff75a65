"""Fast-forward over k periods of tiles: the ledger deltas of the last period times k (integers), and
the period's timeline rows copied k times with numpy (cycles shifted, DRAM addresses of the tiles
the copies stand for)."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 1 << 18  # copied timeline rows made at a time (memory stays bounded)
MAX_COPY_REFS = 256  # address rows of copies remembered for longer periods


@dataclass
class Snapshot:
    """What the engine has accumulated at the top of a tile (for the delta of one period)."""

    tile: int  # physical tile index
    now: int  # reported cycle
    mark: int
    stalls: dict
    unit_access: dict
    dma_access: dict
    dram_access: dict
    events: int
    busy: tuple
    gating: tuple = ()  # simulator.power_gating.PowerGating.snapshot

    @classmethod
    def take(cls, engine, row, i: int) -> "Snapshot":
        return cls(i, engine.now(), engine.tracer.mark(), dict(row.stalls),
                   copy_counts(engine._unit_access), copy_counts(engine._dma_access),
                   copy_counts(engine._dram_access), engine.events, busy_counts(engine), engine.gating.snapshot())


def copy_counts(acc: dict) -> dict:
    """A copy of one of the engine's access accumulators (key -> list of integer counts)."""
    return {k: v[:] for k, v in acc.items()}


def busy_counts(engine) -> tuple:
    """Busy cycles of every scratchpad, then of the DRAM."""
    return tuple(s.busy_cycles for s in engine.spm.values()) + (engine.dram.busy_cycles,)


def add_delta(acc: dict, now: dict, before: dict, k: int) -> None:
    """Add k times the counts ``now`` has over ``before`` to the accumulator ``acc``."""
    for key, vals in now.items():
        old = before.get(key)
        cur = acc.setdefault(key, [0] * len(vals))
        for n in range(len(vals)):
            cur[n] += k * (vals[n] - (old[n] if old else 0))


def copy_period(engine, row, prev: Snapshot, snap: Snapshot, k: int, period: int, tiles) -> None:
    """Account for k more periods identical to the one from ``prev`` to ``snap`` (taken now)."""
    delta = snap.now - prev.now
    for s, v in snap.stalls.items():
        row.stalls[s] += k * (v - prev.stalls[s])
    add_delta(engine._unit_access, snap.unit_access, prev.unit_access, k)
    add_delta(engine._dma_access, snap.dma_access, prev.dma_access, k)
    add_delta(engine._dram_access, snap.dram_access, prev.dram_access, k)
    for s, (a, b) in zip(engine.spm.values(), zip(snap.busy, prev.busy)):
        s.busy_cycles += k * (a - b)
    engine.dram.busy_cycles += k * (snap.busy[-1] - prev.busy[-1])
    engine.gating.repeat(prev.gating, snap.gating, k, delta)

    rows = engine.tracer.since(prev.mark)
    n = len(rows)
    if n:
        all_refs = engine._refs  # in row order
        refs = all_refs[bisect_left(all_refs, (prev.mark,)):bisect_left(all_refs, (snap.mark,))]
        base = engine.tracer.mark() - prev.mark
        keep_refs = k * len(refs) <= MAX_COPY_REFS
        per_block = max(1, BLOCK_ROWS // n)
        dma = engine.tracer.units["dma"]
        for m0 in range(1, k + 1, per_block):
            ms = np.arange(m0, min(k, m0 + per_block - 1) + 1, dtype=np.int64)
            out = np.tile(rows, len(ms))
            grid = out.reshape(len(ms), n)  # copy m of the period is row m - m0 (a view of out)
            shift = (ms * delta)[:, None]
            grid["t_start_cycles"] += shift
            grid["t_end_cycles"] += shift
            addr, slot = grid["dram_addr"], grid["slot"]
            flip = (ms * period & 1).astype(slot.dtype) if period % 2 else None
            for a, b, tile, kind, x in refs:
                vals = _addresses(tiles, tile, kind, x, tile + ms * period)
                for r in range(a - prev.mark, b - prev.mark):
                    addr[:, r] = vals
                    if flip is not None and rows["hw_unit"][r] == dma:  # a tile's DMA slot follows its parity
                        slot[:, r] ^= flip
            engine.tracer.extend(out)
        if keep_refs:  # the copies' own address rows, for a longer period found later
            for m in range(1, k + 1):
                off = base + (m - 1) * n
                engine._refs.extend((a + off, b + off, tile + m * period, kind, x) for a, b, tile, kind, x in refs)
        else:  # too many to keep: no later period may start before the copies
            engine._refs.clear()
            engine.template_floor = engine.tracer.mark()
    engine.offset += k * delta


def _addresses(tiles, tile: int, kind: int, x: int, phys: np.ndarray) -> np.ndarray:
    """DRAM address of transfer x (kind 0: load, 1: writeback) of the tiles ``phys``, which equal
    ``tile`` but for their addresses: from the loop structure if the tiles are lazy."""
    if hasattr(tiles, "addresses"):
        return tiles.addresses(tile, kind, x, phys)
    return np.fromiter(((tiles[p].loads if kind == 0 else tiles[p].writebacks)[x].dram_addr for p in phys.tolist()),
                       dtype=np.int64, count=len(phys))

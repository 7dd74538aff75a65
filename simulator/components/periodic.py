"""Steady-state detection for the engine's fast-forward: the state of an op's streams, relative to now.

At the top of the compute loop, before tile i, the future of an op depends only on: the SimPy event
queue (each event tagged by the engine with its role, the tile it belongs to and the absolute cycles
its process will use), the two slot containers, the ready events the compute loop has not consumed,
the bank time every scratchpad still has reserved and the DRAM channels' next-free cycle. Written
relative to now and to i, that is a signature: when the signature at tile i equals the one at tile
i - P and the tiles' own descriptors repeat with period P, the next periods are exact shifted copies
of the last one (the engine is deterministic and time-invariant), so they need not be simulated.
"""

from __future__ import annotations

import numpy as np

SCAN_TILES = 1024
CHECKED_TILES = 2048  # ops up to this many tiles are checked once for any period that could be skipped
TAIL_GUARD_TILES = 4  # tiles left to the event engine at an op's end (the loops' exit differs)


def relative(tag: tuple, i: int, now: int) -> tuple:
    """An event tag ``(kind, tile, *cycles)`` with its tile relative to i and its cycles to now."""
    kind, j, *cycles = tag
    return (kind, j - i, *(c - now for c in cycles))


def signature(env, i: int, containers, ready: dict, spms, dram) -> tuple | None:
    """The op's state at the top of tile i, relative to now; None if an event has no tag (then the
    state cannot be proven periodic)."""
    now = int(env.now)
    queue = []
    for t, prio, _eid, ev in sorted(env._queue, key=lambda e: (e[0], e[1], e[2])):
        tag = getattr(ev, "ff_tag", None)
        if tag is None:
            return None
        queue.append((int(t) - now, prio, relative(tag, i, now)))
    slots = []
    for c in containers:
        waiting = []
        for g in c.get_queue:
            tag = getattr(g, "ff_tag", None)
            if tag is None:
                return None
            waiting.append(relative(tag, i, now))
        slots.append((c.level, tuple(waiting), len(c.put_queue)))
    pending = []
    for j in sorted(ready):
        ev = ready[j]
        if j < i:
            return None
        if ev.processed:
            pending.append((j - i, 1, ev.value[0] - now, ev.value[1] - now))
        elif ev.triggered:
            pending.append((j - i, 0))  # its values are in the queue entry's tag
    banks = tuple(tuple((max(a, now) - now, b - now) for a, b in s.busy if b > now) for s in spms)
    return (tuple(queue), tuple(slots), tuple(pending), banks, max(dram.next_free - now, 0))


def tile_ids(tiles) -> np.ndarray:
    """One integer per tile, equal for tiles the engine times identically (their DRAM addresses
    may differ): what the tile computes, what it reads and writes where, and what it moves. A lazy
    tile sequence (`simulator.emission`) computes them from its loop structure."""
    if hasattr(tiles, "ids"):
        return tiles.ids()
    ids: dict = {}
    out = np.empty(len(tiles), dtype=np.int64)
    for n, t in enumerate(tiles):
        key = (t.ideal_cycles, t.stream_cycles, tuple(t.spm_reads.items()), tuple(t.spm_writes.items()),
               tuple((x.nbytes, x.memory, x.tclass, x.to_dram) for x in t.loads),
               tuple((x.nbytes, x.memory, x.tclass, x.to_dram) for x in t.writebacks))
        out[n] = ids.setdefault(key, len(ids))
    return out


def periods_ahead(ids: np.ndarray, phys: int, period: int, runs: dict) -> int:
    """How many whole periods after physical tile ``phys`` can be skipped: every tile the skipped
    periods and the in-flight tiles touch (phys - 2 to phys + 1 + k * period) must equal the one a
    period earlier, and the op's last tiles stay with the event engine. ``runs``: the op's memo of
    checked stretches per period (tiles are compared once per period, not once per attempt)."""
    limit = len(ids) - TAIL_GUARD_TILES  # last tile a skipped period may touch, exclusive
    j = max(phys - 2, period)
    if j >= limit:
        return 0
    start, end = runs.get(period, (0, 0))  # tiles start .. end - 1 repeat at this period, tile end does not
    if not start <= j <= end:
        start = end = j
        if ids[j] != ids[j - period]:  # the usual miss, decided without scanning
            runs[period] = (start, end)
            return 0
        while end < limit:  # in windows: a mismatch is usually near
            stop = min(limit, end + SCAN_TILES)
            differ = np.flatnonzero(ids[end:stop] != ids[end - period:stop - period])
            if differ.size:
                end += int(differ[0])
                break
            end = stop
    runs[period] = (start, end)
    # tiles phys - 2 .. end - 1 repeat; the k periods touch up to phys + 1 + k * period
    if end < phys + 2:
        return 0
    k = (end - 1 - (phys + 1)) // period
    return max(k, 0)


def may_skip(ids: np.ndarray) -> bool:
    """False if no period of this op's tiles can ever be skipped, so the fast-forward need not watch
    it (ops of few tiles whose descriptors repeat only once). A skip of period P at physical tile t
    needs t >= P + 1, t + 2 + P <= len - TAIL_GUARD_TILES and at least P + 3 consecutive tiles equal
    to the ones P earlier (`periods_ahead`); longer ops are always watched."""
    n = len(ids)
    if n > CHECKED_TILES:
        return True
    limit = n - TAIL_GUARD_TILES
    for period in range(1, (limit - 3) // 2 + 1):
        same = ids[period:limit] == ids[:limit - period]
        breaks = np.flatnonzero(~same)
        longest = int(np.diff(breaks, prepend=-1, append=len(same)).max()) - 1
        if longest >= period + 2:
            return True
    return False

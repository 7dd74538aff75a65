"""The fast-forward's watch at the top of each tile: the op's state (`periodic.signature`) is looked up
among the states seen at earlier tiles; where it repeats a period ago and the tiles repeat too, whole
periods are skipped (`skip.copy_period`)."""

from __future__ import annotations

from simulator.components.periodic import TAIL_GUARD_TILES, may_skip, periods_ahead, signature, tile_ids
from simulator.components.skip import Snapshot, copy_period

HISTORY_STATES = 256  # distinct op states the fast-forward remembers
PERIODS_TRIED = 64  # earlier visits of one state tried as the start of a period (the tiles' own period
# may be a multiple of the state's)
SHORT_PERIOD = 256  # periods up to this many tiles are checked tile by tile before the scan
MAX_TEMPLATE_ROWS = 1 << 18  # longest period, in timeline rows, that is copied


def fast_forward(engine, st, i: int, row, containers) -> None:
    """At the top of tile i: skip whole periods if the state repeats one seen a period ago. The
    history spans earlier skips (all its figures are in reported cycles and physical tiles), so a
    period that contains skipped inner periods is found too."""
    if st.n - i <= TAIL_GUARD_TILES + 2:  # too near the op's end for a period to fit
        return
    if st.ids is None:
        st.ids = tile_ids(st.plan.tiles)
        st.id_list = st.ids.tolist()  # for scalar checks, much cheaper than numpy's
        st.watched = may_skip(st.ids)
    if not st.watched:
        return
    sig = signature(engine.env, i, containers, st.ready, engine.spm.values(), engine.dram)
    if sig is None:
        return
    key = (sig, engine.gating.key())
    snap = Snapshot.take(engine, row, i + st.shift)
    seen = st.history.get(key)
    if seen is None:
        if len(st.history) >= HISTORY_STATES:
            st.history.pop(next(iter(st.history)))
            oldest = min(s.mark for snaps in st.history.values() for s in snaps)
            engine._refs = [r for r in engine._refs if r[0] >= oldest]
        seen = st.history[key] = []
    ids, id_list, q = st.ids, st.id_list, snap.tile + 1
    limit = len(id_list) - TAIL_GUARD_TILES
    for prev in reversed(seen):
        if prev.mark < engine.template_floor or snap.mark - prev.mark > MAX_TEMPLATE_ROWS:
            continue
        period = snap.tile - prev.tile
        # one period is skipped only if tiles q and q + period (the last it touches) repeat
        far = q + period
        if far >= limit or id_list[q] != id_list[q - period] or id_list[far] != id_list[q]:
            continue
        lo = max(q - 3, period)  # and so must every tile from phys - 2 on (`periods_ahead`)
        if period <= SHORT_PERIOD and id_list[lo:far + 1] != id_list[lo - period:far + 1 - period]:
            continue
        k = periods_ahead(ids, snap.tile, period, st.runs)
        if k > 0:
            copy_period(engine, row, prev, snap, k, period, st.plan.tiles)
            st.shift += k * period
            st.n -= k * period
            engine.skipped_tiles += k * period
            snap = Snapshot.take(engine, row, i + st.shift)
            break
    seen.append(snap)
    if len(seen) > PERIODS_TRIED:
        del seen[0]

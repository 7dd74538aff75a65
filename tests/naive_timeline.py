"""An account of a run's op rows rebuilt from its timeline, independent of the ledger's stall parts."""

from __future__ import annotations

import numpy as np

from simulator import schema

STALL_COLS = [f"{s}_cycles" for s in schema.STALLS]


def assert_rows_match_the_timeline(res) -> None:
    """Each op row's cycles and stall parts (the ledger) equal the durations of its slices on the PE
    array or vector unit (the timeline, written from the slice times)."""
    tl = res.timeline
    tl = tl[np.isin(tl["hw_unit"], [res.hw_units.index("pe_array"), res.hw_units.index("vector")])]
    slices: dict = {}
    by_stall: dict = {}
    for r in tl:
        k = (int(r["layer_id"]), int(r["phase"]), int(r["op"]))
        d = int(r["t_end_cycles"]) - int(r["t_start_cycles"])
        slices[k] = slices.get(k, 0) + d
        by_stall[k, int(r["stall"])] = by_stall.get((k, int(r["stall"])), 0) + d
    rows: dict = {}
    for r in res.layers:
        k = (int(r["layer_id"]), int(r["phase"]), int(r["op"]))
        rows[k] = rows.get(k, 0) + np.array([r["total_cycles"]] + [r[c] for c in STALL_COLS], np.int64)
    assert {k: int(v[0]) for k, v in rows.items()} == {k: slices.get(k, 0) for k in rows}
    for s in ("spm_write", "spm_read", "bank_conflict", "dram"):
        code = schema.STALLS.index(s)
        assert {k: int(v[1 + code]) for k, v in rows.items()} == {k: by_stall.get((k, code), 0) for k in rows}, s

"""Invariants of the engine over random configs (hypothesis): exact stall accounting, units that
never do two things at once, DRAM bytes that agree between the ledger and the timeline."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import run, schema
from simulator.config import load_config
from tests.conftest import make_config
from tests.naive_timeline import assert_rows_match_the_timeline



@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.sampled_from([4, 8, 16]), cols=st.sampled_from([4, 8, 16]), dataflow=st.sampled_from(["ws", "is", "os"]),
       batch=st.integers(1, 4), act_kib=st.sampled_from([16, 64, 1024]), banks=st.sampled_from([1, 4, 16]),
       w_occ=st.sampled_from([1.0, 4.0, 11.0]), acc=st.booleans(),
       workload=st.sampled_from(["tiny_cnn", "tiny_resnet", "tiny_mlp"]))
def test_engine_invariants(tmp_path_factory, rows, cols, dataflow, batch, act_kib, banks, w_occ, acc, workload):
    folder = tmp_path_factory.mktemp("cfg")
    path = make_config(folder, array={"rows": rows, "cols": cols, "dataflow": dataflow}, training={"batch": batch},
                       memories={"spm_act": {"capacity_kib": act_kib, "banks": banks, "write_occupancy_ns": w_occ}},
                       accumulator="accumulator" if acc else None)
    res = run(load_config(path), workload, write=False)
    lay = res.layers
    assert_rows_match_the_timeline(res)  # ledger rows against the timeline, not their own sum
    assert int(lay["total_cycles"].sum()) == res.total_cycles
    for c in schema.ENERGY_COMPONENTS:
        assert (lay[f"energy_{c}_pj"] >= 0).all()

    tl = res.timeline
    for unit in ("pe_array", "vector"):
        rows_u = tl[tl["hw_unit"] == res.hw_units.index(unit)]
        order = np.argsort(rows_u["t_start_cycles"], kind="stable")
        starts, ends = rows_u["t_start_cycles"][order], rows_u["t_end_cycles"][order]
        assert (starts[1:] >= ends[:-1]).all(), f"{unit} does two things at once"
    # every cycle of the step is accounted to exactly one op row: busy + stall slices of the units
    unit_rows = tl[np.isin(tl["hw_unit"], [res.hw_units.index("pe_array"), res.hw_units.index("vector")])]
    assert int((unit_rows["t_end_cycles"] - unit_rows["t_start_cycles"]).sum()) == res.total_cycles

    dram = tl[tl["hw_unit"] == res.hw_units.index("dram")]
    assert int(dram["bytes"][dram["is_write"] == 1].sum()) == int(lay["dram_write_bytes"].sum())
    assert int(dram["bytes"][dram["is_write"] == 0].sum()) == int(lay["dram_read_bytes"].sum())

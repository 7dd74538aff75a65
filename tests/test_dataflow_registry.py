"""The dataflow registry: one definition serves the scalar fold arithmetic and the vectorised tiler;
a new dataflow is one entry; shared names are defined once."""

from __future__ import annotations

import numpy as np
import pytest

from models import mtj, names, pe
from models.technologies import stt_mram
from simulator import mapping, run, schema
from simulator.config import PLACED_CLASSES, load_config
from simulator.mapping import Dataflow, ideal_cycles, register_dataflow, tile_work
from tests.conftest import make_config
from workloads import phases


@pytest.mark.parametrize("df", ["ws", "is", "os"])
def test_vectorised_cycle_rule_equals_the_scalar_one(df):
    rng = np.random.default_rng(7)
    rows, cols = 8, 16
    mt, kt, nt, gt = (rng.integers(1, 300, 200) for _ in range(4))
    vec = ideal_cycles(df, rows, cols, mt.astype(np.float64), kt.astype(np.float64), nt.astype(np.float64),
                       count=gt.astype(np.float64))
    scalar = [tile_work(df, rows, cols, int(m), int(k), int(n)).ideal_cycles * int(g)
              for m, k, n, g in zip(mt, kt, nt, gt)]
    assert vec.tolist() == scalar


def test_fold_units_follow_the_contract():
    # CONTRACT: ws holds B (Sr = K on rows, Sc = N on cols, streams M); is holds A (Sr = K, Sc = M);
    # os holds Y (Sr = M, Sc = N, streams K). Units are per (M, K, N).
    assert mapping.dataflow("ws").unit(8, 16) == (1, 8, 16)
    assert mapping.dataflow("is").unit(8, 16) == (16, 8, 1)
    assert mapping.dataflow("os").unit(8, 16) == (8, 1, 16)


def test_contract_cycle_rule_per_entry():
    # folds = ceil(Sr/R) ceil(Sc/C); per fold 2R + C + T - 2 (ws, is) or R + C + T - 2 (os)
    m, k, n, r, c = 100, 70, 50, 8, 16
    assert ideal_cycles("ws", r, c, m, k, n) == 9 * 4 * (2 * r + c + m - 2)
    assert ideal_cycles("is", r, c, m, k, n) == 9 * 7 * (2 * r + c + n - 2)
    assert ideal_cycles("os", r, c, m, k, n) == 13 * 4 * (r + c + k - 2)


def test_a_new_dataflow_is_one_entry(tmp_path):
    # "ws_nopreload": weight stationary whose weights are loaded while the previous fold streams.
    entry = Dataflow("ws_nopreload", lambda m, k, n: (k, n, m), 0,
                     lambda mt, kt, nt, fr, fc: (mt * kt * fc, kt * nt, mt * nt * fr, mt * nt * (fr - 1)))
    register_dataflow(entry)
    try:
        with pytest.raises(ValueError):
            register_dataflow(entry)
        cfgs = {df: load_config(make_config(tmp_path, f"{df}.yaml", array={"dataflow": df}))
                for df in ("ws", "ws_nopreload")}
        res = {df: run(cfg, "tiny_mlp", phases=("fwd",), ideal_memory=True, write=False) for df, cfg in cfgs.items()}
        gemm = {df: r.layers[r.layers["op"] == schema.OPS.index("gemm")] for df, r in res.items()}
        folds = gemm["ws"]["fill_drain_cycles"] + gemm["ws"]["compute_cycles"]
        fewer = gemm["ws_nopreload"]["fill_drain_cycles"] + gemm["ws_nopreload"]["compute_cycles"]
        # no preload saves R = 8 cycles per fold and nothing else
        assert (gemm["ws"]["compute_cycles"] == gemm["ws_nopreload"]["compute_cycles"]).all()
        assert ((folds - fewer) % 8 == 0).all() and (folds > fewer).all()
    finally:
        del mapping.DATAFLOWS["ws_nopreload"]


def test_unknown_dataflow_lists_the_registry(tmp_path):
    from models.errors import UserError

    with pytest.raises(UserError, match=r"array\.dataflow = 'xs' \(accepted: os, ws, is\)"):
        load_config(make_config(tmp_path, array={"dataflow": "xs"}))


def test_shared_names_are_defined_once():
    assert schema.TENSOR_CLASSES is names.TENSOR_CLASSES and schema.PRECISIONS is names.PRECISIONS
    assert PLACED_CLASSES is names.PLACED_CLASSES and pe.PRECISIONS is names.PRECISIONS
    assert phases.BYTES_PER_ELEMENT is names.BYTES_PER_ELEMENT and schema.BYTES_PER_ELEMENT is names.BYTES_PER_ELEMENT
    assert mtj.DIRECTIONS is names.DIRECTIONS and stt_mram.DIRECTIONS is names.DIRECTIONS
    assert names.TENSOR_CLASSES[-1] == "none" and names.TENSOR_CLASSES[:-1] == names.PLACED_CLASSES

"""The tiler against a brute-force oracle (tests/naive_tiler.py) on small GEMMs."""

from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given, settings, strategies as st

from models.errors import UserError
from simulator.config import load_config
from simulator.mapping import dataflow
from simulator.plan import DIRECT
from simulator.tiling import choose_gemm_tiling, halvings, tile_sizes
from workloads.phases import GemmShape, Op, Operand

from tests import naive_tiler

MEMS = ("spm_act", "spm_weight", "accumulator")


@lru_cache(maxsize=None)
def _cfg(dataflow: str, rows: int, cols: int, acc_kib: int):
    return load_config(None, [f"array.dataflow={dataflow}", f"array.rows={rows}", f"array.cols={cols}",
                              f"memories.accumulator.capacity_kib={acc_kib}"])


case = st.fixed_dictionaries({
    "dataflow": st.sampled_from(("ws", "os", "is")),
    "rows": st.sampled_from((2, 4)), "cols": st.sampled_from((2, 4)),
    "M": st.integers(1, 9), "K": st.integers(1, 9), "N": st.integers(1, 9), "G": st.integers(1, 3),
    "streamed": st.tuples(st.booleans(), st.booleans(), st.booleans()),
    "mems": st.tuples(*[st.sampled_from(MEMS[:2] + (DIRECT,))] * 3),
    "staging": st.fixed_dictionaries({m: st.integers(0, 600) for m in MEMS}),
    "acc_kib": st.sampled_from((1, 64)),
})


def _setup(c):
    cfg = _cfg(c["dataflow"], c["rows"], c["cols"], c["acc_kib"])
    M, K, N, G = c["M"], c["K"], c["N"], c["G"]
    operands = (Operand("A", "activation", 2 * M * K * G), Operand("B", "weight", 2 * K * N * G),
                Operand("Y", "activation", 2 * M * N * G))
    op = Op("L", 0, "fwd", "gemm", operands[:2], operands[2:], GemmShape(M, K, N, G))
    return cfg, op, operands, (M, K, N, G)


def _tiler(c, cfg, op, operands, dims):
    return choose_gemm_tiling(cfg, c["staging"], op, operands, c["streamed"], c["mems"], *dims)


@settings(max_examples=120, deadline=None)
@given(case)
def test_tiler_picks_the_oracles_best_among_its_candidates(c):
    cfg, op, operands, dims = _setup(c)
    M, K, N, G = dims
    unit = dataflow(cfg.array.dataflow).unit(cfg.array.rows, cfg.array.cols)
    sizes = [tile_sizes(d, u).tolist() for d, u in zip((M, K, N), unit)] + [halvings(G).tolist()]
    cands = naive_tiler.candidates(cfg, c["staging"], operands, c["streamed"], c["mems"], *dims, sizes=sizes)
    if not cands:
        with pytest.raises(UserError, match="staging buffer"):
            _tiler(c, cfg, op, operands, dims)
        return
    mt, kt, nt, gt, order = _tiler(c, cfg, op, operands, dims)
    want = naive_tiler.best(cands)
    got = [x for x in cands if x[5] == (mt, kt, nt, gt) and x[4] == order]
    assert got, f"tiler chose {(mt, kt, nt, gt, order)}, which does not fit by the oracle"
    assert got[0][0] == pytest.approx(want[0], rel=1e-9, abs=1e-6)  # DRAM traffic by walking the loops
    assert got[0][1:4] == want[1:4]  # then cycles, partial-sum spill, tile count


@settings(max_examples=50, deadline=None)
@given(case)
def test_no_tile_size_has_less_traffic_than_the_tilers_choice(c):
    """Brute force over every integer tile size no smaller than the array side the dataflow folds the
    dimension over (or the whole dimension): the tiler's grid (halvings, multiples of that side)
    reaches the least DRAM traffic any fitting tiling has, and fails only when none fits."""
    cfg, op, operands, dims = _setup(c)
    unit = dataflow(cfg.array.dataflow).unit(cfg.array.rows, cfg.array.cols) + (1,)
    sizes = [[t for t in range(1, d + 1) if t >= u or t == d] for d, u in zip(dims, unit)]
    cands = naive_tiler.candidates(cfg, c["staging"], operands, c["streamed"], c["mems"], *dims, sizes=sizes)
    try:
        mt, kt, nt, gt, order = _tiler(c, cfg, op, operands, dims)
    except UserError:
        assert not cands
        return
    mine = naive_tiler.walk_traffic(operands[0].nbytes, operands[1].nbytes, c["streamed"][0], c["streamed"][1],
                                    *dims, mt, kt, nt, gt, order)
    assert mine == pytest.approx(naive_tiler.best(cands)[0], rel=1e-9, abs=1e-6)


def test_a_larger_staging_buffer_does_not_buy_traffic_with_a_much_slower_tiling():
    """VGG-16 on the datacenter LSTP presets: the iso-area MRAM's larger staging buffers once let the
    weight-gradient GEMMs of features.19/21 take 36-row tiles (16% less traffic, 64x the fill and
    drain, 1.40x the step's cycles). Bounded by the fastest tiling's estimate, the step runs as fast
    as on SRAM and moves no more DRAM bytes than it."""
    from simulator import run
    from simulator.config import REPO_ROOT

    lstp = [f"memories.{m}.sram_flavor=lstp" for m in ("spm_act", "spm_weight", "accumulator")]
    sram = load_config(REPO_ROOT / "configs" / "datacenter.yaml", ["training.batch=32"] + lstp)
    mram = load_config(REPO_ROOT / "configs" / "datacenter_mram_iso_area.yaml",
                       ["training.batch=32", "memories.accumulator.sram_flavor=lstp"]
                       + [f"memories.{m}.periphery_flavor=lstp" for m in ("spm_act", "spm_weight")]
                       + [f"memories.{m}.iso_area_with.sram_flavor=lstp" for m in ("spm_act", "spm_weight")])
    assert mram.memories["spm_act"].capacity_bytes > 1.5 * sram.memories["spm_act"].capacity_bytes
    a, b = (run(c, "vgg16", write=False, timeline=False) for c in (sram, mram))
    assert b.total_cycles < 1.02 * a.total_cycles
    assert b.layers["fill_drain_cycles"].sum() <= 1.02 * a.layers["fill_drain_cycles"].sum()
    dram = lambda r: int(r.layers["dram_read_bytes"].sum() + r.layers["dram_write_bytes"].sum())  # noqa: E731
    assert dram(b) <= dram(a)

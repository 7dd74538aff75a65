"""The lazy tile sequences of `simulator.emission` against the per-tile emission they replaced
(`tests.oracle_emission`): the same tiles element by element, in order (dict insertion order
included), ids that tell tiles apart exactly as the old hashed descriptors did, and the same DRAM
addresses from the vectorised address rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulator import placement
from simulator.components.periodic import tile_ids
from simulator.components.skip import _addresses
from simulator.config import load_config
from simulator.dram_layout import DramLayout, box_bytes, box_bytes_np
from simulator.emission import emit_gemm_tiles, emit_vector_chunks
from simulator.placement import OpPlan, Planner
from simulator.workload_source import resolve
from tests.oracle_emission import oracle_gemm_tiles, oracle_vector_chunks
from workloads.phases import GemmShape, Op, Operand, expand


def _tile_fields(t) -> tuple:
    return (t.loads, t.writebacks, list(t.spm_reads.items()), list(t.spm_writes.items()), t.ideal_cycles,
            t.stream_cycles, t.per_memory)


def _check_same(lazy, old: list) -> None:
    assert len(lazy) == len(old)
    for j, t in enumerate(old):
        assert _tile_fields(lazy[j]) == _tile_fields(t), j
    with pytest.raises(IndexError):
        lazy[len(old)]
    # tiles with one id have one hashed descriptor (the ids refine the descriptors' partition; they may
    # be finer where two tiles of different positions happen to have equal descriptors, which costs
    # fast-forward a period, never exactness)
    new_ids, old_ids = tile_ids(lazy), tile_ids(old)
    pairs = set(zip(new_ids.tolist(), old_ids.tolist()))
    assert len(pairs) == len(set(new_ids.tolist()))
    for j, t in enumerate(old[:64]):
        phys = np.arange(j, len(old), 1 + len(old) // 50, dtype=np.int64)
        phys = phys[new_ids[phys] == new_ids[j]]
        for kind, xs in ((0, t.loads), (1, t.writebacks)):
            for x in range(len(xs)):
                want = [(old[p].loads if kind == 0 else old[p].writebacks)[x].dram_addr for p in phys.tolist()]
                assert _addresses(lazy, j, kind, x, phys).tolist() == want


def _gemm_op(m, k, n, g, bytes_a, bytes_b, bytes_y, acc) -> Op:
    return Op("l", 0, "fwd", "gemm", (Operand("a", "activation", bytes_a), Operand("b", "weight", bytes_b)),
              (Operand("y", "activation", bytes_y, acc),), GemmShape(m, k, n, g))


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), k=st.integers(1, 40), n=st.integers(1, 40), g=st.integers(1, 5),
       frac=st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7)), pad=st.integers(0, 3),
       tiling=st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.integers(1, 5)),
       order=st.sampled_from(["mn", "nm"]), streamed=st.tuples(st.booleans(), st.booleans(), st.booleans()),
       acc=st.booleans(), accumulator=st.booleans(), direct=st.booleans())
@example(m=1, k=34, n=3, g=1, frac=(1, 1, 1), pad=0, tiling=(1, 4, 2, 1), order="mn",
         streamed=(False, False, False), acc=False, accumulator=False, direct=False)  # equal descriptors by chance
def test_gemm_tiles_equal_oracle(m, k, n, g, frac, pad, tiling, order, streamed, acc, accumulator, direct):
    """Random shapes and tilings, tensors whose bytes do not divide over their elements included."""
    cfg = load_config(None, [] if accumulator else ["accumulator=null"])
    op = _gemm_op(m, k, n, g, g * m * k * frac[0] // 2 + pad, g * k * n * frac[1] // 2, g * m * n * frac[2] // 2, acc)
    layout = DramLayout()
    for o in op.reads + op.writes:
        layout.register(o)
    mem_of = (lambda c: "dram" if c == "weight" else cfg.placement[c]) if direct else cfg.placement.__getitem__
    choice = (min(tiling[0], m), min(tiling[1], k), min(tiling[2], n), min(tiling[3], g), order)
    old, new = OpPlan(op), OpPlan(op)
    oracle_gemm_tiles(old, cfg, layout, mem_of, streamed, choice, 2)
    emit_gemm_tiles(new, cfg, layout, mem_of, streamed, choice, 2)
    _check_same(new.tiles, old.tiles)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 100000), min_size=1, max_size=4), n_reads=st.integers(0, 3),
       staging=st.integers(64, 5000), streamed=st.lists(st.booleans(), min_size=4, max_size=4),
       acc=st.booleans(), elem_ops=st.integers(0, 10 ** 6))
def test_vector_chunks_equal_oracle(sizes, n_reads, staging, streamed, acc, elem_ops):
    cfg = load_config(None)
    n_reads = min(n_reads, len(sizes) - 1)
    reads = tuple(Operand(f"r{i}", "activation", s) for i, s in enumerate(sizes[:n_reads]))
    writes = tuple(Operand(f"w{i}", "error", s, acc and i == 0) for i, s in enumerate(sizes[n_reads:]))
    op = Op("l", 0, "bwd_data", "vector", reads, writes, None, elem_ops)
    layout = DramLayout()
    for o in reads + writes:
        layout.register(o)
    flags = {o.tensor: f for o, f in zip(reads + writes, streamed)}
    is_streamed = lambda o: flags[o.tensor]  # noqa: E731
    stage = {name: staging for name in cfg.memories}
    old, new = OpPlan(op), OpPlan(op)
    oracle_vector_chunks(old, cfg, layout, cfg.placement.__getitem__, is_streamed, stage)
    emit_vector_chunks(new, cfg, layout, cfg.placement.__getitem__, is_streamed, stage)
    _check_same(new.tiles, old.tiles)


@pytest.mark.parametrize("workload,batch,overrides", [
    ("tiny_resnet", 4, []), ("resnet18", 2, []), ("mobilenet_v2", 1, ["accumulator=null"]),
    ("bert_encoder", 1, ["memories.spm_act.capacity_kib=64"])])
def test_planner_tiles_equal_oracle(monkeypatch, workload, batch, overrides):
    """Every op of real networks: the planner's lazy tiles equal the old emission's."""
    cfg = load_config(None, [f"training.batch={batch}", *overrides])
    pairs = []

    def gemm(plan, *args):
        old = OpPlan(plan.op)
        oracle_gemm_tiles(old, *args)
        emit_gemm_tiles(plan, *args)
        pairs.append((plan.tiles, old.tiles))

    def vector(plan, *args):
        old = OpPlan(plan.op)
        oracle_vector_chunks(old, *args)
        emit_vector_chunks(plan, *args)
        pairs.append((plan.tiles, old.tiles))

    monkeypatch.setattr(placement, "emit_gemm_tiles", gemm)
    monkeypatch.setattr(placement, "emit_vector_chunks", vector)
    ops = expand(resolve(workload), batch, cfg.array.precision, cfg.training.optimizer,
                 ("fwd", "bwd_data", "bwd_weight", "wu"))
    Planner(cfg).plan(ops)
    assert len(pairs) == len(ops)
    for lazy, old in pairs:
        _check_same(lazy, old)


@settings(max_examples=200, deadline=None)
@given(dims=st.lists(st.integers(1, 1 << 12), min_size=1, max_size=3), nbytes=st.integers(0, 1 << 40),
       data=st.data())
def test_box_bytes_np_exact(dims, nbytes, data):
    lo = tuple(data.draw(st.integers(0, d - 1)) for d in dims)
    hi = tuple(data.draw(st.integers(a + 1, d)) for a, d in zip(lo, dims))
    got = box_bytes_np(nbytes, tuple(dims), tuple(np.array([a]) for a in lo), tuple(np.array([b]) for b in hi))
    assert got.tolist() == [box_bytes(nbytes, tuple(dims), lo, hi)]


@pytest.mark.parametrize("workload,batch,fast_forward", [("tiny_resnet", 4, True), ("resnet18", 1, True),
                                                         ("tiny_cnn", 2, False)])
def test_run_files_equal_old_planner(tmp_path, monkeypatch, workload, batch, fast_forward):
    """Whole run files with the lazy tiles and with the old per-tile lists are byte-identical."""
    import h5py

    from simulator import run
    from tests.test_fast_forward import DATASETS, _same

    cfg = load_config(None, [f"training.batch={batch}"])
    new = run(cfg, workload, out=tmp_path / "new.h5", fast_forward=fast_forward)

    monkeypatch.setattr(placement, "emit_gemm_tiles", lambda plan, *a: oracle_gemm_tiles(plan, *a))
    monkeypatch.setattr(placement, "emit_vector_chunks", lambda plan, *a: oracle_vector_chunks(plan, *a))
    old = run(cfg, workload, out=tmp_path / "old.h5", fast_forward=fast_forward)
    assert old.tiles == new.tiles
    with h5py.File(old.path) as a, h5py.File(new.path) as b:
        for name in DATASETS:
            assert _same(a[name][()], b[name][()]), name
        assert a.attrs["total_cycles"] == b.attrs["total_cycles"]

"""Engine behaviour: stall accounting, byte conservation, DRAM monotonicity, MRAM write stalls,
bank timing rules, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from simulator import run, schema
from simulator.components.scratchpad import Scratchpad
from simulator.config import load_config
from simulator.engine import Engine
from simulator.placement import Planner, Tile
from simulator.stats import Ledger
from simulator.workload_source import resolve
from tests.conftest import MRAM_FIGURES
from tests.naive_spm import tile_end
from tests.naive_timeline import assert_rows_match_the_timeline
from workloads.phases import expand



@pytest.mark.parametrize("workload", ["tiny_cnn", "tiny_resnet", "tiny_mlp", "bert_encoder"])
def test_stall_parts_sum_to_totals(workload, config_file):
    cfg = load_config(config_file(), ["training.batch=2"] + (["training.batch=1"] if workload == "bert_encoder" else []))
    res = run(cfg, workload, write=False)
    assert_rows_match_the_timeline(res)
    assert int(res.layers["total_cycles"].sum()) == res.total_cycles
    assert (res.layers["total_cycles"] > 0).all()


def test_stall_parts_sum_with_mram_and_small_memories(config_file):
    path = config_file(memories={"spm_act": {"capacity_kib": 16, **MRAM_FIGURES, "technology": "stt_mram"}},
                       accumulator=None)
    res = run(load_config(path), "tiny_resnet", write=False)
    assert_rows_match_the_timeline(res)
    assert int(res.layers["total_cycles"].sum()) == res.total_cycles
    for s in ("spm_write", "dram"):
        assert res.layers[f"{s}_cycles"].sum() > 0


def _plan(cfg, workload, phases=schema.PHASES):
    trace = resolve(workload)
    ops = expand(trace, cfg.training.batch, cfg.array.precision, cfg.training.optimizer, phases)
    return ops, Planner(cfg).plan(ops)


@pytest.mark.parametrize("cap_kib", [8, 64, 1024])
def test_bytes_conserved_between_producer_and_consumer(cap_kib, config_file):
    """What a producer writes to DRAM is exactly the tensor; what a consumer streams in is whole
    multiples of it (re-fetches), and every tensor read from DRAM was put there before."""
    cfg = load_config(config_file(memories={"spm_act": {"capacity_kib": cap_kib}}))
    ops, plan = _plan(cfg, "tiny_resnet")
    in_dram = {"input"} | {o.tensor for op in ops for o in op.reads if o.tclass in ("weight", "optimizer_state")}
    in_dram |= {o.tensor for op in ops for o in op.reads if o.tclass == "error"} - {
        o.tensor for op in ops for o in op.writes}
    for p in plan.ops:
        loads, wbs = {}, {}
        for x in p.pre:
            if x.to_dram:
                assert x.nbytes == plan.tensor_bytes[x.tensor]  # a spill writes the whole tensor
                in_dram.add(x.tensor)
            else:
                loads[x.tensor] = loads.get(x.tensor, 0) + x.nbytes
        for t in p.tiles:
            for x in t.loads:
                loads[x.tensor] = loads.get(x.tensor, 0) + x.nbytes
            for x in t.writebacks:
                wbs[x.tensor] = wbs.get(x.tensor, 0) + x.nbytes
        for tensor, nbytes in loads.items():
            assert tensor in in_dram, f"{p.op.layer} {p.op.phase} reads {tensor} from DRAM before anyone wrote it"
            assert nbytes % plan.tensor_bytes[tensor] == 0 and nbytes >= plan.tensor_bytes[tensor]
        for tensor, nbytes in wbs.items():
            assert nbytes == plan.tensor_bytes[tensor]
            in_dram.add(tensor)


def _dram_bytes(cfg, workload):
    _, plan = _plan(cfg, workload)
    total = sum(x.nbytes for p in plan.ops for x in p.pre) + sum(x.nbytes for x in plan.post)
    return total + sum(x.nbytes for p in plan.ops for t in p.tiles for x in t.loads + t.writebacks)


@pytest.mark.parametrize("workload,batch", [("tiny_resnet", 4), ("resnet18", 2), ("mobilenet_v2", 1)])
def test_larger_scratchpad_never_more_dram_traffic(workload, batch, config_file):
    previous = None
    for cap in (64, 128, 256, 512, 1024, 2048, 4096, 8192):
        path = config_file(memories={"spm_act": {"capacity_kib": cap}, "spm_weight": {"capacity_kib": cap}},
                           training={"batch": batch})
        traffic = _dram_bytes(load_config(path), workload)
        if previous is not None:
            assert traffic <= previous, f"{cap} KiB moves {traffic} bytes, more than {previous} at half the size"
        previous = traffic


def test_mram_slow_write_stalls_array_where_sram_does_not(config_file):
    """No accumulator: partial sums and outputs drain into the activation memory at the array's rate."""
    sram = run(load_config(config_file("sram.yaml", training={"batch": 64}, accumulator=None)), "tiny_mlp",
               write=False)
    mram_path = config_file("mram.yaml", memories={"spm_act": {**MRAM_FIGURES, "technology": "stt_mram"}},
                            training={"batch": 64}, accumulator=None)
    mram = run(load_config(mram_path), "tiny_mlp", write=False)
    gemm = schema.OPS.index("gemm")
    s_rows = sram.layers[sram.layers["op"] == gemm]
    m_rows = mram.layers[mram.layers["op"] == gemm]
    assert s_rows["spm_write_cycles"].sum() == 0
    assert m_rows["spm_write_cycles"].sum() > 0.5 * m_rows["compute_cycles"].sum()
    assert mram.total_cycles > sram.total_cycles


def test_double_buffering_overlaps_dram_with_compute(config_file):
    """With staging double-buffered, a compute-bound layer's DRAM time hides behind compute: its
    dram stall is a small part of the DRAM busy time."""
    cfg = load_config(config_file(memories={"spm_act": {"capacity_kib": 32}, "spm_weight": {"capacity_kib": 32}},
                                  training={"batch": 8}))
    res = run(cfg, "tiny_resnet", write=False)
    tl = res.timeline
    dram_unit = res.hw_units.index("dram")
    busy = int((tl["t_end_cycles"] - tl["t_start_cycles"])[tl["hw_unit"] == dram_unit].sum())
    stall = int(res.layers["dram_cycles"].sum())
    assert busy > 0 and stall < busy


def test_contending_streams_show_bank_conflicts(config_file):
    """Staging DMA into the same banks the array reads: few banks make the streams queue."""
    path = config_file(memories={"spm_act": {"capacity_kib": 16, "banks": 1},
                                 "spm_weight": {"capacity_kib": 16, "banks": 1}})
    res = run(load_config(path), "tiny_cnn", write=False)
    assert res.layers["bank_conflict_cycles"].sum() > 0


def test_scratchpad_timing_tightness(config_file):
    cfg = load_config(config_file())
    spm = Scratchpad(cfg.memories["spm_act"], 1.0)
    spm.write_occ = 10
    first = spm.reserve(100, spm.write_demand(8 * 8))  # one 8-byte word on each of 8 banks
    assert (first.start, first.end) == (100, 110)
    blocked = spm.reserve(109, spm.read_demand(8))       # asks at t-1: waits for the banks
    assert blocked.start == 110
    spm2 = Scratchpad(cfg.memories["spm_act"], 1.0)
    spm2.write_occ = 10
    spm2.reserve(100, spm2.write_demand(8 * 8))
    ready = spm2.reserve(110, spm2.read_demand(8))       # asks at t: starts at once
    assert ready.start == 110


@pytest.mark.parametrize("seed", range(12))
def test_engine_tile_timing_matches_word_level_reference(seed, config_file):
    rng = random.Random(seed)
    cfg = load_config(config_file(memories={"spm_act": {"banks": rng.choice([1, 2, 4, 8]),
                                                        "write_occupancy_ns": rng.choice([1, 3, 10]),
                                                        "read_latency_ns": rng.choice([0, 1, 4])}}))
    ops, plan = _plan(cfg, "tiny_mlp", ("fwd",))
    engine = Engine(cfg, plan, Ledger(cfg))
    rb, wb = rng.randrange(0, 20000), rng.randrange(0, 20000)
    ideal = rng.randrange(1, 3000)
    tile = Tile([], [], {("spm_act", "activation"): rb}, {("spm_act", "activation"): wb}, ideal, ideal)
    row = engine.ledger.row("x", 0, "gemm", "fwd")
    end = engine._tile(row, "pe_array", tile, 50)
    m = cfg.memories["spm_act"]
    spm = engine.spm["spm_act"]
    ref = tile_end(50, ideal, [dict(banks=m.banks, word_bytes=m.word_bytes, read_ii=spm.read_ii,
                                    write_occ=spm.write_occ, read_latency=spm.read_latency,
                                    read_bytes=rb, write_bytes=wb)])
    assert end == ref
    assert sum(row.stalls.values()) == end - 50


def test_runs_are_deterministic(config_file):
    cfg = load_config(config_file())
    a = run(cfg, "tiny_resnet", write=False)
    b = run(cfg, "tiny_resnet", write=False)
    assert a.total_cycles == b.total_cycles
    assert np.array_equal(a.layers, b.layers) and np.array_equal(a.timeline, b.timeline)


def test_phases_filter_limits_the_run(config_file):
    res = run(load_config(config_file()), "tiny_cnn", phases=("fwd",), write=False)
    assert set(res.layers["phase"].tolist()) == {schema.PHASES.index("fwd")}


def test_activation_stash_kept_on_chip_or_spilled(config_file):
    """A scratchpad that holds the whole stash keeps it between forward and backward; a small one
    spills it in the forward pass and reads it back in the backward pass."""
    act = schema.TENSOR_CLASSES.index("activation")

    def dram_activation(cap_kib):
        path = config_file(memories={"spm_act": {"capacity_kib": cap_kib}}, training={"batch": 4})
        tr = run(load_config(path), "tiny_resnet", write=False).traffic
        m = (tr["memory"].astype(str) == "dram") & (tr["tensor_class"] == act)
        fwd_w = int(tr["write_bytes"][m & (tr["phase"] == schema.PHASES.index("fwd"))].sum())
        bwd_r = int(tr["read_bytes"][m & (tr["phase"] != schema.PHASES.index("fwd"))].sum())
        return fwd_w, bwd_r

    big_w, big_r = dram_activation(64 * 1024)
    small_w, small_r = dram_activation(32)
    assert big_w == 0 and big_r == 0
    assert small_w > 0 and small_r >= small_w

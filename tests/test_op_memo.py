"""Whole-op replay (`components.op_memo`): an op equal to an earlier one, in what it does and in the
bank and DRAM state it starts from, is replayed from the earlier one's record. The event-per-tile
engine is the oracle: replayed runs must equal it exactly, also where ops start with banks still
busy (a write buffer drains after the op's last tile)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simulator.components.op_memo as op_memo
from simulator import run
from simulator.config import load_config
from simulator.dram_layout import chunk_bytes, chunk_offset
from tests.conftest import MRAM_FIGURES, make_config

TABLES = ("layers", "energy", "traffic", "errors", "timeline")


def _replays(monkeypatch) -> list[tuple]:
    """The start state (banks, DRAM) of every replayed op, as the probe keyed it."""
    seen = []
    replay = op_memo.OpMemo.replay

    def counted(self, pr, row, tiles):
        seen.append(pr.key[-1])
        return replay(self, pr, row, tiles)

    monkeypatch.setattr(op_memo.OpMemo, "replay", counted)
    return seen


def _busy_start(state) -> bool:
    banks, dram = state
    return dram > 0 or any(banks)


@pytest.mark.parametrize("write_buffer_words", [0, 8])
def test_replayed_runs_equal_the_event_engine(tmp_path, monkeypatch, write_buffer_words):
    figures = {**MRAM_FIGURES, "technology": "stt_mram", "write_buffer_words": write_buffer_words}
    cfg = load_config(make_config(tmp_path, training={"batch": 4},
                                  memories={"spm_act": {"capacity_kib": 1024, "banks": 1, **figures},
                                            "spm_weight": {"capacity_kib": 128}}))
    slow = run(cfg, "tiny_resnet", fast_forward=False, write=False)
    replays = _replays(monkeypatch)
    fast = run(cfg, "tiny_resnet", write=False)
    assert len(replays) >= 10
    if write_buffer_words:  # ops that start while the previous op's writes still drain are replayed too
        assert sum(_busy_start(s) for s in replays) >= 5
    else:
        assert not any(_busy_start(s) for s in replays)
    for name in TABLES:
        a, b = getattr(slow, name), getattr(fast, name)
        assert a.dtype == b.dtype and len(a) == len(b), name
        for field in a.dtype.names:
            assert list(a[field]) == list(b[field]), (name, field)
    assert slow.total_cycles == fast.total_cycles
    assert fast.events < slow.events


def test_a_large_network_replays_most_of_its_repeated_ops(monkeypatch):
    replays = _replays(monkeypatch)
    res = run(load_config(None, ["training.batch=2"]), "resnet18", write=False)
    assert len(replays) == res.replayed_ops >= 80  # of its 238 ops (blocks of equal shape, four phases)
    assert res.skipped_tiles > 0
    assert run(load_config(None, ["training.batch=2"]), "resnet18", write=False, fast_forward=False).replayed_ops == 0


def test_runs_with_power_gating_are_not_replayed(monkeypatch):
    from simulator.config import REPO_ROOT

    replays = _replays(monkeypatch)
    cfg = load_config(REPO_ROOT / "configs" / "mram_iso_capacity.yaml",
                      ["training.batch=1", "memories.spm_act.power_gating=true"])
    run(cfg, "tiny_resnet", write=False)
    assert replays == []


@given(nbytes=st.integers(0, 10**7), chunks=st.integers(1, 5000))
def test_chunks_are_equal_but_the_last(nbytes, chunks):
    c = np.arange(chunks, dtype=np.int64)
    parts = chunk_bytes(nbytes, c, chunks)
    size = -(-nbytes // chunks)
    assert int(parts.sum()) == nbytes
    assert parts.max(initial=0) <= size
    full = np.flatnonzero(parts)
    if full.size:  # every chunk before the last one with bytes is full, every one after it empty
        assert (parts[:full[-1]] == size).all() and (parts[full[-1] + 1:] == 0).all()
    starts = chunk_offset(nbytes, c, chunks)
    assert (starts == np.concatenate([[0], np.cumsum(parts)[:-1]])).all()
    assert [chunk_bytes(nbytes, int(i), chunks) for i in (0, chunks - 1)] == [int(parts[0]), int(parts[-1])]


def test_a_replay_that_loses_dram_bytes_is_caught(monkeypatch):
    """The run's invariants see replayed ops too: a replay that books no DRAM traffic stops the run."""
    from simulator.invariants import InvariantError

    replay = op_memo.OpMemo.replay

    def lossy(self, pr, row, tiles):
        pr.entry.dram_access = {}
        return replay(self, pr, row, tiles)

    monkeypatch.setattr(op_memo.OpMemo, "replay", lossy)
    with pytest.raises(InvariantError, match="DRAM"):
        run(load_config(None, ["training.batch=2"]), "resnet18", phases=("fwd",), write=False)


def test_the_report_says_how_many_ops_were_replayed():
    from rich.console import Console

    from simulator.report import render_run

    cfg = load_config(None, ["training.batch=2"])
    lines = {}
    for ff in (True, False):
        console = Console(record=True, width=100)
        res = run(cfg, "tiny_resnet", write=False, fast_forward=ff)
        render_run(res, console)
        lines[ff] = [ln for ln in console.export_text().splitlines() if ln.startswith("simulated in")]
    assert f"{res.events:,} events" in lines[False][0] and "replayed" not in lines[False][0]
    replayed = run(cfg, "tiny_resnet", write=False).replayed_ops
    assert replayed > 0 and f"{replayed:,} ops replayed whole" in lines[True][0]

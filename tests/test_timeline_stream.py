"""The timeline streams to the run file in whole chunks as it fills: memory holds at most about two
chunks, the file equals the in-memory timeline, and its op index equals one built from the whole."""

from __future__ import annotations

import h5py
import numpy as np

from simulator import run, timeline, trace
from simulator.config import load_config
from simulator.timeline import BufferTracer
from tests.conftest import make_config


class _Sink:
    def __init__(self):
        self.parts = []
        self.reads = []

    def append_timeline(self, rows):
        self.parts.append(rows.copy())

    def read_timeline(self, a, b):
        self.reads.append((a, b))
        return np.concatenate(self.parts)[a:b]


def test_tracer_keeps_at_most_two_chunks(monkeypatch):
    monkeypatch.setattr(timeline, "FLUSH_ROWS", 64)
    sink = _Sink()
    tr = BufferTracer(["pe_array", "vector", "dma", "dram"], sink)
    resident = 0
    for i in range(1000):
        tr.slice(i, i + 1, "dma", i % 2, 0, "fwd", "gemm", "activation", i, 64 * i)
        resident = max(resident, tr.mark() - tr.written)
    assert resident <= 2 * 64
    assert all(len(p) == 64 for p in sink.parts)
    back = tr.since(900)  # part written, part not yet
    assert back["t_start_cycles"].tolist() == list(range(900, 1000))
    assert sink.reads == []  # the last chunks written are still at hand: nothing is read back
    older = tr.since(100)
    assert older["t_start_cycles"].tolist() == list(range(100, 1000))
    assert sink.reads == [(100, tr.written - timeline.RECENT_CHUNKS * 64)]
    assert tr.table() is None
    rows = np.concatenate(sink.parts)
    assert rows["bytes"].tolist() == list(range(1000))


def test_streamed_file_equals_in_memory_timeline(tmp_path, monkeypatch):
    monkeypatch.setattr(timeline, "FLUSH_ROWS", 64)
    cfg = load_config(make_config(tmp_path, training={"batch": 4}, memories={"spm_act": {"capacity_kib": 16}}))
    mem = run(cfg, "tiny_resnet", write=False)
    disk = run(cfg, "tiny_resnet", out=tmp_path / "r.h5")
    assert len(mem.timeline) > 4 * 64 and disk.timeline_rows == len(mem.timeline)
    with h5py.File(disk.path) as f:
        tl = f["timeline"][()]
        assert f["timeline"].chunks == (64,)
        index = f["timeline_index"][()]
    assert np.array_equal(tl.astype(mem.timeline.dtype), mem.timeline)
    assert np.array_equal(index, trace.build_timeline_index(mem.timeline))
    assert np.array_equal(disk.timeline, tl)  # read back lazily from the file
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []

"""Perfetto (Chrome trace-event JSON) and DRAM trace (DRAMSim3, Ramulator 2) export."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict

import numpy as np
import pytest

from models.errors import UserError
from simulator import run, schema, trace, trace_export
from simulator.config import load_config
from tests.conftest import make_config

DRAMSIM3_LINE = re.compile(rb"^0x([0-9a-f]+) (READ|WRITE) ([0-9]+)$")
RAMULATOR_LINE = re.compile(rb"^(LD|ST) 0x([0-9a-f]+)$")


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    return run(load_config(make_config(d)), "tiny_resnet", out=d / "r.h5").path


def load_events(path):
    doc = json.loads(path.read_text())
    assert isinstance(doc["traceEvents"], list)
    return doc, doc["traceEvents"]


def test_perfetto_json_is_valid_and_complete(run_file, tmp_path):
    out = tmp_path / "t.json"
    with trace.open(run_file) as tr:
        counts = trace_export.export_perfetto(tr, out)
        tl = tr.timeline()
        clock = tr.clock_ghz
    doc, events = load_events(out)
    assert doc["displayTimeUnit"] == "ns" and doc["otherData"]["workload"] == "tiny_resnet"
    slices = [e for e in events if e["ph"] == "X"]
    meta = [e for e in events if e["ph"] == "M"]
    assert len(slices) == len(tl) == counts["slices"] and len(events) == counts["events"]
    for e in events:
        assert {"name", "ph", "pid", "tid"} <= set(e) and isinstance(e["name"], str)
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
    for e in slices:
        assert {"ts", "dur", "cat", "args"} <= set(e)
        assert isinstance(e["ts"], (int, float)) and e["dur"] >= 0
        c0, c1 = e["args"]["cycles"]
        assert math.isclose(e["ts"], round(c0 / clock) / 1000, abs_tol=1e-9)
        assert math.isclose(e["ts"] + e["dur"], round(c1 / clock) / 1000, abs_tol=1e-6)
    names = {e["tid"]: e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    assert set(names) == {e["tid"] for e in slices}
    assert len(set(names.values())) == len(names)
    stall_rows = int((tl["stall"] != trace.NO_STALL_CODE).sum())
    stalls = [e for e in slices if e["cat"] == "stall"]
    assert len(stalls) == stall_rows == counts["stall_slices"] > 0
    assert {e["name"] for e in stalls} <= {f"{s} stall" for s in schema.STALLS}
    busy = [e for e in slices if e["cat"] != "stall"]
    assert all(e["name"] == f"{e['args']['layer']}/{e['args']['phase']}/{e['args']['op']}" for e in busy)
    assert any(n.startswith("PE array") for n in names.values())
    assert any(n.startswith("DRAM") for n in names.values())


def test_slices_on_one_track_never_overlap(run_file, tmp_path):
    out = tmp_path / "t.json"
    with trace.open(run_file) as tr:
        trace_export.export_perfetto(tr, out)
        tl = tr.timeline()
        dma_code = tr.hw_units.index("dma")
    _, events = load_events(out)
    by_tid = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            t0 = round(e["ts"] * 1000)
            by_tid[e["tid"]].append((t0, t0 + round(e["dur"] * 1000)))
    for tid, spans in by_tid.items():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), tid
    # in the timeline itself only DMA slots have overlapping slices (a tile's loads are issued together)
    for unit in set(tl["hw_unit"].tolist()) - {dma_code}:
        for slot in set(tl["slot"][tl["hw_unit"] == unit].tolist()):
            r = tl[(tl["hw_unit"] == unit) & (tl["slot"] == slot)]
            r = r[np.argsort(r["t_start_cycles"], kind="stable")]
            assert (r["t_start_cycles"][1:] >= r["t_end_cycles"][:-1]).all(), (unit, slot)
    dma = tl[tl["hw_unit"] == dma_code]
    dma = dma[np.lexsort((dma["t_start_cycles"], dma["slot"]))]
    same = dma["slot"][1:] == dma["slot"][:-1]
    assert (same & (dma["t_start_cycles"][1:] < dma["t_end_cycles"][:-1])).any()
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert any("[lane 2]" in n for n in names)


def test_lanes_are_disjoint_and_minimal():
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(1, 60))
        s = np.sort(rng.integers(0, 200, n))
        e = s + rng.integers(1, 40, n)
        lanes = trace_export._Lanes()
        half = n // 2
        got = np.r_[lanes.assign(s[:half], e[:half]), lanes.assign(s[half:], e[half:])]
        for lane in np.unique(got):
            m = got == lane
            assert (s[m][1:] >= e[m][:-1]).all()
        depth = max(int(((s <= t) & (e > t)).sum()) for t in s)
        assert got.max() + 1 == depth


def test_perfetto_filters_cut_the_trace(run_file, tmp_path):
    out = tmp_path / "conv1.json"
    with trace.open(run_file) as tr:
        c = trace_export.export_perfetto(tr, out, layer="conv1", phases=("fwd",), hw_unit="pe_array")
        want = tr.timeline(layer="conv1", phases="fwd", hw_unit="pe_array")
    _, events = load_events(out)
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == len(want) == c["slices"] > 0
    assert {(e["args"]["layer"], e["args"]["phase"]) for e in slices} == {("conv1", "fwd")}
    assert c["tracks"] == 1


def naive_lines(addr, is_write, cycle, fmt):
    if fmt == "dramsim3":
        return b"".join(b"0x%x %s %d\n" % (a, b"WRITE" if w else b"READ", c) for a, w, c in zip(addr, is_write, cycle))
    return b"".join(b"%s 0x%x\n" % (b"ST" if w else b"LD", a) for a, w in zip(addr, is_write))


def test_line_formatter_matches_a_slow_reference():
    rng = np.random.default_rng(2)
    for fmt in trace_export.DRAM_FORMATS:
        for n in (1, 7, 500):
            addr = rng.integers(0, 1 << int(rng.integers(1, 48)), n)
            addr[0] = 0
            w = rng.random(n) < 0.4
            cyc = rng.integers(0, 1 << int(rng.integers(1, 40)), n)
            cyc[-1] = 0
            assert trace_export.format_requests(addr, w, cyc, fmt) == naive_lines(addr, w, cyc, fmt)


def test_request_expansion_matches_a_slow_reference():
    rng = np.random.default_rng(3)
    n = 40
    rows = np.zeros(n, dtype=[("t_start_cycles", "i8"), ("t_end_cycles", "i8"), ("bytes", "i8"),
                              ("dram_addr", "i8"), ("is_write", "i1")])
    rows["t_start_cycles"] = np.sort(rng.integers(0, 10_000, n))
    rows["t_end_cycles"] = rows["t_start_cycles"] + rng.integers(1, 500, n)
    rows["bytes"] = rng.integers(1, 3000, n)
    rows["dram_addr"] = rng.integers(0, 1 << 30, n) & ~63
    rows["is_write"] = rng.random(n) < 0.5
    ratio = 1.6 / 1.25
    want = []
    for r in rows:
        k_n = math.ceil(int(r["bytes"]) / 64)
        for k in range(k_n):
            t = r["t_start_cycles"] + k * (r["t_end_cycles"] - r["t_start_cycles"]) / k_n
            want.append((int(r["dram_addr"]) + 64 * k, bool(r["is_write"]), math.floor(t * ratio + 1e-9)))
    for batch in (5, 1 << 18):
        got = [(int(a), bool(w), int(c)) for parts in trace_export.dram_requests(rows, 64, ratio, batch)
               for a, w, c in zip(*parts)]
        assert got == want


@pytest.mark.parametrize("fmt", trace_export.DRAM_FORMATS)
def test_dram_trace_replays_the_dram_rows(run_file, tmp_path, fmt, monkeypatch):
    out = tmp_path / f"d.{fmt}"
    with trace.open(run_file) as tr:
        counts = trace_export.export_dram(tr, out, fmt)
        dram = tr.timeline(hw_unit="dram")
        cfg = tr.config["dram"]
        clock = tr.clock_ghz
    burst, mhz = cfg["burst_bytes"], cfg["clock_mhz"]
    lines = out.read_bytes().splitlines()
    n_req = int(sum(math.ceil(int(b) / burst) for b in dram["bytes"]))
    assert len(lines) == n_req == counts["requests"] > 0
    n_write = int(sum(math.ceil(int(b) / burst) for b in dram["bytes"][dram["is_write"] == 1]))
    assert counts["write_requests"] == n_write and 0 < n_write < n_req
    pattern = DRAMSIM3_LINE if fmt == "dramsim3" else RAMULATOR_LINE
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed)
    if fmt == "dramsim3":
        addr = [int(m.group(1), 16) for m in parsed]
        writes = [m.group(2) == b"WRITE" for m in parsed]
        cycles = [int(m.group(3)) for m in parsed]
        assert cycles == sorted(cycles)
        firsts = np.r_[0, np.cumsum([math.ceil(int(b) / burst) for b in dram["bytes"]])[:-1]]
        for row, i in zip(dram, firsts):
            assert addr[i] == row["dram_addr"] and writes[i] == bool(row["is_write"])
            assert cycles[i] == math.floor(row["t_start_cycles"] / clock * mhz / 1000 + 1e-9)
        end = max(int(r["t_end_cycles"]) for r in dram)
        assert cycles[-1] < end / clock * mhz / 1000
    else:
        addr = [int(m.group(2), 16) for m in parsed]
        assert sum(m.group(1) == b"ST" for m in parsed) == n_write
    lo = dram["dram_addr"].min()
    hi = (dram["dram_addr"] + dram["bytes"]).max()
    assert lo <= min(addr) and max(addr) < hi
    monkeypatch.setattr(trace_export, "REQUEST_BATCH", 7)
    small = tmp_path / f"small.{fmt}"
    with trace.open(run_file) as tr:
        trace_export.export_dram(tr, small, fmt)
    assert small.read_bytes() == out.read_bytes()


def test_dram_export_filters_and_errors(run_file, tmp_path):
    with trace.open(run_file) as tr:
        c = trace_export.export_dram(tr, tmp_path / "conv1.trace", layer="conv1", phases=("fwd",))
        want = tr.timeline(layer="conv1", phases="fwd", hw_unit="dram")
        assert c["transfers"] == len(want) > 0
        assert c["bytes"] == int(want["bytes"].sum())
        with pytest.raises(UserError, match="--format"):
            trace_export.export_dram(tr, tmp_path / "x.trace", "gem5")
        with pytest.raises(UserError, match="does not exist"):
            trace_export.export_dram(tr, tmp_path / "no" / "x.trace")
    assert not list(tmp_path.glob("*.tmp"))

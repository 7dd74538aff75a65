"""``python -m simulator trace show|export|diff``: output, filters and one-line errors (exit 2)."""

from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest

from simulator import run, schema, trace
from simulator.cli import main
from simulator.config import load_config
from simulator.trace_view import bin_edges, covered_until, sparkline
from tests.conftest import MRAM_FIGURES, make_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    a = run(load_config(make_config(d, "a.yaml")), "tiny_resnet", out=d / "a.h5")
    mram = {"spm_act": {"technology": "stt_mram", **MRAM_FIGURES}}
    b = run(load_config(make_config(d, "b.yaml", memories=mram)), "tiny_resnet", out=d / "b.h5")
    return a, b


def test_show_summary(runs, capsys):
    a, _ = runs
    assert main(["trace", "show", str(a.path)]) == 0
    out = capsys.readouterr().out
    assert "tiny_resnet" in out and f"{a.total_cycles:,} cycles" in out
    for ph in schema.PHASES:
        assert ph in out
    for unit in ("PE array", "vector", "DMA 0 in", "DRAM", "spm_act", "spm_weight"):
        assert unit in out
    assert "Busiest scratchpads" in out
    assert "longest stalls" not in out


def test_show_top_lists_the_longest_stalls(runs, capsys):
    a, _ = runs
    assert main(["trace", "show", str(a.path), "--top", "3"]) == 0
    out = capsys.readouterr().out
    tl = a.timeline
    stalls = tl[tl["stall"] != trace.NO_STALL_CODE]
    dur = np.sort(stalls["t_end_cycles"] - stalls["t_start_cycles"])[::-1][:3]
    section = out[out.index("3 longest stalls"):]
    rows = [line.split() for line in section.splitlines() if re.match(r"^\s*[123]\s+[\d,]+\s", line)]
    assert [int(r[1].replace(",", "")) for r in rows] == dur.tolist()
    assert all(r[4] in schema.STALLS for r in rows)


def test_show_narrowed_to_a_layer_phase_and_unit(runs, capsys):
    a, _ = runs
    assert main(["trace", "show", str(a.path), "--layer", "layer1.0.conv1", "--phases", "fwd,bwd_data",
                 "--hw-unit", "pe_array", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "selection layer layer1.0.conv1; phases fwd,bwd_data; unit pe_array" in out
    assert "Layer layer1.0.conv1: each op" in out and "col2im" in out
    units_table = out[out.index("Units over time"):out.index("Busiest scratchpads")]
    assert "PE array" in units_table and "DRAM" not in units_table
    with trace.open(a.path) as tr:
        rows = tr.timeline(layer="layer1.0.conv1", phases=("fwd", "bwd_data"), hw_unit="pe_array")
        idx = tr.select_runs(layer="layer1.0.conv1", phases=("fwd", "bwd_data"))
    busy = rows[rows["stall"] == trace.NO_STALL_CODE]
    op_cycles = int((idx["t_end_cycles"] - idx["t_start_cycles"]).sum())
    share = 100.0 * (busy["t_end_cycles"] - busy["t_start_cycles"]).sum() / op_cycles
    assert re.search(rf"PE array\s+{share:.1f}\s", units_table)


def test_show_window(runs, capsys):
    a, _ = runs
    assert main(["trace", "show", str(a.path), "--window", "1000:3000"]) == 0
    out = capsys.readouterr().out
    assert "cycles [1000, 3000)" in out and "cycles 1,000 to 3,000" in out


def test_utilisation_bins_against_a_direct_sum():
    rng = np.random.default_rng(4)
    s = rng.integers(0, 1000, 50)
    e = s + rng.integers(1, 100, 50)
    spans = np.array([[0, 400], [600, 1200]])
    edges, width = bin_edges(spans, 10)
    assert width == 100.0 and edges[0] == 0 and edges[4] == 400 and edges[5] == 700 and edges[-1] == 1200
    got = covered_until(s, e, edges)
    want = [sum(max(0, min(x, b) - a) for a, b in zip(s, e)) for x in edges]
    assert np.allclose(got, want)
    assert sparkline(np.array([0.0, 0.01, 0.5, 1.0, 1.7])) == " ▁▄██"


def test_diff_side_by_side(runs, capsys):
    a, b = runs
    assert main(["trace", "diff", str(a.path), str(b.path), "--top", "5"]) == 0
    out = capsys.readouterr().out
    ratio = b.total_cycles / a.total_cycles
    assert f"{ratio:.2f}x" in out
    assert "Per phase, A and B" in out and "Per layer op, A and B: the 5 of" in out
    for ph in schema.PHASES:
        ca = int(a.layers["total_cycles"][a.layers["phase"] == schema.PHASES.index(ph)].sum())
        cb = int(b.layers["total_cycles"][b.layers["phase"] == schema.PHASES.index(ph)].sum())
        assert re.search(rf"{ph}\s+A\s+{ca:,}\s", out) and re.search(rf"B\s+{cb:,}\s+{cb / ca:.2f}x", out)


def test_export_both_outputs(runs, tmp_path, capsys):
    a, _ = runs
    js, dr = tmp_path / "t.json", tmp_path / "t.trace"
    assert main(["trace", "export", str(a.path), "--perfetto", str(js), "--dram", str(dr), "--format",
                 "ramulator", "--phases", "fwd"]) == 0
    out = capsys.readouterr().out
    assert str(js) in out and str(dr) in out and "ramulator format" in out
    events = json.loads(js.read_text())["traceEvents"]
    assert {e["args"]["phase"] for e in events if e["ph"] == "X"} == {"fwd"}
    assert all(line.startswith((b"LD 0x", b"ST 0x")) for line in dr.read_bytes().splitlines())


@pytest.fixture
def bad_files(runs, tmp_path):
    a, _ = runs
    text = tmp_path / "text.h5"
    text.write_text("hello\n")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(a.path.read_bytes()[:2000])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_group("images")["x"] = np.zeros(3)
    return {"text": text, "trunc": trunc, "other": other, "good": a.path}


@pytest.mark.parametrize("args,needle", [
    (["trace", "show", "{text}"], "not an HDF5 file"),
    (["trace", "show", "{trunc}"], "truncated"),
    (["trace", "show", "{other}"], "not a run file"),
    (["trace", "export", "{other}", "--perfetto", "{tmp}/x.json"], "not a run file"),
    (["trace", "diff", "{good}", "{trunc}"], "truncated"),
    (["trace", "show", "{good}", "--layer", "conv99"], "--layer conv99: no such layer"),
    (["trace", "export", "{good}", "--dram", "{tmp}/x.trace", "--layer", "conv99"], "--layer conv99"),
    (["trace", "show", "{good}", "--hw-unit", "gpu"], "--hw-unit gpu"),
    (["trace", "show", "{good}", "--phases", "fwd,back"], "--phases"),
    (["trace", "show", "{good}", "--window", "9:3"], "--window"),
    (["trace", "show", "{tmp}/missing.h5"], "no such file"),
    (["trace", "export", "{good}"], "--perfetto"),
    (["trace", "export", "{good}", "--dram", "{tmp}/x.trace", "--format", "gem5"], "--format gem5"),
    (["trace", "export", "{good}", "--perfetto", "{tmp}/no/x.json"], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(bad_files, tmp_path, capsys, args, needle):
    argv = [a.format(tmp=tmp_path, **bad_files) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.tmp"))


def test_show_prints_the_bit_error_ledger_of_the_file(runs, capsys):
    _, b = runs
    assert main(["trace", "show", str(b.path)]) == 0
    out = capsys.readouterr().out
    assert "Bit errors by memory and tensor class" in out
    table = out[out.index("Bit errors by memory and tensor class"):]
    assert "spm_act" in table and "activation" in table

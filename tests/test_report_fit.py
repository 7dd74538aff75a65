"""The run report fits the console width: nothing cut to an ellipsis, legends for every column."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from simulator import run, schema
from simulator.config import load_config
from simulator.report import LEGENDS, STALL_LEGEND, STALL_SHORT, make_console, render_run, table
from simulator.report_fit import print_fitted, stack_groups, table_width

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = (80, 100, 200)


def _render(t: Table, width: int, keys: int = 1) -> str:
    buf = io.StringIO()
    print_fitted(Console(file=buf, width=width), t, keys=keys)
    return buf.getvalue()


def _wide_table(name_len: int = 24) -> tuple[Table, list[list[str]]]:
    t = table("A wide table")
    t.add_column("layer")
    for k in range(11):
        t.add_column(f"column number {k}", justify="right")
    rows = [[f"block{i}.{'x' * name_len}.conv"] + [f"{(i + 1) * 10 ** (k % 9):,}" for k in range(11)] for i in range(4)]
    for r in rows:
        t.add_row(*r)
    return t, rows


@pytest.mark.parametrize("width", (60, *WIDTHS))
def test_no_line_wider_than_the_console_and_every_number_whole(width):
    t, rows = _wide_table()
    out = _render(t, width)
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    words = set(out.split())
    for r in rows:
        assert set(r[1:]) <= words  # every number whole, on one line
        if len(r[0]) <= max(12, width // 3):
            assert r[0] in words


def test_a_name_wider_than_a_third_of_the_width_wraps_in_full():
    t, rows = _wide_table(name_len=60)
    out = _render(t, 80)
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    part = out[out.index("block0"):out.index("block1")]  # the first row's lines in the first table
    assert "".join(line.split()[0] for line in part.splitlines() if line.strip()) == rows[0][0]


def test_a_table_that_fits_is_printed_unchanged():
    t = table("small")
    for c in ("a", "b"):
        t.add_column(c)
    t.add_row("1", "2")
    buf = io.StringIO()
    Console(file=buf, width=80).print(t)
    assert _render(t, 80) == buf.getvalue()


def test_stacked_parts_are_balanced_and_each_fits():
    widths = [10] + [8] * 10
    groups = stack_groups(widths, 1, 60)
    assert [j for g in groups for j in g] == list(range(1, 11))  # every column once, in order
    assert all(table_width([10] + [8] * len(g)) <= 60 for g in groups)
    # 10 columns of 8 beside a key of 10: 5 fit in 60 (10 + 5*8 + 3*5 + 2 = 67 > 60, 4 -> 56), so 3 parts
    assert len(groups) == 3 and sorted(len(g) for g in groups) == [3, 3, 4]


def test_make_console_honours_columns_when_piped(monkeypatch):
    monkeypatch.setenv("COLUMNS", "57")
    assert make_console().width == 57


def test_legend_names_every_stall_column():
    for st in schema.STALL_REPORT_ORDER:
        assert f"{STALL_SHORT[st]} = " in STALL_LEGEND, st
    assert "idle = " in STALL_LEGEND


@pytest.fixture(scope="module")
def resnet_result():
    return run(load_config(), "tiny_resnet", write=False)


@pytest.mark.parametrize("width", WIDTHS)
def test_run_report_fits_and_keeps_layer_names_whole(resnet_result, width):
    buf = io.StringIO()
    render_run(resnet_result, Console(file=buf, width=width))
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= width
    assert "…" not in out
    names = {n.decode() if isinstance(n, bytes) else str(n) for n in resnet_result.layers["layer"]}
    slow = sorted(resnet_result.layers, key=lambda r: -int(r["total_cycles"]))[:10]
    words = set(out.split())
    for r in slow:
        name = r["layer"].decode() if isinstance(r["layer"], bytes) else str(r["layer"])
        assert name in words and f"{int(r['total_cycles']):,}" in words
    assert any(len(n) > 20 for n in names)  # the workload has long names to test with
    for key, text in LEGENDS.items():
        if key == "errors":  # SRAM only: no bit-error table
            continue
        assert " ".join(text.split()[:4]) in " ".join(out.split())


def test_piped_report_follows_columns(tmp_path):
    for columns in ("80", "123"):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": columns}
        p = subprocess.run([sys.executable, "-m", "simulator", "workload", "tiny_mlp", "--out",
                            str(tmp_path / f"{columns}.h5")], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert max(len(line) for line in lines) <= int(columns) and "…" not in p.stdout
        assert "\x1b[" not in p.stdout  # no colour codes into a pipe
    assert max(len(line) for line in lines) > 100  # a wide console is used, not a fixed width


@pytest.mark.parametrize("width", (60, 80))
def test_a_plain_rich_table_with_padded_edges_fits_too(width):
    from rich import box

    from simulator.report_fit import FitTable

    t = FitTable(title="padded", box=box.SIMPLE_HEAD, keys=2)
    for col in ("V write", "pulse", *[f"value {k}" for k in range(8)]):
        t.add_column(col, justify="right")
    t.add_row("0.6 V", "5 ns", *[f"{1.5 * 10 ** -k:.3g}" for k in range(8)])
    buf = io.StringIO()
    Console(file=buf, width=width).print(t)
    out = buf.getvalue()
    assert max(len(line) for line in out.splitlines()) <= width and "…" not in out
    assert out.count("0.6 V") == out.count("5 ns") >= 2  # stacked, both key columns repeated

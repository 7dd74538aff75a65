"""Fuzz: SCALE-Sim topology CSVs and NVSim output files, mutated cell by cell and line by line.

Each case is read into a valid result (layer sizes within the simulator's bounds; NVSim figures finite,
not negative, in their stated ranges) or refused with one line naming the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import nvsim
from models.errors import UserError
from workloads.layers import MAX_DIM
from workloads.scalesim_csv import read_topology

DATA = Path(__file__).resolve().parent / "data"
CSV = (DATA / "scalesim_conv_small.csv").read_text()
GEMM_CSV = (DATA / "scalesim_gemm_small.csv").read_text()
NVSIM = (DATA / "nvsim_sttram_512KB_256b.txt").read_text()
FUZZ = settings(deadline=None, derandomize=True, max_examples=100,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TOKENS = ["0", "-1", "1e9", "1e999", "nan", "inf", "99999999999999999999999", "1.5", "", " ", "x", "\x00", "é",
          "3" * 5000, ",", "\n", "2147483648", "65536"]


def _one_line(exc: UserError, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text and len(text) <= 500 and text.startswith(str(path)), text


def _mutate_cells(text: str, data) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        cells = lines[i].split(",")
        j = data.draw(st.integers(0, len(cells) - 1))
        cells[j] = data.draw(st.sampled_from(TOKENS) | st.integers(-10 ** 12, 10 ** 12).map(str))
        lines[i] = ",".join(cells)
    op = data.draw(st.sampled_from(["none", "drop", "dup", "cut"]))
    if op == "drop":
        del lines[data.draw(st.integers(0, len(lines) - 1))]
    elif op == "dup":
        lines.insert(0, lines[data.draw(st.integers(0, len(lines) - 1))])
    elif op == "cut":
        return "\n".join(lines)[:data.draw(st.integers(0, len(text)))]
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.data())
def test_fuzz_scalesim_csv(tmp_path_factory, data):
    text = _mutate_cells(data.draw(st.sampled_from([CSV, GEMM_CSV])), data)
    path = tmp_path_factory.mktemp("csv") / "topo.csv"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        trace = read_topology(path)
    except UserError as exc:
        _one_line(exc, path)
        return
    assert trace.layers
    for layer in trace.layers:
        m, k, n, groups = layer.gemm_mkn()
        assert 1 <= m <= MAX_DIM ** 2 and 1 <= k <= MAX_DIM ** 2 and 1 <= n <= MAX_DIM and groups >= 1


_NUM = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?")
NV_TOKENS = ["0", "0.000", "1e999", "99999999999999999999999999999999999999999", "1e-400", "nan", "-5", "7" * 300,
             "1e40", "3.5e12"]


@FUZZ
@given(data=st.data())
def test_fuzz_nvsim_output(tmp_path_factory, data):
    lines = NVSIM.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["number", "number", "drop", "unit"]))
        if op == "drop":
            lines[i] = ""
        elif op == "unit":
            lines[i] = re.sub(r"(ns|ps|pJ|nJ|mW|uW|um\^2|GB/s|KB|MB)\b", data.draw(st.sampled_from(
                ["us", "fJ", "W", "nm^2", "KB/s", "GB", "B", "Zz"])), lines[i], count=1)
        else:
            found = list(_NUM.finditer(lines[i]))
            if found:
                m = found[data.draw(st.integers(0, len(found) - 1))]
                lines[i] = lines[i][:m.start()] + data.draw(st.sampled_from(NV_TOKENS)) + lines[i][m.end():]
    path = tmp_path_factory.mktemp("nv") / "out.txt"
    path.write_text("\n".join(lines))
    try:
        run = nvsim.parse_nvsim_output(path)
        figs = nvsim.figures_from_run(run)
    except UserError as exc:
        _one_line(exc, path)
        return
    assert 8 <= run.word_bits <= 4096 and 1 <= run.capacity_bytes <= nvsim.MAX_CAPACITY_BYTES
    for name, (lo, hi) in nvsim.FIELD_RANGES.items():
        assert lo <= getattr(run, name) <= hi, name
    for name in ("read_latency_ns", "write_latency_ns", "read_occupancy_ns", "write_occupancy_ns", "read_energy_pj",
                 "write_energy_pj", "write_energy_pj_per_switched_bit", "write_energy_pj_fixed", "leakage_mw",
                 "area_mm2"):
        v = getattr(figs, name)
        assert math.isfinite(v) and v >= 0, (name, v)


@pytest.mark.parametrize("old, new, message", [
    ("Data Width : 256Bits", "Data Width : " + "9" * 5000 + "Bits", r"Data Width = 9{77}\.\.\. Bits"),
    ("Data Width : 256Bits", "Data Width : 12Bits", r"Data Width = 12 Bits \(must be a multiple of 8"),
    ("Capacity   : 512KB", "Capacity   : 1e30KB", r"Capacity = 1e30KB"),
    ("Read Latency = 2100.000ps", "Read Latency = 1e999ps", r"read_latency_ns = inf \(must be > 0 and in"),
    ("Read Latency = 2100.000ps", "Read Latency = 5e20ps", r"read_latency_ns = 5e\+17 \(must be > 0 and in \[0, 1e\+06\]\)"),
])
def test_nvsim_fields_out_of_range_name_the_field(tmp_path, old, new, message):
    assert old in NVSIM
    path = tmp_path / "n.txt"
    path.write_text(NVSIM.replace(old, new, 1))
    with pytest.raises(UserError, match=message):
        nvsim.parse_nvsim_output(path)


def test_nvsim_file_read_with_a_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    with open(path, "wb") as fh:
        fh.truncate(nvsim.MAX_BYTES + 1)
    with pytest.raises(UserError, match=r"big.txt: larger than"):
        nvsim.parse_nvsim_output(path)
    with pytest.raises(UserError, match=r"/dev/zero: not a regular file"):
        nvsim.parse_nvsim_output("/dev/zero")

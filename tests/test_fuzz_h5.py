"""Fuzz: run files given to ``trace show|export`` and ``train --from`` (its reader, `read_ledger`), mutated
by bit flips, truncation, zeroed blocks and crafted attributes and fields of a real small run file.

Each case is a valid result (exit 0; for the ledger, probabilities in [0, 1]) or exit 2 with one
stderr line; never a traceback, a hang (the metadata walk's time limit is lowered to 2 s here) or an
output larger than the run's own DRAM traffic.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.errors import UserError
from simulator import cli, h5read, run, schema
from simulator.cli_train import read_ledger
from simulator.config import load_config
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent
FUZZ = settings(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzzh5")
    return run(load_config(make_config(d)), "tiny_mlp", out=d / "run.h5", seed=1).path


@pytest.fixture(autouse=True)
def short_walk(monkeypatch):
    monkeypatch.setattr(h5read, "METADATA_TIMEOUT_S", 2.0)


def _main(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_clean(code: int, err: str) -> None:
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and ": " in lines[0] and len(lines[0]) <= 500, err


def check_ledger(path: Path) -> None:
    try:
        _, _, records = read_ledger(path)
    except UserError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 500, str(exc)
        return
    for rec in records:
        for k in ("p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention"):
            assert 0.0 <= rec[k] <= 1.0, (k, rec[k])
        assert rec["bits_written"] >= 0 and rec["bits_read"] >= 0


def check_all(path: Path, tmp: Path, capsys) -> None:
    assert_clean(*_main(["trace", "show", path], capsys))
    out = tmp / "out.trace"
    code, err = _main(["trace", "export", path, "--dram", out], capsys)
    assert_clean(code, err)
    if code == 0:
        with h5py.File(path) as f:
            lay = f["layers"][()]
        budget = int(lay["dram_read_bytes"].sum() + lay["dram_write_bytes"].sum())
        assert out.stat().st_size <= (budget // 64 + 10_000) * h5read.DRAM_LINE_BYTES
    check_ledger(path)


def _mutated(src: Path, tmp: Path, change) -> Path:
    data = bytearray(src.read_bytes())
    change(data)
    path = tmp / "m.h5"
    path.write_bytes(bytes(data))
    return path


def test_the_unmutated_file_is_read(run_file, tmp_path, capsys):
    assert _main(["trace", "show", run_file], capsys)[0] == 0
    assert _main(["trace", "export", run_file, "--dram", tmp_path / "o.trace"], capsys)[0] == 0
    _, _, records = read_ledger(run_file)
    assert records


@settings(FUZZ, max_examples=25)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4))
def test_fuzz_bit_flips(run_file, tmp_path, capsys, flips):
    def change(b):
        for where, bit in flips:
            b[int(where * len(b))] ^= 1 << bit
    check_all(_mutated(run_file, tmp_path, change), tmp_path, capsys)


@settings(FUZZ, max_examples=15)
@given(keep=st.floats(0, 1, exclude_max=True))
def test_fuzz_truncation(run_file, tmp_path, capsys, keep):
    def change(b):
        del b[int(keep * len(b)):]
    check_all(_mutated(run_file, tmp_path, change), tmp_path, capsys)


@settings(FUZZ, max_examples=12)
@given(block=st.floats(0, 1, exclude_max=True))
def test_fuzz_zeroed_blocks(run_file, tmp_path, capsys, block):
    def change(b):
        at = int(block * len(b)) // 512 * 512
        b[at:at + 512] = bytes(len(b[at:at + 512]))
    check_all(_mutated(run_file, tmp_path, change), tmp_path, capsys)


def _crafted(run_file: Path, tmp: Path, edit) -> Path:
    path = tmp / "c.h5"
    shutil.copy(run_file, path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def _set_attr(name, value):
    def edit(f):
        if value is None:
            del f.attrs[name]
        else:
            f.attrs[name] = value
    return edit


def _timeline_row(field, value, unit="dram"):
    def edit(f):
        tl = f["timeline"]
        rows = tl[()]
        units = [u.decode() if isinstance(u, bytes) else u for u in f.attrs["hw_units"]]
        i = int(np.nonzero(rows["hw_unit"] == units.index(unit))[0][0])
        row = rows[i:i + 1].copy()
        row[field] = value
        tl[i] = row[0]
    return edit


def _table_value(table, field, value):
    def edit(f):
        rows = f[table][()]
        rows[field][0] = value
        attrs = dict(f[table].attrs)
        del f[table]
        f.create_dataset(table, data=rows)
        for k, v in attrs.items():
            f[table].attrs[k] = v
    return edit


def _enlarge_timeline(f):
    rows = f["timeline"][()]
    del f["timeline"]
    ds = f.create_dataset("timeline", data=rows, chunks=(1024,), maxshape=(None,))
    ds.resize((1 << 40,))


def _replace(name, data):
    def edit(f):
        del f[name]
        f.create_dataset(name, data=data)
    return edit


CRAFTED = {
    "schema_version 2.0": (_set_attr("schema_version", "2.0"), r"schema_version 2.0 \(this reader reads 1.0 to"),
    "schema_version 1.999": (_set_attr("schema_version", "1.999"), r"a newer simulator wrote it"),
    "schema_version text": (_set_attr("schema_version", "abc"), r"schema_version abc \(not MAJOR.MINOR"),
    "schema_version int": (_set_attr("schema_version", 7), r"attribute schema_version = 7 \(must be text"),
    "no schema_version": (_set_attr("schema_version", None), r"no `schema_version` attribute"),
    "clock nan": (_set_attr("clock_ghz", float("nan")), r"attribute clock_ghz = nan"),
    "clock text": (_set_attr("clock_ghz", "fast"), r"attribute clock_ghz = "),
    "total_cycles negative": (_set_attr("total_cycles", -5), r"attribute total_cycles = -5"),
    "hw_units empty": (_set_attr("hw_units", np.zeros(0, "S1")), r"attribute hw_units"),
    "config_yaml bomb": (_set_attr("config_yaml", "[" * 5000), r"config_yaml"),
    "dram bytes 2^62": (_timeline_row("bytes", 1 << 62), r"/timeline DRAM transfers add up to more than"),
    "phase code 99": (_timeline_row("phase", 99, "pe_array"), r"/timeline row \d+: phase code 99"),
    "hw_unit code 120": (_timeline_row("hw_unit", 120, "pe_array"), r"/timeline row \d+: hw_unit code 120"),
    "ends before it starts": (_timeline_row("t_end_cycles", -1, "pe_array"), r"t_end_cycles = -1|ends before"),
    "timeline 2^40 rows": (_enlarge_timeline, r"/timeline claims 1,099,511,627,776 rows but stores only part"),
    "layers 2-D": (_replace("layers", np.zeros((3, 3))), r"/layers has shape \(3, 3\)"),
    "timeline without fields": (_replace("timeline", np.zeros(4, [("t_start_cycles", "i8")])),
                                r"/timeline lacks field 't_end_cycles'"),
    "layers dram bytes 2^62": (_table_value("layers", "dram_read_bytes", 1 << 62), r"more than the .* bytes free"),
    "layer energy nan": (_table_value("layers", "energy_mac_pj", float("nan")), r"energy_mac_pj = nan"),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_files_give_one_line(run_file, tmp_path, capsys, name):
    import re

    edit, message = CRAFTED[name]
    path = _crafted(run_file, tmp_path, edit)
    codes = []
    for argv in (["trace", "show", path], ["trace", "export", path, "--dram", tmp_path / "o.trace"]):
        code, err = _main(argv, capsys)
        assert_clean(code, err)
        codes.append((code, err))
    assert any(code == 2 and re.search(message, err) for code, err in codes), codes
    assert not (tmp_path / "o.trace").exists() or codes[1][0] == 0
    check_ledger(path)


@pytest.mark.parametrize("edit, message", [
    (_table_value("errors", "p_write_p2ap", 2.0), r"/errors row 0: p_write_p2ap = 2.0 \(not a probability"),
    (_table_value("errors", "p_read_disturb", -1e-3), r"p_read_disturb = -0.001"),
    (_table_value("errors", "bits_written", -7), r"bits_written = -7 \(negative"),
    (_table_value("errors", "tensor_class", 77), r"tensor_class code 77"),
    (_set_attr("schema_version", "3.1"), r"schema_version 3.1"),
])
def test_crafted_ledgers_are_refused_by_train_from(run_file, tmp_path, edit, message):
    with pytest.raises(UserError, match=message):
        read_ledger(_crafted(run_file, tmp_path, edit))


@pytest.mark.parametrize("content", [bytes(512), h5read.SIGNATURE + bytes(504), b"\x89HDF\r\n\x1a\n\x00" + b"\xff" * 200])
def test_zeroed_and_fake_headers_exit_2_in_a_real_process(tmp_path, content):
    path = tmp_path / "z.h5"
    path.write_bytes(content)
    commands = [["trace", "show", path]] + ([["train", "--from", path]] if content == bytes(512) else [])
    for argv in commands:
        p = subprocess.run([sys.executable, "-m", "simulator", *map(str, argv)], capture_output=True, text=True,
                           cwd=REPO, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_a_metadata_hang_is_cut_by_the_time_limit(run_file, tmp_path, monkeypatch):
    """A walk that never ends (a stand-in for libhdf5 looping on corrupt metadata) is killed."""
    import time

    monkeypatch.setattr(h5read, "_walk", lambda f: time.sleep(60))
    t = time.monotonic()
    with pytest.raises(UserError, match=r"metadata did not read within 2 s"):
        h5read.open_file(run_file)
    assert time.monotonic() - t < 20


def test_truncated_superblock_is_refused_before_h5py(run_file, tmp_path):
    data = run_file.read_bytes()
    path = tmp_path / "t.h5"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match=r"truncated: the HDF5 superblock says [\d,]+ bytes, the file has"):
        h5read.check_container(path)


_scalar = st.sampled_from([None, True, 0, -1, 7, 2 ** 70, 0.5, float("nan"), float("inf"), "", "x", "spm_act"])
_node = st.recursive(_scalar, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.sampled_from(["memories", "dram", "array", "training", "spm_act", "clock_mhz", "burst_bytes", "channels",
                     "technology", "banks", "rows"]), kids, max_size=4), max_leaves=10)


@settings(FUZZ, max_examples=25)
@given(doc=_node)
def test_fuzz_stored_config_yaml(run_file, tmp_path, capsys, doc):
    import yaml

    path = _crafted(run_file, tmp_path, _set_attr("config_yaml", yaml.safe_dump(doc)))
    for argv in (["trace", "show", path], ["trace", "export", path, "--perfetto", tmp_path / "p.json",
                                           "--dram", tmp_path / "d.trace"]):
        assert_clean(*_main(argv, capsys))

"""simulator.trace: tables, the resolved config, filtered timeline reads that touch only the chunks
they need, the op index, and one-line errors for bad files."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import yaml

from models.errors import UserError
from simulator import run, schema, trace
from simulator.config import load_config
from tests.conftest import make_config

CHUNK = 16


def rechunk(src, dst, rows: int, index: bool) -> None:
    """Copy a run file with its timeline in chunks of ``rows`` (and the op index if asked)."""
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        tl = f["timeline"][()]
        attrs = dict(f["timeline"].attrs)
        del f["timeline"]
        if "timeline_index" in f:
            del f["timeline_index"]
        ds = f.create_dataset("timeline", data=tl, chunks=(rows,), maxshape=(None,), compression="gzip")
        for k, v in attrs.items():
            ds.attrs[k] = v
        if index:
            f.create_dataset("timeline_index", data=trace.build_timeline_index(tl, chunk_rows=rows))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("reader")
    res = run(load_config(make_config(d)), "tiny_resnet", out=d / "r.h5", seed=3)
    rechunk(res.path, d / "plain.h5", CHUNK, index=False)
    rechunk(res.path, d / "indexed.h5", CHUNK, index=True)
    return res, d / "plain.h5", d / "indexed.h5"


def naive(tl, ids=None, phases=None, ops=None, units=None, window=None, stalls_only=False):
    keep = []
    for r in tl:
        if ids is not None and r["layer_id"] not in ids:
            continue
        if phases is not None and schema.PHASES[r["phase"]] not in phases:
            continue
        if ops is not None and schema.OPS[r["op"]] not in ops:
            continue
        if units is not None and r["hw_unit"] not in units:
            continue
        if window is not None and not (r["t_end_cycles"] > window[0] and r["t_start_cycles"] < window[1]):
            continue
        if stalls_only and r["stall"] == trace.NO_STALL_CODE:
            continue
        keep.append(r)
    return np.array(keep, dtype=tl.dtype) if keep else np.zeros(0, tl.dtype)


def test_tables_attributes_and_config(files):
    res, plain, _ = files
    with trace.open(plain) as tr:
        assert tr.workload == "tiny_resnet" and tr.seed == 3 and tr.clock_ghz == 1.0
        assert tr.schema_version == schema.SCHEMA_VERSION
        assert tr.hw_units == tuple(res.hw_units)
        assert tr.total_cycles == res.total_cycles == int(tr.layers["total_cycles"].sum())
        assert tr.config == yaml.safe_load(res.config.to_yaml())
        assert tr.config["dram"]["burst_bytes"] == res.config.dram.burst_bytes
        assert list(tr.layers["layer"]) == [str(x) for x in res.layers["layer"]]
        assert isinstance(tr.layers["layer"][0], str)
        assert np.array_equal(tr.errors["bits_written"], res.errors["bits_written"])
        assert len(tr.traffic) == len(res.traffic) and len(tr.energy) == len(res.energy)
        assert tr.timeline_rows == len(res.timeline) and tr.chunk_rows == CHUNK
        assert tr.summary()["stall_cycles"] == res.summary()["stall_cycles"]
        assert np.array_equal(tr.timeline(), res.timeline)


def test_filters_equal_a_naive_scan(files):
    res, plain, indexed = files
    tl = res.timeline
    rng = np.random.default_rng(0)
    names = sorted({str(x) for x in res.layers["layer"]})
    for path in (plain, indexed):
        with trace.open(path) as tr:
            for _ in range(25):
                layer = str(rng.choice(names)) if rng.random() < 0.6 else None
                phases = list(rng.choice(schema.PHASES, size=rng.integers(1, 3), replace=False)) \
                    if rng.random() < 0.5 else None
                unit = str(rng.choice(res.hw_units)) if rng.random() < 0.4 else None
                lo = int(rng.integers(0, res.total_cycles))
                window = (lo, lo + int(rng.integers(1, res.total_cycles // 3))) if rng.random() < 0.4 else None
                stalls = bool(rng.random() < 0.2)
                got = tr.timeline(layer=layer, phases=phases, hw_unit=unit, window=window, stalls_only=stalls)
                ids = tr.layer_ids(layer) if layer else None
                want = naive(tl, ids, phases, None, [res.hw_units.index(unit)] if unit else None, window, stalls)
                assert np.array_equal(np.sort(got, order=["t_start_cycles", "t_end_cycles", "hw_unit", "slot"]),
                                      np.sort(want, order=["t_start_cycles", "t_end_cycles", "hw_unit", "slot"])), \
                    (layer, phases, unit, window, stalls)
            got = tr.timeline(op="col2im")
            assert len(got) and np.array_equal(got, naive(tl, ops=["col2im"]))


def test_index_built_lazily_equals_the_written_one(files):
    res, plain, indexed = files
    with trace.open(plain) as a, trace.open(indexed) as b:
        assert np.array_equal(a.index, b.index)
        assert a.chunks_read == a._n_chunks()  # built by one scan
        assert b.chunks_read == 0  # read from /timeline_index
    idx = trace.build_timeline_index(res.timeline)
    key = [(int(r["layer_id"]), int(r["phase"]), int(r["op"])) for r in idx]
    assert len(set(key)) == len(key) == len(res.layers)  # each op's rows are one contiguous block
    assert (idx["t_start_cycles"][1:] >= idx["t_end_cycles"][:-1]).all()  # ops follow each other in time
    assert idx["row_start"][0] == 0 and idx["row_stop"][-1] == len(res.timeline)
    assert (idx["row_start"][1:] == idx["row_stop"][:-1]).all()


def test_narrow_questions_read_only_their_chunks(files):
    res, _, indexed = files
    with trace.open(indexed) as tr:
        n_chunks = -(-len(res.timeline) // CHUNK)
        lid = tr.layer_ids("layer2.0.conv2")
        rows = np.nonzero(np.isin(res.timeline["layer_id"], lid) & (res.timeline["phase"] == 1))[0]
        expected_chunks = set((rows // CHUNK).tolist())
        tr.chunks_read = 0
        got = tr.timeline(layer="layer2.0.conv2", phases="bwd_data")
        assert len(got) == len(rows)
        assert tr.chunks_read == len(expected_chunks) < n_chunks / 4
        tr.chunks_read = 0
        t0 = int(res.total_cycles * 0.5)
        got = tr.timeline(window=(t0, t0 + 50))
        assert 0 < tr.chunks_read < n_chunks / 4
        assert np.array_equal(got, naive(res.timeline, window=(t0, t0 + 50)))


def test_stall_slices_add_up_to_the_layers_table(files):
    res, plain, _ = files
    with trace.open(plain) as tr:
        tl = tr.timeline(hw_unit=["pe_array", "vector"])
        last_unit_end = int(tl["t_end_cycles"].max())
        final = tr.index[np.argmax(tr.index["t_end_cycles"])]
        for r in tr.layers:
            m = (tl["layer_id"] == r["layer_id"]) & (tl["phase"] == r["phase"]) & (tl["op"] == r["op"])
            d = tl["t_end_cycles"][m] - tl["t_start_cycles"][m]
            stall = tl["stall"][m]
            busy = int(d[stall == trace.NO_STALL_CODE].sum())
            assert busy == r["compute_cycles"] + r["fill_drain_cycles"] + r["vector_cycles"]
            for name in ("bank_conflict", "spm_read", "spm_write"):
                assert int(d[stall == schema.STALLS.index(name)].sum()) == r[f"{name}_cycles"], name
            dram = int(d[stall == schema.STALLS.index("dram")].sum())
            last = all(r[k] == final[k] for k in ("layer_id", "phase", "op"))
            # the step's final write-back after the last op has no slice on the unit's track
            assert dram + (tr.total_cycles - last_unit_end if last else 0) == r["dram_cycles"]


def test_bad_files_raise_one_line(files, tmp_path):
    res, plain, _ = files
    cases = {"missing": tmp_path / "nope.h5"}
    cases["text"] = tmp_path / "text.h5"
    cases["text"].write_text("not hdf5\n")
    cases["truncated"] = tmp_path / "trunc.h5"
    cases["truncated"].write_bytes(res.path.read_bytes()[: res.path.stat().st_size // 2])
    cases["other"] = tmp_path / "other.h5"
    with h5py.File(cases["other"], "w") as f:
        f["data"] = np.arange(4)
    cases["future"] = tmp_path / "future.h5"
    shutil.copy(res.path, cases["future"])
    with h5py.File(cases["future"], "a") as f:
        f.attrs["schema_version"] = "2.0"
    messages = {}
    for what, path in cases.items():
        with pytest.raises(UserError) as exc:
            trace.open(path)
        messages[what] = str(exc.value)
        assert "\n" not in messages[what] and str(path) in messages[what]
    assert "no such file" in messages["missing"]
    assert "not an HDF5 file" in messages["text"]
    assert "truncated" in messages["truncated"]
    assert "not a run file" in messages["other"]
    assert "2.0" in messages["future"]
    broken = tmp_path / "broken_index.h5"
    shutil.copy(res.path, broken)
    with h5py.File(broken, "a") as f:
        idx = trace.build_timeline_index(f["timeline"][()])
        if "timeline_index" in f:
            del f["timeline_index"]
        f.create_dataset("timeline_index", data=idx[:-1])
    with trace.open(broken) as tr, pytest.raises(UserError, match="timeline_index does not cover"):
        tr.timeline(layer="conv1")
    with trace.open(plain) as tr:
        for bad in ({"layer": "conv9"}, {"hw_unit": "gpu"}, {"phases": "fwdd"}):
            with pytest.raises(UserError) as exc:
                tr.timeline(**bad)
            assert "\n" not in str(exc.value) and str(list(bad.values())[0]) in str(exc.value)

"""docs/trace-format.md against a file the simulator writes: every documented attribute, dataset,
field, enum value and unit exists with its type, and everything in the file is documented."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from simulator import run, schema
from simulator.config import load_config
from simulator.trace import build_timeline_index
from tests.conftest import make_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "trace-format.md"
HEADING = re.compile(r"^#{2,4} (Root attributes|Dataset `(/\w+)`|Attributes of `(/\w+)`|Enum `(\w+)`|"
                     r"Hardware units|Slots)\s*$")
UNITS = {"cycles", "bytes", "bits", "pJ", "ns", "GHz", "MACs", "probability", "fraction", "address", "rows", "flag",
         "code", "—", "KiB", "mm²", "mW", "K"}


def parse_doc(text: str) -> dict[str, list[list[str]]]:
    """Tables under the known headings: {"root", "/layers", "attrs /timeline", "enum phase", ...: rows}."""
    tables: dict[str, list[list[str]]] = {}
    key = None
    for line in text.splitlines():
        m = HEADING.match(line)
        if m:
            if m.group(2):
                key = m.group(2)
            elif m.group(3):
                key = f"attrs {m.group(3)}"
            elif m.group(4):
                key = f"enum {m.group(4)}"
            else:
                key = {"Root attributes": "root", "Hardware units": "units", "Slots": "slots"}[m.group(1)]
            continue
        if line.startswith("#"):
            key = None
        if key and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            tables.setdefault(key, []).append(cells)
    return {k: rows[1:] for k, rows in tables.items()}  # drop the header row


def name(cell: str) -> str:
    return cell.strip("`")


def expected_unit(field: str) -> str | None:
    """The unit a field's name implies, or None when the name implies none."""
    for suffix, unit in (("_cycles", "cycles"), ("_bytes", "bytes"), ("_pj", "pJ"), ("_ns", "ns"), ("_ghz", "GHz"),
                         ("_kib", "KiB"), ("_mm2", "mm²"), ("_mw", "mW"), ("_k", "K")):
        if field.endswith(suffix):
            return unit
    return {"bytes": "bytes", "macs": "MACs", "bits_written": "bits", "bits_read": "bits", "word_bits": "bits"}.get(field) or (
        "probability" if field.startswith("p_") else None)


def enum_tables(doc) -> dict[str, dict[str, int]]:
    return {k.split()[1]: {name(r[1]): int(r[0]) for r in rows} for k, rows in doc.items() if k.startswith("enum ")}


def type_of_field(dt: np.dtype, enums: dict[str, dict[str, int]]) -> str:
    mapping = h5py.check_enum_dtype(dt)
    if mapping is not None:
        hits = [n for n, m in enums.items() if m == dict(mapping)]
        return f"enum {hits[0]}" if hits else f"enum ? {dict(mapping)}"
    if h5py.check_string_dtype(dt) is not None:
        return "string"
    return {"i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64", "f8": "float64", "b1": "bool"}[
        f"{dt.kind}{dt.itemsize}"]


def type_of_attr(value) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, np.ndarray) and value.ndim == 1 and all(isinstance(v, (str, bytes)) for v in value):
        return "string[]"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    return {"i8": "int64", "f8": "float64"}[f"{np.asarray(value).dtype.kind}{np.asarray(value).dtype.itemsize}"]


@pytest.fixture(scope="module")
def doc():
    return parse_doc(DOC.read_text())


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("fmt")
    path = run(load_config(make_config(d)), "tiny_resnet", out=d / "r.h5").path
    indexed = d / "indexed.h5"
    shutil.copy(path, indexed)
    with h5py.File(indexed, "a") as f:
        if "timeline_index" not in f:
            f.create_dataset("timeline_index", data=build_timeline_index(f["timeline"][()]))
    return indexed


def test_doc_has_every_section(doc):
    for key in ("root", "/layers", "/traffic", "/energy", "/timeline", "/errors", "/memories", "/timeline_index",
                "attrs /timeline", "enum phase", "enum op", "enum tensor_class", "enum stall", "enum component",
                "units", "slots"):
        assert doc.get(key), key
    for key, rows in doc.items():
        if key.startswith("/") or key == "root" or key.startswith("attrs"):
            assert all(len(r) == 4 for r in rows), key
            for r in rows:
                assert r[2] in UNITS, (key, r)


def test_root_attributes_match(doc, run_file):
    rows = {name(r[0]): r for r in doc["root"]}
    with h5py.File(run_file, "r") as f:
        assert set(rows) == set(f.attrs), set(rows) ^ set(f.attrs)
        for attr, (_, typ, unit, _) in rows.items():
            assert type_of_attr(f.attrs[attr]) == typ, attr
            assert unit == (expected_unit(attr) or "—"), attr
        assert set(schema.ROOT_ATTRS) <= set(rows)
        assert f"`{f.attrs['schema_version']}`" in rows["schema_version"][3]


def test_every_dataset_field_type_and_unit(doc, run_file):
    enums = enum_tables(doc)
    datasets = [k for k in doc if k.startswith("/")]
    with h5py.File(run_file, "r") as f:
        assert {d.lstrip("/") for d in datasets} == set(f), set(datasets) ^ set(f)
        for ds in datasets:
            dt = f[ds].dtype
            documented = [name(r[0]) for r in doc[ds]]
            assert documented == list(dt.names), ds
            for field, typ, unit, meaning in doc[ds]:
                field = name(field)
                assert type_of_field(dt[field], enums) == typ, (ds, field)
                implied = expected_unit(field)
                if implied:
                    assert unit == implied, (ds, field, unit)
                else:
                    assert unit in ("—", "code", "address", "rows", "flag", "fraction"), (ds, field, unit)
                assert meaning, (ds, field)


def test_timeline_attributes(doc, run_file):
    rows = {name(r[0]): r for r in doc["attrs /timeline"]}
    with h5py.File(run_file, "r") as f:
        attrs = f["timeline"].attrs
        assert set(rows) == set(attrs)
        for attr, (_, typ, _, _) in rows.items():
            assert type_of_attr(attrs[attr]) == typ
        assert attrs["time_unit"] == "cycles"


def test_enum_tables_match_schema_and_file(doc, run_file):
    enums = enum_tables(doc)
    assert enums["phase"] == schema.enum_codes(schema.PHASES)
    assert enums["op"] == schema.enum_codes(schema.OPS)
    assert enums["tensor_class"] == schema.enum_codes(schema.TENSOR_CLASSES)
    assert enums["stall"] == schema.enum_codes(schema.TIMELINE_STALLS)
    assert enums["component"] == schema.enum_codes(schema.ENERGY_COMPONENTS)
    with h5py.File(run_file, "r") as f:
        assert f.attrs["stall_precedence"] == ",".join(n for n, c in sorted(enums["stall"].items(),
                                                                             key=lambda kv: kv[1])
                                                     if n != "none" and n not in schema.GATING_STATES)
        assert dict(h5py.check_enum_dtype(f["energy"].dtype["component"])) == enums["component"]
        layer_cols = [n for n in f["layers"].dtype.names if n.endswith("_cycles") and n != "total_cycles"]
        assert sorted(c[:-len("_cycles")] for c in layer_cols) == sorted(
            n for n in enums["stall"] if n != "none" and n not in schema.GATING_STATES)


def test_units_and_slots_tables_cover_the_timeline(doc, run_file):
    fixed = {name(r[0]): int(r[1]) for r in doc["units"] if r[0].startswith("`")}
    slots = {(name(r[0]), int(r[1])) for r in doc["slots"]}
    with h5py.File(run_file, "r") as f:
        units = [u.decode() if isinstance(u, bytes) else str(u) for u in f.attrs["hw_units"]]
        assert {u: i for i, u in enumerate(units[:len(fixed)])} == fixed
        tl = f["timeline"][()]
    seen = {(units[u], int(s)) for u, s in set(zip(tl["hw_unit"].tolist(), tl["slot"].tolist()))}
    for unit, slot in seen:
        key = unit if unit in fixed else "(memory name)"
        assert (key, slot) in slots, (unit, slot)
    assert {u for u, _ in seen} == set(units)

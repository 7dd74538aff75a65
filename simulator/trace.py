"""Read a run file: ``simulator.trace.open(path) -> Trace``.

Tables come back as numpy structured arrays (enum fields as their integer codes, see `schema`;
names as ``str``). The timeline is read chunk by chunk: filters by layer, phase, op, hardware unit
and time window first select row ranges from the op index (one entry per run of consecutive rows of
one (layer, phase, op); the engine runs ops one at a time, so each op is one run of rows and the runs
are disjoint in time), then read only the chunks that hold those rows. The index is the file's
``/timeline_index`` when present, else it is built on first use by one scan, one chunk at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from models.errors import UserError, shown
from models.limits import checked
from models.yamlio import parse_yaml
from simulator import h5read, schema

READER_MAJOR = "1"
DEFAULT_CHUNK_ROWS = 65536
INDEX_FIELDS = [("layer_id", "i4"), ("phase", schema.PHASE_DT), ("op", schema.OP_DT), ("row_start", "i8"),
                ("row_stop", "i8"), ("t_start_cycles", "i8"), ("t_end_cycles", "i8")]
STALL_NAMES = schema.TIMELINE_STALLS
NO_STALL_CODE = STALL_NAMES.index(schema.NO_STALL)
# (schema fields, those a file may lack: written before they were added)
_TABLE_FIELDS = {"layers": (schema.LAYERS_FIELDS, ()), "traffic": (schema.TRAFFIC_FIELDS, ()),
                 "energy": (schema.ENERGY_FIELDS, ()), "errors": (schema.ERRORS_FIELDS, h5read.OPTIONAL_ERRORS_FIELDS)}
_INDEX_DT = np.dtype([(n, t if isinstance(t, str) else "i1") for n, t in INDEX_FIELDS])


def open(path: str | Path) -> "Trace":  # noqa: A001 - the documented name, `simulator.trace.open`
    """Open a run file written by `simulator.run` (bad files raise `UserError` with one line)."""
    return Trace(path)


def _op_key(rows: np.ndarray) -> np.ndarray:
    return (rows["layer_id"].astype(np.int64) << 16) | (rows["phase"].astype(np.int64) << 8) | rows["op"].astype(
        np.int64)


def index_runs(rows: np.ndarray, row_offset: int = 0) -> np.ndarray:
    """Runs of consecutive rows with one (layer_id, phase, op), with their row and time ranges."""
    if not len(rows):
        return np.zeros(0, _INDEX_DT)
    key = _op_key(rows)
    starts = np.r_[0, np.nonzero(np.diff(key))[0] + 1]
    out = np.zeros(len(starts), _INDEX_DT)
    out["layer_id"] = rows["layer_id"][starts]
    out["phase"] = rows["phase"][starts]
    out["op"] = rows["op"][starts]
    out["row_start"] = starts + row_offset
    out["row_stop"] = np.r_[starts[1:], len(rows)] + row_offset
    out["t_start_cycles"] = np.minimum.reduceat(rows["t_start_cycles"], starts)
    out["t_end_cycles"] = np.maximum.reduceat(rows["t_end_cycles"], starts)
    return out


def merge_runs(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate per-chunk runs, joining a run that continues across a chunk boundary."""
    out: list[np.ndarray] = []
    for part in parts:
        if not len(part):
            continue
        if out:
            last, first = out[-1][-1], part[0]
            same = all(last[k] == first[k] for k in ("layer_id", "phase", "op"))
            if same and last["row_stop"] == first["row_start"]:
                joined = out[-1].copy()
                joined["row_stop"][-1] = first["row_stop"]
                joined["t_start_cycles"][-1] = min(last["t_start_cycles"], first["t_start_cycles"])
                joined["t_end_cycles"][-1] = max(last["t_end_cycles"], first["t_end_cycles"])
                out[-1] = joined
                part = part[1:]
        if len(part):
            out.append(part)
    return np.concatenate(out) if out else np.zeros(0, _INDEX_DT)


def build_timeline_index(timeline: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
    """The ``/timeline_index`` table of a whole timeline (what the writer may store)."""
    parts = [index_runs(timeline[a:a + chunk_rows], a) for a in range(0, len(timeline), chunk_rows)]
    return merge_runs(parts).astype(INDEX_FIELDS)


def _decode(arr: np.ndarray) -> np.ndarray:
    """Variable-length string fields as ``str`` objects (h5py hands back ``bytes``)."""
    if arr.dtype.names is None:
        return arr
    out = arr.copy()
    for name in arr.dtype.names:
        if arr.dtype[name] == object:
            out[name] = [v.decode() if isinstance(v, bytes) else str(v) for v in arr[name]]
    return out


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, int, np.integer)):
        return (value,)
    return tuple(value)


class Trace:
    """One run file. Use as a context manager or call `close()`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        p = self.path
        self._f = h5read.open_file(p)
        try:
            self._check()
        except BaseException:
            self._f.close()
            raise
        self.chunks_read = 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._index: np.ndarray | None = None
        self._layers: np.ndarray | None = None

    # ------------------------------------------------------------------ file and attributes
    def _check(self) -> None:
        f, p = self._f, self.path
        h5read.check_version(f, p)
        h5read.check_size(h5read.dataset(f, p, "layers", *_TABLE_FIELDS["layers"]), p, "layers")
        h5read.check_size(h5read.dataset(f, p, "timeline", schema.TIMELINE_FIELDS), p, "timeline", limit=None)
        self._clock_ghz = h5read.number_attr(f, p, "clock_ghz", 1e-3, 1e3)
        self._total_cycles = h5read.number_attr(f, p, "total_cycles", 0, 1 << 62, integer=True)
        h5read.text_attr(f, p, "config_yaml")
        units = f.attrs["hw_units"] if "hw_units" in f.attrs else None
        if units is None:
            raise UserError(f"{p}: run file has no `hw_units` attribute (written by an older simulator; run it again)")
        if not isinstance(units, np.ndarray) or units.ndim != 1 or not 1 <= len(units) <= 127 \
                or not all(isinstance(u, (bytes, str)) for u in units):
            raise UserError(f"{p}: attribute hw_units = {shown(units)} (must be 1 to 127 unit names; corrupt file)")
        self._hw_units = tuple(_text(u) for u in units)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "Trace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def attrs(self) -> dict:
        return {k: _plain(v) for k, v in self._f.attrs.items()}

    @property
    def schema_version(self) -> str:
        return _text(self._f.attrs["schema_version"])

    @property
    def workload(self) -> str:
        return h5read.text_attr(self._f, self.path, "workload", required=False)

    @property
    def seed(self) -> int:
        return h5read.number_attr(self._f, self.path, "seed", -(1 << 63), (1 << 64) - 1, integer=True, default=0)

    @property
    def clock_ghz(self) -> float:
        return self._clock_ghz

    @property
    def total_cycles(self) -> int:
        return self._total_cycles

    @property
    def seconds(self) -> float:
        return self.total_cycles / (self.clock_ghz * 1e9)

    @property
    def hw_units(self) -> tuple[str, ...]:
        return self._hw_units

    @property
    def phases(self) -> tuple[str, ...]:
        text = h5read.text_attr(self._f, self.path, "phases", required=False, default=",".join(schema.PHASES))
        phases = tuple(p for p in text.split(",") if p)
        if any(ph not in schema.PHASES for ph in phases):
            raise UserError(f"{self.path}: attribute phases = {shown(text)} (accepted: {', '.join(schema.PHASES)})")
        return phases

    @property
    def ideal_memory(self) -> bool:
        return bool(self._f.attrs.get("ideal_memory", False))

    @property
    def config_yaml(self) -> str:
        return h5read.text_attr(self._f, self.path, "config_yaml")

    @property
    def config(self) -> dict:
        """The resolved config (a plain dict: the YAML with the memories' figures filled in)."""
        doc = parse_yaml(self.config_yaml, f"{self.path}: attribute config_yaml")
        if not isinstance(doc, dict):
            raise UserError(f"{self.path}: attribute config_yaml is not a YAML mapping")
        for sec in ("array", "vector", "training", "dram", "energy", "placement", "memories"):
            if sec in doc and not isinstance(doc[sec], dict):
                raise UserError(f"{self.path}: attribute config_yaml: {sec} = {shown(doc[sec])} (must be a mapping)")
        for name, mem in (doc.get("memories") or {}).items():
            if not isinstance(mem, dict):
                raise UserError(f"{self.path}: attribute config_yaml: memories.{shown(name)} = {shown(mem)} "
                                "(must be a mapping)")
        for key in ("clock_mhz", "bandwidth_gbps", "latency_ns", "burst_bytes", "channels"):
            value = (doc.get("dram") or {}).get(key)
            if value is not None:
                checked(value, f"{self.path}: attribute config_yaml: dram.{key}", integer=key in ("burst_bytes",
                                                                                                  "channels"))
        return doc

    # ------------------------------------------------------------------ small tables
    def _table(self, name: str) -> np.ndarray:
        if name not in self._f:
            raise UserError(f"{self.path}: run file has no /{name} dataset")
        ds = h5read.dataset(self._f, self.path, name, *_TABLE_FIELDS[name])
        return _decode(h5read.read_table(ds, self.path, name, len(self.hw_units)))

    @property
    def layers(self) -> np.ndarray:
        if self._layers is None:
            self._layers = self._table("layers")
        return self._layers

    @property
    def traffic(self) -> np.ndarray:
        return self._table("traffic")

    @property
    def energy(self) -> np.ndarray:
        return self._table("energy")

    @property
    def errors(self) -> np.ndarray:
        return self._table("errors")

    @property
    def has_errors(self) -> bool:
        return "errors" in self._f

    @property
    def layer_names(self) -> dict[int, str]:
        lay = self.layers
        return {int(i): str(n) for i, n in zip(lay["layer_id"], lay["layer"])}

    def layer_ids(self, layer) -> list[int]:
        """Layer ids for a name, an id, or an iterable of them; unknown names raise `UserError`."""
        names = self.layer_names
        by_name: dict[str, list[int]] = {}
        for i, n in names.items():
            by_name.setdefault(n, []).append(i)
        ids: list[int] = []
        for item in _as_tuple(layer):
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                if int(item) not in names:
                    raise UserError(f"{self.path}: no layer with id {item} (ids 0 to {max(names)})")
                ids.append(int(item))
            elif str(item) in by_name:
                ids.extend(by_name[str(item)])
            else:
                shown = ", ".join(list(by_name)[:12]) + (", ..." if len(by_name) > 12 else "")
                raise UserError(f"{self.path}: no layer named {str(item)!r} ({len(by_name)} layers: {shown})")
        return ids

    def unit_codes(self, hw_unit) -> list[int]:
        units = self.hw_units
        out = []
        for u in _as_tuple(hw_unit):
            if u not in units:
                raise UserError(f"{self.path}: no hardware unit {u!r} (accepted: {', '.join(units)})")
            out.append(units.index(u))
        return out

    # ------------------------------------------------------------------ timeline
    @property
    def timeline_rows(self) -> int:
        return int(self._f["timeline"].shape[0])

    @property
    def chunk_rows(self) -> int:
        chunks = self._f["timeline"].chunks
        return int(chunks[0]) if chunks else DEFAULT_CHUNK_ROWS

    def _chunk(self, i: int) -> np.ndarray:
        """Chunk i of the timeline, decompressed once and kept in a two-entry cache."""
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        n = self.chunk_rows
        try:
            rows = self._f["timeline"][i * n:(i + 1) * n]
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.path}: cannot read /timeline rows {i * n}-{(i + 1) * n} "
                            f"(truncated or corrupt file: {_first_line(exc)})") from None
        h5read.check_codes(rows, self.path, "timeline", len(self.hw_units), i * n)
        self.chunks_read += 1
        self._cache[i] = rows
        while len(self._cache) > 2:
            self._cache.popitem(last=False)
        return rows

    @property
    def index(self) -> np.ndarray:
        """The op index: one row per run of timeline rows of one (layer_id, phase, op)."""
        if self._index is None:
            if "timeline_index" in self._f:
                ds = h5read.dataset(self._f, self.path, "timeline_index", INDEX_FIELDS)
                idx = h5read.read_table(ds, self.path, "timeline_index").astype(_INDEX_DT)
                rows = self.timeline_rows
                if len(idx) and not (idx["row_start"][0] == 0 and idx["row_stop"][-1] == rows
                                     and (idx["row_start"][1:] == idx["row_stop"][:-1]).all()) \
                        or (not len(idx) and rows):
                    raise UserError(f"{self.path}: /timeline_index does not cover the {rows} rows of /timeline "
                                    "(corrupt file)")
                self._index = idx
            else:
                n = self.chunk_rows
                parts = [index_runs(self._chunk(i), i * n) for i in range(self._n_chunks())]
                self._index = merge_runs(parts)
        return self._index

    def _n_chunks(self) -> int:
        return -(-self.timeline_rows // self.chunk_rows)

    def select_runs(self, layer=None, phases=None, op=None, window=None) -> np.ndarray:
        """Index entries that may hold rows matching the filters (see `iter_timeline`)."""
        idx = self.index
        m = np.ones(len(idx), bool)
        if layer is not None:
            m &= np.isin(idx["layer_id"], self.layer_ids(layer))
        if phases is not None:
            m &= np.isin(idx["phase"], [_code(schema.PHASES, p, "phase", self.path) for p in _as_tuple(phases)])
        if op is not None:
            m &= np.isin(idx["op"], [_code(schema.OPS, o, "op", self.path) for o in _as_tuple(op)])
        lo, hi = _window(window)
        m &= (idx["t_end_cycles"] > lo) & (idx["t_start_cycles"] < hi)
        return idx[m]

    def iter_timeline(self, layer=None, phases=None, op=None, hw_unit=None, window=None,
                      stalls_only: bool = False) -> Iterator[np.ndarray]:
        """Matching timeline rows, a chunk's worth at a time, in file order.

        ``layer``: a name or id (or several); ``phases``/``op``/``hw_unit``: names (or several);
        ``window``: (t0, t1) in cycles, either end None, keeps rows that overlap [t0, t1);
        ``stalls_only``: rows whose ``stall`` is not ``none``. Only the chunks holding rows of the
        selected ops are read.
        """
        runs = self.select_runs(layer, phases, op, window)
        units = self.unit_codes(hw_unit) if hw_unit is not None else None
        ids = self.layer_ids(layer) if layer is not None else None
        ph = [_code(schema.PHASES, p, "phase", self.path) for p in _as_tuple(phases)] if phases is not None else None
        ops = [_code(schema.OPS, o, "op", self.path) for o in _as_tuple(op)] if op is not None else None
        lo, hi = _window(window)
        n = self.chunk_rows
        ranges = _merge_ranges(runs["row_start"], runs["row_stop"])
        by_chunk: dict[int, list[tuple[int, int]]] = {}
        for a, b in ranges:
            for c in range(a // n, (b - 1) // n + 1):
                by_chunk.setdefault(c, []).append((max(a, c * n) - c * n, min(b, (c + 1) * n) - c * n))
        for c in sorted(by_chunk):
            chunk = self._chunk(c)
            rows = np.concatenate([chunk[a:b] for a, b in by_chunk[c]])
            m = (rows["t_end_cycles"] > lo) & (rows["t_start_cycles"] < hi)
            if ids is not None:
                m &= np.isin(rows["layer_id"], ids)
            if ph is not None:
                m &= np.isin(rows["phase"], ph)
            if ops is not None:
                m &= np.isin(rows["op"], ops)
            if units is not None:
                m &= np.isin(rows["hw_unit"], units)
            if stalls_only:
                m &= rows["stall"] != NO_STALL_CODE
            rows = rows[m]
            if len(rows):
                yield rows

    def timeline(self, layer=None, phases=None, op=None, hw_unit=None, window=None,
                 stalls_only: bool = False) -> np.ndarray:
        """All matching timeline rows as one structured array (filters as in `iter_timeline`)."""
        parts = list(self.iter_timeline(layer, phases, op, hw_unit, window, stalls_only))
        if not parts:
            return np.zeros(0, self._f["timeline"].dtype)
        return np.concatenate(parts)

    # ------------------------------------------------------------------ totals
    def summary(self) -> dict:
        """Totals from /layers (the keys of `RunResult.summary` that a file holds)."""
        lay = self.layers
        stalls = {s: int(lay[f"{s}_cycles"].sum()) for s in schema.STALL_REPORT_ORDER}
        energy = {c: float(lay[f"energy_{c}_pj"].sum()) for c in schema.ENERGY_COMPONENTS}
        return {"workload": self.workload, "total_cycles": self.total_cycles, "simulated_seconds": self.seconds,
                "stall_cycles": stalls, "energy_pj": energy, "total_energy_pj": sum(energy.values()),
                "macs": int(lay["macs"].sum()), "dram_read_bytes": int(lay["dram_read_bytes"].sum()),
                "dram_write_bytes": int(lay["dram_write_bytes"].sum()), "path": str(self.path)}


def _merge_ranges(starts: np.ndarray, stops: np.ndarray) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(zip(starts.tolist(), stops.tolist())):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _window(window) -> tuple[float, float]:
    if window is None:
        return -np.inf, np.inf
    lo, hi = window
    return (-np.inf if lo is None else lo), (np.inf if hi is None else hi)


def _code(names: tuple[str, ...], value, what: str, path) -> int:
    if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(names):
        return int(value)
    if value in names:
        return names.index(value)
    raise UserError(f"{path}: unknown {what} {value!r} (accepted: {', '.join(names)})")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]

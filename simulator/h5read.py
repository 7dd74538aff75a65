"""Run files opened for reading, checked before use (``trace show|export|diff`` and ``train --from``).

Before h5py sees a file: it must be a regular file with the HDF5 signature at offset 0 and a
superblock whose end-of-file address fits the file's size (a truncated or zeroed file is refused
here). Then the file's metadata (and its small tables) is walked once in a forked child with a time limit
(`METADATA_TIMEOUT_S`): libhdf5 can loop forever on corrupt metadata, and a C loop cannot be
interrupted, so the child meets it first and is killed; the parent then opens a file whose
metadata reads are known to finish. Datasets are checked against `simulator.schema` (fields, kinds,
enum mappings, one dimension, size bounded by `MAX_TABLE_BYTES` / `MAX_CHUNK_ROWS`), enum codes and
indexes against their ranges as rows are read. Every failure is one `UserError` line.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import struct
import time
from pathlib import Path

import h5py
import numpy as np

from models.errors import UserError, shown
from simulator import schema

SIGNATURE = b"\x89HDF\r\n\x1a\n"
READER_MAJOR = "1"
METADATA_TIMEOUT_S = 10.0  # the walk takes well under a second on a good file of any size
MAX_TABLE_BYTES = 512 << 20  # a table read whole (/layers, /traffic, /energy, /errors, /timeline_index)
MAX_CHUNK_ROWS = 1 << 22  # timeline rows per HDF5 chunk (the writer uses 65536)
MAX_ATTR_BYTES = 16 << 20  # config_yaml and the other root attributes
OPTIONAL_ERRORS_FIELDS = ("field", "p_residual")  # /errors columns added after 1.0

# schema enum name tuples by field, for code range checks
ENUMS = {"phase": schema.PHASES, "op": schema.OPS, "tensor_class": schema.TENSOR_CLASSES,
         "stall": schema.STALLS + (schema.NO_STALL,)}


def _fail(path, message: str) -> UserError:
    return UserError(f"{path}: {message}")


def _first_line(exc: BaseException) -> str:
    return shown(" ".join(str(exc).split()) or type(exc).__name__, 160)


# ------------------------------------------------------------------ before h5py


def check_container(path: str | Path, what: str = "run file") -> Path:
    """A regular file that starts with an HDF5 superblock whose end-of-file fits the file's size."""
    p = Path(path)
    try:
        info = os.stat(p)
    except OSError as exc:
        raise _fail(p, "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc.strerror})") \
            from None
    if stat.S_ISDIR(info.st_mode):
        raise _fail(p, f"is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise _fail(p, f"not a regular file (expected a {what})")
    try:
        with open(p, "rb") as fh:
            head = fh.read(128)
    except OSError as exc:
        raise _fail(p, f"cannot read ({exc.strerror})") from None
    if head[:8] != SIGNATURE:
        raise _fail(p, f"not an HDF5 file (expected a {what} from `python -m simulator workload`)")
    eof = _superblock_eof(head)
    if eof is None:
        raise _fail(p, "HDF5 superblock is corrupt (unknown version or field sizes)")
    if eof > info.st_size:
        raise _fail(p, f"truncated: the HDF5 superblock says {eof:,} bytes, the file has {info.st_size:,}")
    return p


def _superblock_eof(head: bytes) -> int | None:
    """base address + end-of-file address from a superblock at offset 0 (HDF5 file format spec, II.A)."""
    if len(head) < 12:
        return None
    version = head[8]
    if version in (0, 1):
        size_o, size_l = head[13], head[14]
        first = 24 if version == 0 else 28
    elif version in (2, 3):
        size_o, size_l = head[9], head[10]
        first = 12
    else:
        return None
    if size_o not in (2, 4, 8) or size_l not in (2, 4, 8) or len(head) < first + 4 * size_o:
        return None
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[size_o]
    base = struct.unpack_from(fmt, head, first)[0]
    eof = struct.unpack_from(fmt, head, first + 2 * size_o)[0]  # after base and free-space/extension address
    return base + eof


def _walk(f: h5py.File) -> None:
    """Touch every piece of metadata a reader may use: objects, attributes, dtypes, chunk indexes, and
    read every table but the timeline whole (their variable-length strings sit in heaps that can loop
    too; the timeline's rows are fixed-size numbers, read chunk by chunk through the index walked here)."""
    for key in f.attrs:
        f.attrs[key]
    names = list(f)
    for name in names:
        obj = f[name]
        for key in obj.attrs:
            obj.attrs[key]
        if isinstance(obj, h5py.Dataset):
            obj.dtype, obj.shape, obj.chunks
            if obj.chunks is not None and obj.size:
                for i in range(obj.id.get_num_chunks()):
                    obj.id.get_chunk_info(i)
            if name != "timeline" and obj.size * obj.dtype.itemsize <= MAX_TABLE_BYTES:
                obj[()]


def _walk_in_child(p: Path) -> str | None:
    """Walk the metadata in a forked child; None if it finished, else what went wrong."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the first line of any failure, exit without cleanup
        os.close(read)
        status = 0
        try:
            with h5py.File(p, "r") as f:
                _walk(f)
        except BaseException as exc:  # noqa: BLE001 - everything becomes the message
            os.write(write, _first_line(exc).encode()[:400])
            status = 1
        os._exit(status)
    os.close(write)
    deadline = time.monotonic() + METADATA_TIMEOUT_S
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([read], [], [], max(0.0, left))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return f"its metadata did not read within {METADATA_TIMEOUT_S:g} s (corrupt file)"
            data = os.read(read, 4096)
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(read)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    if os.WIFSIGNALED(status):
        return f"libhdf5 crashed reading it (signal {os.WTERMSIG(status)}; corrupt file)"
    return f"corrupt HDF5 metadata ({b''.join(chunks).decode(errors='replace') or 'unreadable'})"


def open_file(path: str | Path, what: str = "run file") -> h5py.File:
    """`check_container`, the timed metadata walk, then ``h5py.File(path, "r")``."""
    p = check_container(path, what)
    problem = _walk_in_child(p)
    if problem is not None:
        raise _fail(p, problem)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise _fail(p, f"cannot open, the HDF5 file is truncated or corrupt ({_first_line(exc)})") from None


# ------------------------------------------------------------------ inside the file


def text_attr(f: h5py.File, p, name: str, required: bool = True, default: str = "") -> str:
    """A root attribute that must be a string (bytes or str), at most `MAX_ATTR_BYTES`."""
    if name not in f.attrs:
        if required:
            raise _fail(p, f"run file has no `{name}` attribute (written by an older simulator; run it again)")
        return default
    value = f.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        if len(value) > MAX_ATTR_BYTES:
            raise _fail(p, f"attribute {name} is larger than {MAX_ATTR_BYTES >> 20} MiB")
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise _fail(p, f"attribute {name} is not UTF-8 text (corrupt file)") from None
    if not isinstance(value, str):
        raise _fail(p, f"attribute {name} = {shown(value)} (must be text; corrupt file)")
    return value


def number_attr(f: h5py.File, p, name: str, lo: float, hi: float, integer: bool = False, default=None):
    """A root attribute that must be one finite number in [lo, hi]."""
    if name not in f.attrs:
        if default is not None:
            return default
        raise _fail(p, f"run file has no `{name}` attribute (written by an older simulator; run it again)")
    value = f.attrs[name]
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, np.generic):
        value = value.item()
    kinds = (np.integer, int) if integer else (np.integer, np.floating, int, float)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds) or not np.isfinite(value) \
            or not lo <= value <= hi:
        raise _fail(p, f"attribute {name} = {shown(value)} (must be {'an integer' if integer else 'a number'} "
                       f"in [{lo:g}, {hi:g}]; corrupt file)")
    return int(value) if integer else float(value)


def check_version(f: h5py.File, p) -> str:
    """``schema_version`` major.minor, major `READER_MAJOR`, minor at most this simulator's."""
    if "schema_version" not in f.attrs:
        raise _fail(p, "an HDF5 file but not a run file of this simulator (no `schema_version` attribute; "
                       "expected a file from `python -m simulator workload`)")
    version = text_attr(f, p, "schema_version")
    parts = version.split(".")
    ours = schema.SCHEMA_VERSION.split(".")
    if len(parts) != 2 or not all(x.isdigit() and len(x) <= 4 for x in parts):
        raise _fail(p, f"schema_version {shown(version)} (not MAJOR.MINOR; this reader reads {READER_MAJOR}.0 "
                       f"to {schema.SCHEMA_VERSION})")
    if parts[0] != READER_MAJOR or int(parts[1]) > int(ours[1]):
        raise _fail(p, f"schema_version {shown(version)} (this reader reads {READER_MAJOR}.0 to "
                       f"{schema.SCHEMA_VERSION}; a newer simulator wrote it)")
    return version


def _kind(dt) -> str:
    if h5py.check_string_dtype(dt) is not None or dt.kind in "OSU":
        return "text"
    if h5py.check_enum_dtype(dt) is not None:
        return "enum"
    return {"i": "int", "u": "int", "b": "int", "f": "float"}.get(dt.kind, dt.kind)


def dataset(f: h5py.File, p, name: str, fields, optional=()) -> h5py.Dataset:
    """``/name``: a 1-D compound dataset with ``fields`` (schema's (name, dtype) list; those in ``optional``
    may be absent) of the right kinds, enum mappings equal to the schema's."""
    if name not in f or not isinstance(f.get(name), h5py.Dataset):
        raise _fail(p, f"no /{name} table (truncated, or not a run file from `python -m simulator workload`)")
    ds = f[name]
    names = ds.dtype.names or ()
    if len(ds.shape) != 1 or not names:
        raise _fail(p, f"/{name} has shape {ds.shape} and {len(names)} fields (a 1-D table expected; corrupt file)")
    for field, expected in fields:
        if field not in names and field in optional:
            continue
        if field not in names:
            raise _fail(p, f"/{name} lacks field {field!r} (written by an older simulator; run it again)")
        got_dt, exp_dt = ds.dtype[field], np.dtype(expected)
        got, exp = _kind(got_dt), _kind(exp_dt)
        if field in optional and exp != "float" and got in ("text", "enum", "int"):
            continue  # an added column that files store as text or codes (e.g. /errors field)
        if exp == "enum":
            mapping = h5py.check_enum_dtype(got_dt)
            if got == "int" and mapping is None:
                continue  # codes stored as plain integers; their range is checked on read
            if mapping is None or dict(mapping) != dict(h5py.check_enum_dtype(exp_dt)):
                raise _fail(p, f"/{name} field {field!r} is not the schema's enum (corrupt or foreign file)")
        elif got != exp and not (exp == "int" and got == "enum"):
            raise _fail(p, f"/{name} field {field!r} is {got}, the schema has {exp} (corrupt or foreign file)")
    return ds


def check_size(ds: h5py.Dataset, p, name: str, limit: int | None = MAX_TABLE_BYTES) -> None:
    """At most ``limit`` bytes (None: no limit), and every chunk of its rows stored (a dataset whose shape
    was enlarged without data would read as endless zeros)."""
    rows = int(ds.shape[0])
    nbytes = rows * ds.dtype.itemsize
    if limit is not None and nbytes > limit:
        raise _fail(p, f"/{name} claims {rows:,} rows ({nbytes:,} bytes; the limit is {limit >> 20} MiB)")
    if ds.chunks is not None:
        if not 1 <= ds.chunks[0] <= MAX_CHUNK_ROWS:
            raise _fail(p, f"/{name} has chunks of {ds.chunks[0]:,} rows (at most {MAX_CHUNK_ROWS:,}; corrupt file)")
        need = -(-rows // ds.chunks[0])
        have = ds.id.get_num_chunks()
    else:
        need, have = nbytes, ds.id.get_storage_size() if rows else 0
    if have < need:
        raise _fail(p, f"/{name} claims {rows:,} rows but stores only part of them (truncated or corrupt file)")


def read_table(ds: h5py.Dataset, p, name: str, n_units: int | None = None) -> np.ndarray:
    """Read a whole table (bounded by `MAX_TABLE_BYTES`), its codes checked (`check_codes`)."""
    check_size(ds, p, name)
    try:
        rows = ds[()]
    except (OSError, ValueError, TypeError) as exc:
        raise _fail(p, f"cannot read /{name} (corrupt file: {_first_line(exc)})") from None
    check_codes(rows, p, name, n_units)
    return rows


def check_codes(rows: np.ndarray, p, name: str, n_units: int | None = None, row0: int = 0) -> None:
    """Enum codes in range, ``hw_unit`` an index into ``hw_units``, counts and times not negative."""
    names = rows.dtype.names or ()
    for field, values in ENUMS.items():
        if field in names:
            _in_range(rows[field], len(values), p, name, field, row0)
    if n_units is not None and "hw_unit" in names:
        _in_range(rows["hw_unit"], n_units, p, name, "hw_unit", row0)
    for field in names:
        if (field.endswith(("_bytes", "_cycles")) or field in ("bytes", "macs", "bits_written", "bits_read")) \
                and rows.dtype[field].kind in "iu" and len(rows) and int(rows[field].min()) < 0:
            i = int(np.argmin(rows[field]))
            raise _fail(p, f"/{name} row {row0 + i}: {field} = {int(rows[field][i])} (negative; corrupt file)")
    for field in names:
        if rows.dtype[field].kind == "f" and len(rows) and not np.isfinite(rows[field]).all():
            i = int(np.argmin(np.isfinite(rows[field])))
            raise _fail(p, f"/{name} row {row0 + i}: {field} = {rows[field][i]} (not finite; corrupt file)")
    for field in names:
        if field.startswith("p_") and len(rows) and not ((rows[field] >= 0) & (rows[field] <= 1)).all():
            i = int(np.argmin((rows[field] >= 0) & (rows[field] <= 1)))
            raise _fail(p, f"/{name} row {row0 + i}: {field} = {rows[field][i]} (not a probability; corrupt file)")
    if {"t_start_cycles", "t_end_cycles"} <= set(names) and len(rows):
        bad = np.nonzero(rows["t_end_cycles"] < rows["t_start_cycles"])[0]
        if len(bad):
            raise _fail(p, f"/{name} row {row0 + int(bad[0])}: ends before it starts (corrupt file)")


def _in_range(codes: np.ndarray, n: int, p, name: str, field: str, row0: int) -> None:
    if not len(codes):
        return
    c = codes.astype(np.int64)
    bad = np.nonzero((c < 0) | (c >= n))[0]
    if len(bad):
        i = int(bad[0])
        raise _fail(p, f"/{name} row {row0 + i}: {field} code {int(c[i])} (accepted 0 to {n - 1}; corrupt file)")


# ------------------------------------------------------------------ output bounds

DRAM_LINE_BYTES = 48  # longest request line of either DRAM trace format (address, command, cycle)


def dram_budget_bytes(trace, out, burst_bytes: int) -> int:
    """The DRAM bytes a trace export may expand: the run's own total in /layers (dram_read_bytes +
    dram_write_bytes). Its request lines (one per burst, at most `DRAM_LINE_BYTES` each) must fit the
    free space of the output's folder; rows that add up to more than it make the file corrupt."""
    import shutil

    lay = trace.layers
    budget = int(lay["dram_read_bytes"].astype(object).sum() + lay["dram_write_bytes"].astype(object).sum())
    lines = -(-budget // burst_bytes) + trace.timeline_rows
    need = lines * DRAM_LINE_BYTES
    folder = Path(out).resolve().parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return budget
    if need > free:
        raise _fail(trace.path, f"its /layers record {budget:,} DRAM bytes: up to {need:,} bytes of trace, more "
                                f"than the {free:,} bytes free in {folder}")
    return budget


def check_dram_bytes(trace, seen_bytes: int, budget: int) -> None:
    if seen_bytes > budget:
        raise _fail(trace.path, f"/timeline DRAM transfers add up to more than the {budget:,} bytes its /layers "
                                "record (corrupt file)")

"""Tracers the engine reports timeline slices to (injected; the engine never writes files)."""

from __future__ import annotations

import numpy as np

from models.errors import UserError
from simulator import schema

_PHASE = schema.enum_codes(schema.PHASES)
_OP = schema.enum_codes(schema.OPS)
_CLASS = schema.enum_codes(schema.TENSOR_CLASSES)
_STALL = schema.enum_codes(schema.STALLS + (schema.NO_STALL,))


_ROW_DTYPE = np.dtype([(n, np.dtype(t) if isinstance(t, str) else np.dtype("i1")) for n, t in schema.TIMELINE_FIELDS])
FLUSH_ROWS = 1 << 16
RECENT_CHUNKS = 4  # chunks already written that `since` still finds in memory (fast-forward copies them)


def concat_rows(parts: list[np.ndarray]) -> np.ndarray:
    """Packed rows joined as bytes (numpy joins structured arrays field by field, ~15x slower)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([np.ascontiguousarray(p).view(np.uint8) for p in parts]).view(_ROW_DTYPE)


class NullTracer:
    """Keeps nothing: for benchmarks and callers that only want the ledgers."""

    keeps_rows = False

    def slice(self, t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
              stall=schema.NO_STALL, is_write=0) -> None:
        pass

    def table(self) -> np.ndarray:
        return np.zeros(0, dtype=schema.TIMELINE_FIELDS)

    def mark(self) -> int:
        """How many rows were kept so far."""
        return 0

    def count(self) -> int:
        """Rows of the timeline as written (after `table`)."""
        return self.mark()

    def since(self, mark: int, copy: bool = False) -> np.ndarray:
        """The rows kept since ``mark``, packed (``copy``: in an array of their own, never a view)."""
        return np.zeros(0, dtype=_ROW_DTYPE)

    def extend(self, rows: np.ndarray) -> None:
        """Append packed rows (fast-forward's copies of a period)."""




class BufferTracer(NullTracer):
    """Buffers slices as tuples, packed into structured arrays every FLUSH_ROWS rows (tuples cost
    ~10x the memory of packed rows). With a ``sink`` (`h5out.RunFile`) every whole chunk of
    FLUSH_ROWS rows goes to the file as soon as it is full, so memory does not grow with the run;
    without one, `table` builds one array at the end."""

    keeps_rows = True

    def __init__(self, hw_units: list[str], sink=None):
        self.units = {name: i for i, name in enumerate(hw_units)}
        self.rows: list[tuple] = []
        self.packed: list[np.ndarray] = []
        self.n_packed = 0  # rows in self.packed and in the sink
        self.sink = sink
        self.written = 0
        self.recent: list[np.ndarray] = []  # the last chunks written to the sink, kept for `since`

    def slice(self, t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
              stall=schema.NO_STALL, is_write=0) -> None:
        if t_end > t_start:
            self.rows.append((t_start, t_end, self.units[hw_unit], slot, layer_id, _PHASE[phase], _OP[op],
                              _CLASS[tclass], nbytes, dram_addr, _STALL[stall], is_write))
            if len(self.rows) >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self.rows:
            self._store(np.array(self.rows, dtype=_ROW_DTYPE))
            self.rows = []

    def _store(self, arr: np.ndarray) -> None:
        self.packed.append(arr)
        self.n_packed += len(arr)
        if self.sink is not None and self.n_packed - self.written >= FLUSH_ROWS:
            self._drain(final=False)

    def _drain(self, final: bool) -> None:
        pending = concat_rows(self.packed)
        cut = len(pending) if final else len(pending) // FLUSH_ROWS * FLUSH_ROWS
        for a in range(0, cut, FLUSH_ROWS):
            self.sink.append_timeline(pending[a:a + FLUSH_ROWS])
            self.recent.append(pending[a:a + FLUSH_ROWS])
        del self.recent[:-RECENT_CHUNKS]
        self.written += cut
        self.packed = [pending[cut:]] if cut < len(pending) else []

    def mark(self) -> int:
        return self.n_packed + len(self.rows)

    def since(self, mark: int, copy: bool = False) -> np.ndarray:
        self._flush()
        parts, end = [], self.n_packed
        for arr in reversed(self.recent + self.packed):  # the written chunks kept: no read back from the file
            if end <= mark:
                break
            start = end - len(arr)
            parts.append(arr[max(mark - start, 0):])
            end = start
        if mark < end:
            parts.append(self.sink.read_timeline(mark, end).astype(_ROW_DTYPE))
        if not parts:
            return np.zeros(0, dtype=_ROW_DTYPE)
        return parts[0].copy() if copy and len(parts) == 1 else concat_rows(parts[::-1])

    def extend(self, rows: np.ndarray) -> None:
        self._flush()
        for a in range(0, len(rows), FLUSH_ROWS):
            self._store(rows[a:a + FLUSH_ROWS])

    def table(self) -> np.ndarray | None:
        """The whole timeline; with a sink, the rest is written to it and None returned."""
        self._flush()
        if self.sink is not None:
            if self.packed:
                self._drain(final=True)
            return None
        arr = concat_rows(self.packed) if self.packed else np.zeros(0, dtype=_ROW_DTYPE)
        return np.ascontiguousarray(arr).view(np.dtype(schema.TIMELINE_FIELDS))  # same layout: no copy


TIMELINE_DETAILS = ("slice", "op")  # `api.run(timeline=...)`: every slice, or one row per op and stream


class OpTracer(BufferTracer):
    """A coarser timeline: one row per op and (hw_unit, slot, tensor_class, stall, is_write), from
    its first slice's start to its last slice's end, with the bytes summed and the lowest DRAM
    address. The op's slices are buffered as a `BufferTracer` does (fast-forward copies them) and
    folded when the next op's first slice arrives, so the rows are a function of the slice sequence
    alone and equal with and without fast-forward."""

    def __init__(self, hw_units: list[str], sink=None):
        super().__init__(hw_units)
        self.out_sink = sink
        self.base = 0  # slices folded so far (marks stay global)
        self.op_key: tuple | None = None
        self.folded: list[np.ndarray] = []
        self.n_folded = 0

    def slice(self, t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
              stall=schema.NO_STALL, is_write=0) -> None:
        if t_end > t_start:
            key = (layer_id, _PHASE[phase], _OP[op])
            if key != self.op_key:
                self._fold()
                self.op_key = key
            super().slice(t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass, nbytes, dram_addr, stall,
                          is_write)

    def extend(self, rows: np.ndarray) -> None:
        """Packed rows, split where their op changes (power gating's rows span every op)."""
        if not len(rows):
            return
        ops = np.stack([rows["layer_id"].astype(np.int64), rows["phase"].astype(np.int64),
                        rows["op"].astype(np.int64)], axis=1)
        cuts = np.flatnonzero((ops[1:] != ops[:-1]).any(axis=1)) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(rows)]):
            key = tuple(int(v) for v in ops[a])
            if key != self.op_key:
                self._fold()
                self.op_key = key
            super().extend(rows[a:b])

    def mark(self) -> int:
        return self.base + super().mark()

    def since(self, mark: int, copy: bool = False) -> np.ndarray:
        return super().since(mark - self.base, copy)

    def _fold(self) -> None:
        self._flush()
        if not self.packed:
            return
        rows = concat_rows(self.packed)
        self.base += len(rows)
        self.packed, self.n_packed = [], 0
        key = np.zeros(len(rows), dtype=np.int64)  # the fields as digits (layer, phase and op are the fold's)
        for name in ("hw_unit", "slot", "tensor_class", "stall", "is_write"):
            col = rows[name].astype(np.int64)
            bits = 8 * rows.dtype[name].itemsize
            key = (key << bits) + col + (1 << (bits - 1))
        order = np.argsort(key, kind="stable")  # each group's rows together, in row order
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        first = order[starts]
        out = rows[first]
        for name, fold in (("t_start_cycles", np.minimum), ("t_end_cycles", np.maximum), ("bytes", np.add),
                           ("dram_addr", np.minimum)):
            out[name] = fold.reduceat(rows[name][order], starts)
        self.folded.append(out[np.argsort(first, kind="stable")])  # in order of the groups' first slices
        self.n_folded += len(out)

    def count(self) -> int:
        return self.n_folded

    def table(self) -> np.ndarray | None:
        self._fold()
        arr = concat_rows(self.folded) if self.folded else np.zeros(0, dtype=_ROW_DTYPE)
        self.folded = [arr]
        if self.out_sink is not None:
            for a in range(0, len(arr), FLUSH_ROWS):
                self.out_sink.append_timeline(arr[a:a + FLUSH_ROWS])
            return None
        return np.ascontiguousarray(arr).view(np.dtype(schema.TIMELINE_FIELDS))


def make_tracer(detail, hw_units: list[str], sink=None) -> NullTracer:
    """The tracer for ``api.run(timeline=detail)``: True or "slice", "op", False (none)."""
    if detail is False:
        return NullTracer()
    if detail is True or detail == "slice":
        return BufferTracer(hw_units, sink)
    if detail == "op":
        return OpTracer(hw_units, sink)
    raise UserError(f"timeline = {detail!r} (must be one of {', '.join(TIMELINE_DETAILS)}, True or False)")

"""Tracers the engine reports timeline slices to (injected; the engine never writes files)."""

from __future__ import annotations

import numpy as np

from simulator import schema

_PHASE = schema.enum_codes(schema.PHASES)
_OP = schema.enum_codes(schema.OPS)
_CLASS = schema.enum_codes(schema.TENSOR_CLASSES)
_STALL = schema.enum_codes(schema.STALLS + (schema.NO_STALL,))


class NullTracer:
    """Keeps nothing: for benchmarks and callers that only want the ledgers."""

    def slice(self, t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
              stall=schema.NO_STALL, is_write=0) -> None:
        pass

    def table(self) -> np.ndarray:
        return np.zeros(0, dtype=schema.TIMELINE_FIELDS)


_ROW_DTYPE = [(n, np.dtype(t) if isinstance(t, str) else np.dtype("i1")) for n, t in schema.TIMELINE_FIELDS]
FLUSH_ROWS = 1 << 16


class BufferTracer(NullTracer):
    """Buffers slices as tuples, packed into structured arrays every FLUSH_ROWS rows (tuples cost
    ~10x the memory of packed rows), and builds one array at the end."""

    def __init__(self, hw_units: list[str]):
        self.units = {name: i for i, name in enumerate(hw_units)}
        self.rows: list[tuple] = []
        self.packed: list[np.ndarray] = []

    def slice(self, t_start, t_end, hw_unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
              stall=schema.NO_STALL, is_write=0) -> None:
        if t_end > t_start:
            self.rows.append((t_start, t_end, self.units[hw_unit], slot, layer_id, _PHASE[phase], _OP[op],
                              _CLASS[tclass], nbytes, dram_addr, _STALL[stall], is_write))
            if len(self.rows) >= FLUSH_ROWS:
                self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.packed.append(np.array(self.rows, dtype=_ROW_DTYPE))
            self.rows = []

    def table(self) -> np.ndarray:
        self._flush()
        arr = np.concatenate(self.packed) if self.packed else np.zeros(0, dtype=_ROW_DTYPE)
        return arr.astype(schema.TIMELINE_FIELDS)

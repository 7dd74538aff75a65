"""Ledgers of a run: cycles and stalls per (layer, op, phase), traffic, energy and bit errors.

Stall categories and their precedence come from `schema.STALLS`; every row's stall parts sum to
its ``total_cycles`` (a test checks it on every run it makes).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from simulator import field_pulses, protection, schema
from simulator.config import Config, MemoryConfig

# Random data: on average half the bits of a word differ from what the cell held before.
SWITCH_FRACTION = 0.5


@dataclass
class OpRow:
    layer: str
    layer_id: int
    op: str
    phase: str
    macs: int = 0
    stalls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(schema.STALLS, 0))
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    energy: dict[str, float] = field(default_factory=lambda: dict.fromkeys(schema.ENERGY_COMPONENTS, 0.0))

    @property
    def total_cycles(self) -> int:
        return sum(self.stalls.values())


class Ledger:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.rows: dict[tuple[int, str, str], OpRow] = {}
        self.traffic: dict[tuple[int, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.energy: dict[tuple[int, str, str, str, str], float] = defaultdict(float)
        self.bits: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])

    def row(self, layer: str, layer_id: int, op: str, phase: str) -> OpRow:
        key = (layer_id, op, phase)
        r = self.rows.get(key)
        if r is None:
            r = self.rows[key] = OpRow(layer, layer_id, op, phase)
        return r

    def add_stalls(self, row: OpRow, parts: dict[str, int]) -> None:
        for k, v in parts.items():
            if v:
                row.stalls[k] += v

    def _energy(self, row: OpRow, tclass: str, memory: str, component: str, pj: float) -> None:
        row.energy[component] += pj
        self.energy[(row.layer_id, row.phase, tclass, memory, component)] += pj

    def spm_access(self, row: OpRow, mem: MemoryConfig, tclass: str, read_bytes: int, write_bytes: int,
                   read_words: int | None = None, write_words: int | None = None) -> None:
        """Bytes the unit or DMA moved in ``mem``; ``*_words``: word accesses when the bytes were
        several transfers, each rounded up to whole words (default: one transfer)."""
        if not (read_bytes or write_bytes):
            return
        t = self.traffic[(row.layer_id, row.phase, tclass, mem.name)]
        t[0] += read_bytes
        t[1] += write_bytes
        if read_bytes:
            words = read_words if read_words is not None else math.ceil(read_bytes / mem.word_bytes)
            self._energy(row, tclass, mem.name, "spm_read", words * mem.read_energy_pj)
        if write_bytes:
            words = write_words if write_words is not None else math.ceil(write_bytes / mem.word_bytes)
            if mem.differential_write and mem.write_energy_pj_per_switched_bit:
                pj = words * mem.write_energy_pj_fixed + write_bytes * 8 * SWITCH_FRACTION * mem.write_energy_pj_per_switched_bit
            else:
                pj = words * mem.write_energy_pj
            self._energy(row, tclass, mem.name, "spm_write", pj)
        b = self.bits[(row.layer_id, tclass, mem.name)]
        b[0] += write_bytes * 8
        b[1] += read_bytes * 8

    def dram_access(self, row: OpRow, tclass: str, read_bytes: int, write_bytes: int) -> None:
        row.dram_read_bytes += read_bytes
        row.dram_write_bytes += write_bytes
        t = self.traffic[(row.layer_id, row.phase, tclass, "dram")]
        t[0] += read_bytes
        t[1] += write_bytes
        self._energy(row, tclass, "dram", "dram", (read_bytes + write_bytes) * 8 * self.cfg.dram.energy_pj_per_bit)

    def compute_energy(self, row: OpRow, macs: int, vector_ops: int) -> None:
        row.macs += macs
        if macs:
            self._energy(row, "none", "pe_array", "mac", macs * self.cfg.energy.mac_pj)
        if vector_ops:
            self._energy(row, "none", "vector", "vector", vector_ops * self.cfg.energy.vector_op_pj)

    def leakage(self, row: OpRow, cycles: int) -> None:
        ns = cycles / self.cfg.clock_ghz
        for mem in self.cfg.memories.values():
            self._energy(row, "none", mem.name, "leakage", mem.leakage_mw * ns)  # mW x ns = pJ

    # tables -----------------------------------------------------------------------------------
    def layers_table(self) -> np.ndarray:
        rows = sorted(self.rows.values(), key=lambda r: (r.layer_id, schema.PHASES.index(r.phase), schema.OPS.index(r.op)))
        arr = np.zeros(len(rows), dtype=schema.LAYERS_FIELDS)
        phase_codes, op_codes = schema.enum_codes(schema.PHASES), schema.enum_codes(schema.OPS)
        for i, r in enumerate(rows):
            arr[i]["layer"] = r.layer
            arr[i]["layer_id"] = r.layer_id
            arr[i]["op"] = op_codes[r.op]
            arr[i]["phase"] = phase_codes[r.phase]
            arr[i]["macs"] = r.macs
            arr[i]["total_cycles"] = r.total_cycles
            for s in schema.STALLS:
                arr[i][f"{s}_cycles"] = r.stalls[s]
            arr[i]["dram_read_bytes"] = r.dram_read_bytes
            arr[i]["dram_write_bytes"] = r.dram_write_bytes
            for c in schema.ENERGY_COMPONENTS:
                arr[i][f"energy_{c}_pj"] = r.energy[c]
        return arr

    def traffic_table(self) -> np.ndarray:
        keys = sorted(self.traffic)
        arr = np.zeros(len(keys), dtype=schema.TRAFFIC_FIELDS)
        pc, cc = schema.enum_codes(schema.PHASES), schema.enum_codes(schema.TENSOR_CLASSES)
        for i, k in enumerate(keys):
            arr[i] = (k[0], pc[k[1]], cc[k[2]], k[3], *self.traffic[k])
        return arr

    def energy_table(self) -> np.ndarray:
        keys = sorted(self.energy)
        arr = np.zeros(len(keys), dtype=schema.ENERGY_FIELDS)
        pc, cc = schema.enum_codes(schema.PHASES), schema.enum_codes(schema.TENSOR_CLASSES)
        ec = schema.enum_codes(schema.ENERGY_COMPONENTS)
        for i, k in enumerate(keys):
            arr[i] = (k[0], pc[k[1]], cc[k[2]], k[3], ec[k[4]], self.energy[k])
        return arr

    def errors_table(self) -> np.ndarray:
        """One row per (layer, tensor class, memory); with a `field` column, one per field of a memory
        with per-field write pulses (`simulator.field_pulses`) and ``all`` for the others."""
        keys = sorted(self.bits)
        per_field = any(m.field_writes for m in self.cfg.memories.values())
        cc = schema.enum_codes(schema.TENSOR_CLASSES)
        fc = schema.enum_codes(schema.ERROR_FIELD_NAMES)
        rows = []
        for layer_id, tclass, memname in keys:
            written, read, res_sum, res_w = self.bits[(layer_id, tclass, memname)]
            mem = self.cfg.memories[memname]
            residence = res_sum / res_w if res_w else 0.0
            p_ret = mem.p_retention(residence)
            head = (layer_id, cc[tclass], memname)
            if mem.field_writes:
                for name, w, r, p2ap, ap2p, res in field_pulses.field_rows(mem, written, read, p_ret, SWITCH_FRACTION):
                    rows.append(head + (w, r, SWITCH_FRACTION, residence, p2ap, ap2p, mem.p_read_disturb, p_ret, res,
                                        fc[name]))
                continue
            row = head + (int(written), int(read), SWITCH_FRACTION, residence, mem.p_write_p2ap, mem.p_write_ap2p,
                          mem.p_read_disturb, p_ret, protection.p_residual(mem, written, read, p_ret, SWITCH_FRACTION))
            rows.append(row + (fc["all"],) if per_field else row)
        dtype = schema.ERRORS_FIELDS_PER_FIELD if per_field else schema.ERRORS_FIELDS
        arr = np.zeros(len(rows), dtype=dtype)
        for i, row in enumerate(rows):
            arr[i] = row
        return arr

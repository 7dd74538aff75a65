"""The plan the engine executes: DMA transfers, tiles, and per-op and whole-step plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from workloads.phases import Op

DIRECT = "dram"  # placement target: streamed straight between DRAM and the unit, never kept on chip
PSUM_BYTES = 4  # partial sums are fp32


@dataclass(frozen=True)
class Transfer:
    """One DMA transfer between DRAM and a memory (``memory == 'dram'``: straight to the unit)."""

    tensor: str
    tclass: str
    memory: str
    nbytes: int
    to_dram: bool
    dram_addr: int


@dataclass
class Tile:
    loads: list[Transfer]
    writebacks: list[Transfer]
    # bytes the unit reads from / writes to each memory, keyed (memory, tensor class)
    spm_reads: dict[tuple[str, str], int]
    spm_writes: dict[tuple[str, str], int]
    ideal_cycles: int
    stream_cycles: int
    # (memory, read bytes, write bytes) per memory the unit touches, in name order
    per_memory: tuple[tuple[str, int, int], ...] = field(init=False, default=())

    def __post_init__(self):
        self.per_memory = self.memory_totals(self.spm_reads, self.spm_writes)

    @staticmethod
    def memory_totals(reads: dict, writes: dict) -> tuple[tuple[str, int, int], ...]:
        names = sorted({k[0] for k in reads} | {k[0] for k in writes})
        return tuple((n, sum(v for k, v in reads.items() if k[0] == n),
                      sum(v for k, v in writes.items() if k[0] == n)) for n in names)

    @classmethod
    def shared(cls, loads, writebacks, reads, writes, ideal_cycles, stream_cycles, per_memory) -> "Tile":
        """A tile whose byte dicts and totals are shared with equal tiles (nobody mutates them)."""
        t = cls.__new__(cls)
        t.loads, t.writebacks, t.spm_reads, t.spm_writes = loads, writebacks, reads, writes
        t.ideal_cycles, t.stream_cycles, t.per_memory = ideal_cycles, stream_cycles, per_memory
        return t


@dataclass
class OpPlan:
    op: Op
    pre: list[Transfer] = field(default_factory=list)
    # a list, or a lazy sequence (`emission.GemmTiles`, `VectorChunks`) that also gives ids/addresses
    tiles: Sequence[Tile] = field(default_factory=list)
    resident: dict[str, bool] = field(default_factory=dict)


@dataclass
class Plan:
    ops: list[OpPlan]
    post: list[Transfer]
    dram_addr: dict[str, int]
    tensor_bytes: dict[str, int]
    # tensor -> (memory, op index written or fetched, op index of last read) for the error ledger
    residency_log: list[tuple[str, str, str, int, int]]

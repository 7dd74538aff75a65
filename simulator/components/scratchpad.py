"""A banked scratchpad with separate read and write timing, as a work-conserving bank server.

Accesses are interleaved over all banks (word-interleaved addresses), so the banks act as one
group: a transfer of B bytes needs ceil(ceil(B / word_bytes) / banks) word slots on every bank, a
read slot keeps a bank busy ``read_ii`` cycles and a write slot ``write_occ`` cycles (an MRAM write
holds its bank for the whole pulse: it is not pipelined). Transfers are served in arrival order:
a transfer that arrives while earlier ones still hold the banks starts when they are done; that
wait is the ``bank_conflict`` the arriving stream sees. Bank time is conserved, so concurrent
streams slow each other down exactly when their summed demand exceeds the banks' capacity.
Read latency is added to the time the last word is available; write latency is hidden by the
write path, and a write buffer of ``write_buffer_words`` lets the writer move on before that many
words have drained (the banks stay busy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.config import MemoryConfig
from simulator.mapping import ceil_div


@dataclass
class Reservation:
    start: int
    end: int


class Scratchpad:
    def __init__(self, cfg: MemoryConfig, clock_ghz: float, ideal: bool = False):
        self.cfg = cfg
        self.name = cfg.name
        self.ideal = ideal
        self.word_bytes = cfg.word_bytes
        self.banks = cfg.banks
        to_cycles = lambda ns: max(0, math.ceil(ns * clock_ghz - 1e-9))  # noqa: E731
        self.read_ii = 0 if ideal else max(1, to_cycles(cfg.read_occupancy_ns))
        self.write_occ = 0 if ideal else max(1, to_cycles(cfg.write_occupancy_ns))
        self.read_latency = 0 if ideal else to_cycles(cfg.read_latency_ns)
        self.write_latency = 0 if ideal else to_cycles(cfg.write_latency_ns)
        self.write_buffer_slots = 0 if ideal else cfg.write_buffer_words // cfg.banks
        self.next_free = 0
        self.busy_cycles = 0

    def slots(self, nbytes: int) -> int:
        return ceil_div(ceil_div(nbytes, self.word_bytes), self.banks) if nbytes > 0 else 0

    def read_demand(self, nbytes: int) -> int:
        return self.slots(nbytes) * self.read_ii

    def write_demand(self, nbytes: int) -> int:
        return self.slots(nbytes) * self.write_occ

    def write_hidden(self, nbytes: int) -> int:
        """Cycles of write occupancy the write buffer lets the writer skip waiting for."""
        return min(self.slots(nbytes), self.write_buffer_slots) * self.write_occ

    def reserve(self, t: int, demand: int) -> Reservation:
        start = max(t, self.next_free)
        end = start + demand
        if demand:
            self.next_free = end
            self.busy_cycles += demand
        return Reservation(start, end)

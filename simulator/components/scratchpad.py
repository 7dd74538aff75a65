"""A banked scratchpad with separate read and write timing, as a work-conserving bank server.

Accesses are interleaved over all banks (word-interleaved addresses), so the banks act as one
group: a transfer of B bytes needs ceil(ceil(B / word_bytes) / banks) word slots on every bank, a
read slot keeps a bank busy ``read_ii`` cycles and a write slot ``write_occ`` cycles (an MRAM write
holds its bank for the whole pulse: it is not pipelined).

Each transfer reserves bank time when it is issued (a DMA transfer may be issued for the future:
its data arrives after the DRAM latency). It takes the idle bank time from its request cycle on
until its demand is served, so a later request fills the gaps that earlier reservations left and
waits only where the banks are really held; that wait is the ``bank_conflict`` the requester sees.
Bank time is conserved, so concurrent streams slow each other down exactly when their summed demand
exceeds the banks' capacity.

Read latency is added to the time the last word is available; write latency is hidden by the
write path, and a write buffer of ``write_buffer_words`` lets the writer move on before that many
words have drained (the banks stay busy).

With ``power_gating`` the bank-busy intervals also drive `simulator.power_gating` (``gate``).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config import MemoryConfig, ns_to_cycles
from simulator.mapping import ceil_div


@dataclass
class Reservation:
    start: int
    end: int
    pieces: tuple[tuple[int, int], ...] = ()


class Scratchpad:
    def __init__(self, cfg: MemoryConfig, clock_ghz: float, ideal: bool = False):
        self.cfg = cfg
        self.name = cfg.name
        self.ideal = ideal
        self.word_bytes = cfg.word_bytes
        self.banks = cfg.banks
        to_cycles = lambda ns: ns_to_cycles(ns, clock_ghz)  # noqa: E731
        self.read_ii = 0 if ideal else max(1, to_cycles(cfg.read_occupancy_ns))
        self.write_occ = 0 if ideal else max(1, to_cycles(cfg.write_occupancy_ns))
        self.read_latency = 0 if ideal else to_cycles(cfg.read_latency_ns)
        self.write_latency = 0 if ideal else to_cycles(cfg.write_latency_ns)
        self.write_buffer_slots = 0 if ideal else cfg.write_buffer_words // cfg.banks
        self.busy: list[tuple[int, int]] = []  # disjoint reserved intervals, in time order
        self.busy_cycles = 0
        self.gate = None  # simulator.power_gating.GateTracker when the memory is power-gated

    def slots(self, nbytes: int) -> int:
        return ceil_div(ceil_div(nbytes, self.word_bytes), self.banks) if nbytes > 0 else 0

    def read_demand(self, nbytes: int) -> int:
        return self.slots(nbytes) * self.read_ii

    def write_demand(self, nbytes: int) -> int:
        return self.slots(nbytes) * self.write_occ

    def write_hidden(self, nbytes: int) -> int:
        """Cycles of write occupancy the write buffer lets the writer skip waiting for."""
        return min(self.slots(nbytes), self.write_buffer_slots) * self.write_occ

    def reserve(self, t: int, demand: int, now: int | None = None) -> Reservation:
        """Serve ``demand`` bank cycles from cycle ``t`` on in the idle time left by earlier
        reservations. ``now``: the current cycle (no request starts earlier, so busy time before it
        is forgotten)."""
        if not demand:
            return Reservation(t, t)
        busy = self.busy
        horizon = t if now is None else now
        if self.gate is not None:  # it reads the final intervals before they are forgotten
            self.gate.flush(busy, horizon)
        drop = 0
        while drop < len(busy) and busy[drop][1] <= horizon:
            drop += 1
        if drop:
            del busy[:drop]
        if not busy or busy[-1][1] <= t:  # nothing reserved from t on: one piece, the usual case
            if busy and busy[-1][1] == t:
                busy[-1] = (busy[-1][0], t + demand)
            else:
                busy.append((t, t + demand))
            self.busy_cycles += demand
            return Reservation(t, t + demand, ((t, t + demand),))
        pieces: list[tuple[int, int]] = []
        remaining, cur, j = demand, t, 0
        while j < len(busy) and busy[j][1] <= cur:
            j += 1
        while remaining:
            if j < len(busy) and busy[j][0] <= cur:
                cur = busy[j][1]
                j += 1
                continue
            take = remaining if j == len(busy) else min(remaining, busy[j][0] - cur)
            pieces.append((cur, cur + take))
            remaining -= take
            cur += take
        # the pieces sit in gaps between busy[j0:j] (j0: first interval ending at or after the first
        # piece): only that stretch is merged, the rest of the list is kept as it is
        lo = pieces[0][0]
        j0 = 0
        while j0 < j and busy[j0][1] < lo:
            j0 += 1
        if j < len(busy) and busy[j][0] <= cur:
            j += 1  # an interval that starts where the last piece ends joins it
        merged: list[list[int]] = []
        for a, b in sorted(busy[j0:j] + pieces):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        busy[j0:j] = [(a, b) for a, b in merged]
        self.busy_cycles += demand
        return Reservation(pieces[0][0], pieces[-1][1], tuple(pieces))

"""Which tensors stay resident in each scratchpad: Belady's rule in program order.

A tensor with a later use is kept if it fits the memory's resident budget, evicting the tensors
whose next use is farthest, and only if its own next use is sooner. An evicted tensor that is still
needed and is not already in DRAM is spilled (a DRAM write). Every residence is logged (tensor,
class, memory, op index since, op index of last read) for the error ledger.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict

from simulator.plan import Transfer
from workloads.phases import Op


class Residency:
    def __init__(self, ops: list[Op], budgets: dict[str, int]):
        self.budgets = budgets
        self.resident: dict[str, dict[str, tuple[int, bool]]] = {m: {} for m in budgets}
        self.uses: dict[str, list[int]] = defaultdict(list)
        for i, op in enumerate(ops):
            for o in op.reads + op.writes:
                if not self.uses[o.tensor] or self.uses[o.tensor][-1] != i:
                    self.uses[o.tensor].append(i)
        self.in_dram: set[str] = set()
        self.since: dict[str, int] = {}
        self.log: list[tuple[str, str, str, int, int]] = []
        self.last_read: dict[str, int] = {}

    def next_use(self, tensor: str, after: int) -> float:
        uses = self.uses.get(tensor, ())
        j = bisect_right(uses, after)
        return uses[j] if j < len(uses) else math.inf

    def used(self, mem: str) -> int:
        return sum(b for b, _ in self.resident[mem].values())

    def is_resident(self, mem: str, tensor: str) -> bool:
        return mem in self.resident and tensor in self.resident[mem]

    def admit(self, mem: str, tensor: str, tclass: str, nbytes: int, i: int, busy: set[str],
              dirty: bool, evictions: list[Transfer], addr: dict[str, int], classes: dict[str, str]) -> bool:
        """Make room for ``tensor`` by Belady's rule; returns False (bypass) if it should not stay."""
        if mem not in self.budgets or nbytes > self.budgets[mem]:
            return False
        mine = self.next_use(tensor, i)
        if mine == math.inf:
            return False
        free = self.budgets[mem] - self.used(mem)
        victims = []
        if free < nbytes:
            cands = sorted((-self.next_use(t, i), t) for t in self.resident[mem] if t not in busy)
            for neg_next, t in cands:
                if -neg_next <= mine:
                    break
                victims.append(t)
                free += self.resident[mem][t][0]
                if free >= nbytes:
                    break
            if free < nbytes:
                return False
        for t in victims:
            self.evict(mem, t, i, evictions, addr, classes)
        self.resident[mem][tensor] = (nbytes, dirty)
        self.since[tensor] = i
        return True

    def evict(self, mem: str, tensor: str, i: int, out: list[Transfer], addr, classes) -> None:
        nbytes, dirty = self.resident[mem].pop(tensor)
        if dirty and tensor not in self.in_dram and self.next_use(tensor, i - 1) != math.inf:
            out.append(Transfer(tensor, classes[tensor], mem, nbytes, True, addr[tensor]))
            self.in_dram.add(tensor)
        self.log.append((tensor, classes[tensor], mem, self.since.pop(tensor, i), self.last_read.get(tensor, i)))

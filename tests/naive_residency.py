"""Naive oracles for the scratchpad residency (simulator/residency.py): the fewest misses any
replacement policy can reach, by exhaustive search over every keep/evict/bypass decision, and a
direct step-by-step simulation of Belady's rule written from its description."""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations


def optimal_misses(seq: tuple[str, ...], sizes: dict[str, int], budget: int) -> int:
    """Fewest misses over all policies: on a miss, bypass or keep the tensor, evicting any set of
    residents that makes it fit (sizes in bytes; the memory starts empty)."""
    @lru_cache(maxsize=None)
    def go(i: int, resident: frozenset) -> int:
        if i == len(seq):
            return 0
        t = seq[i]
        if t in resident:
            return go(i + 1, resident)
        best = go(i + 1, resident)  # bypass
        if sizes[t] <= budget:
            others = sorted(resident)
            for r in range(len(others) + 1):
                for out in combinations(others, r):
                    kept = resident - set(out)
                    if sum(sizes[x] for x in kept) + sizes[t] <= budget:
                        best = min(best, go(i + 1, kept | {t}))
        return 1 + best
    return go(0, frozenset())


def belady_misses(seq: tuple[str, ...], sizes: dict[str, int], budget: int) -> tuple[int, int]:
    """(misses, most bytes ever resident) of Belady's rule: on a miss keep the tensor if it has a later
    use, evicting the residents used farthest in the future while theirs is later than its own,
    until it fits; otherwise bypass."""
    def next_use(t, i):
        return next((j for j in range(i + 1, len(seq)) if seq[j] == t), math.inf)

    resident: set[str] = set()
    misses = peak = 0
    for i, t in enumerate(seq):
        if t in resident:
            continue
        misses += 1
        mine = next_use(t, i)
        if mine == math.inf or sizes[t] > budget:
            continue
        victims, free = [], budget - sum(sizes[x] for x in resident)
        for x in sorted(resident, key=lambda x: (-next_use(x, i), x)):
            if free >= sizes[t] or next_use(x, i) <= mine:
                break
            victims.append(x)
            free += sizes[x]
        if free >= sizes[t]:
            resident -= set(victims)
            resident.add(t)
            peak = max(peak, sum(sizes[x] for x in resident))
    return misses, peak

"""Belady residency (simulator/residency.py) against exhaustive search and a direct simulation."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from simulator.residency import Residency
from workloads.phases import Op, Operand

from tests import naive_residency

NAMES = ("a", "b", "c", "d", "e")


def residency_misses(seq, sizes, budget) -> tuple[int, int]:
    """(misses, most bytes resident) when each op reads one tensor and the program admits it on a miss."""
    ops = [Op("L", i, "fwd", "relu", (Operand(t, "activation", sizes[t]),), ()) for i, t in enumerate(seq)]
    res = Residency(ops, {"spm": budget})
    misses = peak = 0
    addr = {t: 0 for t in sizes}
    classes = dict.fromkeys(sizes, "activation")
    for i, t in enumerate(seq):
        if res.is_resident("spm", t):
            continue
        misses += 1
        res.admit("spm", t, "activation", sizes[t], i, set(), False, [], addr, classes)
        peak = max(peak, res.used("spm"))
    return misses, peak


seqs = st.lists(st.sampled_from(NAMES), min_size=1, max_size=11).map(tuple)


@settings(max_examples=150, deadline=None)
@given(seqs, st.integers(1, 4))
def test_equal_sizes_reach_the_fewest_misses_possible(seq, slots):
    sizes = dict.fromkeys(NAMES, 64)
    misses, peak = residency_misses(seq, sizes, 64 * slots)
    assert misses == naive_residency.optimal_misses(seq, sizes, 64 * slots)
    assert peak <= 64 * slots


@settings(max_examples=150, deadline=None)
@given(seqs, st.lists(st.integers(1, 5), min_size=len(NAMES), max_size=len(NAMES)), st.integers(1, 10))
def test_mixed_sizes_follow_belady_and_never_beat_the_optimum(seq, size_list, budget):
    sizes = dict(zip(NAMES, size_list))
    misses, peak = residency_misses(seq, sizes, budget)
    assert (misses, peak) == naive_residency.belady_misses(seq, sizes, budget)
    assert misses >= naive_residency.optimal_misses(seq, sizes, budget) and peak <= budget

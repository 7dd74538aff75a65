"""Scratchpad bank reservations against a cycle-by-cycle model: a request takes the first free
cycles from its start on, and the busy list stays sorted, disjoint and merged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.components.scratchpad import Scratchpad
from simulator.config import load_config


def _pieces(cycles: list[int]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for c in cycles:
        if out and out[-1][1] == c:
            out[-1][1] += 1
        else:
            out.append([c, c + 1])
    return tuple((a, b) for a, b in out)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 30), st.integers(0, 12)), min_size=1, max_size=40))
def test_reserve_takes_first_free_cycles(requests):
    spm = Scratchpad(next(iter(load_config(None).memories.values())), 1.0)
    taken: set[int] = set()
    now = 0
    for step, ahead, demand in requests:
        now += step
        t = now + ahead
        res = spm.reserve(t, demand, now)
        want, c = [], t
        while len(want) < demand:
            if c not in taken:
                want.append(c)
            c += 1
        taken.update(want)
        assert res.pieces == _pieces(want)
        assert (res.start, res.end) == ((want[0], want[-1] + 1) if want else (t, t))
        busy = spm.busy
        assert all(a < b for a, b in busy)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(busy, busy[1:]))  # disjoint and not touching
        assert {c for a, b in busy for c in range(a, b)} == {c for c in taken if c >= min((a for a, _ in busy),
                                                                                           default=c + 1)}

"""Naive oracle for the GEMM tiler: every tile size from 1 to the dimension, DRAM traffic counted by
walking the loop nest tile by tile (a tile is fetched when it differs from the one the previous step
held), and the fit and tie-break rules of simulator/tiling.py's docstring applied one candidate at a
time. Slow (pure Python); meant for dimensions of a dozen or so."""

from __future__ import annotations

from itertools import product

from simulator.mapping import ideal_cycles
from simulator.plan import DIRECT, PSUM_BYTES


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _extent(dim: int, tile: int, i: int) -> int:
    return min(tile, dim - i * tile)


def walk_traffic(a_bytes, b_bytes, sa, sb, M, K, N, G, mt, kt, nt, gt, order):
    """DRAM bytes of A (M x K) and B (K x N) fetched by the loop nest g, (m, n | n, m), k, the staging
    buffer holding one tile of each; edge tiles count their real extent."""
    nm, nk, nn, ng = ceil_div(M, mt), ceil_div(K, kt), ceil_div(N, nt), ceil_div(G, gt)
    held_a = held_b = None
    total = 0.0
    for gi in range(ng):
        outer = product(range(nm), range(nn)) if order == "mn" else ((m, n) for n, m in product(range(nn), range(nm)))
        for mi, ni in outer:
            for ki in range(nk):
                g_frac = _extent(G, gt, gi) / G
                k_frac = _extent(K, kt, ki) / K
                if (gi, mi, ki) != held_a:
                    held_a = (gi, mi, ki)
                    total += sa * a_bytes * g_frac * _extent(M, mt, mi) / M * k_frac
                if (gi, ki, ni) != held_b:
                    held_b = (gi, ki, ni)
                    total += sb * b_bytes * g_frac * k_frac * _extent(N, nt, ni) / N
    return total


def candidates(cfg, staging, operands, streamed, mems, M, K, N, G, sizes=None):
    """Every fitting candidate as (traffic, cycles, psum spill, tiles, order, (mt, kt, nt, gt), estimated
    time), with the rule that partial sums spill out of the accumulator only when no other tile fits.
    The estimated time is max(cycles, DRAM bytes / bytes per cycle), the output's bytes included."""
    a, b, y = operands
    sa, sb, sy = streamed
    mem_a, mem_b, mem_y = mems
    rows, cols, df = cfg.array.rows, cfg.array.cols, cfg.array.dataflow
    acc = cfg.accumulator
    ms, ks, ns, gs = sizes or (range(1, M + 1), range(1, K + 1), range(1, N + 1), range(1, G + 1))
    out = []
    for mt, kt, nt, gt in product(ms, ks, ns, gs):
        nm, nk, nn, ng = ceil_div(M, mt), ceil_div(K, kt), ceil_div(N, nt), ceil_div(G, gt)
        need = {}
        full_a = a.nbytes * mt * kt * gt / (M * K * G)
        full_b = b.nbytes * kt * nt * gt / (K * N * G)
        full_y = y.nbytes * mt * nt * gt / (M * N * G)
        psum = mt * nt * gt * PSUM_BYTES
        multi_k = nk > 1 or ceil_div(kt, rows) > 1
        spill = bool(acc) and multi_k and psum > cfg.memories[acc].capacity_bytes
        no_acc_spill = multi_k and not (acc and psum <= cfg.memories[acc].capacity_bytes)
        if sa and mem_a != DIRECT:
            need[mem_a] = need.get(mem_a, 0.0) + full_a
        if sb and mem_b != DIRECT:
            need[mem_b] = need.get(mem_b, 0.0) + full_b
        if sy and mem_y != DIRECT:
            need[mem_y] = need.get(mem_y, 0.0) + (max(full_y, psum) if no_acc_spill else full_y)
        if any(v > staging[m] for m, v in need.items()):
            continue
        tiles = nm * nk * nn * ng
        cycles = tiles * ideal_cycles(df, rows, cols, mt, kt, nt, count=gt)
        y_bytes = y.nbytes * (2 if y.accumulate else 1) if sy else 0
        per_cycle = cfg.dram.channels * cfg.dram.bandwidth_gbps / cfg.clock_ghz
        for order in ("mn", "nm"):
            t = walk_traffic(a.nbytes, b.nbytes, sa, sb, M, K, N, G, mt, kt, nt, gt, order)
            out.append((t, cycles, int(spill), tiles, order, (mt, kt, nt, gt), max(cycles, (t + y_bytes) / per_cycle)))
    if acc and any(not c[2] for c in out):
        out = [c for c in out if not c[2]]
    return out


SLOWEST_OVER_FASTEST = 2.0  # the tiler's bound, restated


def best(cands):
    """The tiler's choice among candidates at most twice as slow as the fastest: least traffic, then
    cycles, spill, tiles ("mn" first)."""
    if not cands:
        return None
    fastest = min(c[6] for c in cands)
    near = [c for c in cands if c[6] <= SLOWEST_OVER_FASTEST * fastest * (1 + 1e-12)]
    return min(near, key=lambda c: (round(c[0], 6), c[1], c[2], c[3], c[4] != "mn"))

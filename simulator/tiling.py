"""Tiling search for a GEMM: least DRAM traffic over a grid of tile sizes and two loop orders.

The tiler enumerates tile sizes (M, K, N and the group dimension: halvings, and multiples of the
array side the dataflow folds that dimension over) and two loop orders, and picks the one with the
least DRAM traffic that fits the staging buffers, among those whose estimated time, max(ideal
compute cycles, DRAM bytes / bytes per cycle), is at most ``SLOWEST_OVER_FASTEST`` times the fastest
fitting one's (ties: fewer cycles, no partial-sum spill, fewer tiles).
Partial sums across K are fp32 and belong in the ``accumulator`` memory: tiles whose partial sums
do not fit it are considered only if no other tile fits. Scores are vectorised over all candidates
with the dataflow registry's own cycle rule (`simulator.mapping.ideal_cycles` on arrays).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from models.errors import UserError
from simulator.config import Config
from simulator.mapping import ceil_div, dataflow, ideal_cycles
from simulator.plan import DIRECT, PSUM_BYTES
from workloads.phases import Op, Operand


# Least traffic is sought only among tilings at most this many times slower than the fastest fitting
# one (estimated as max(compute, DRAM bytes / bandwidth)): without the bound, a larger staging buffer let
# VGG-16's largest weight-gradient GEMMs take 36-row tiles for 16% less traffic and 64x the fill and
# drain (1.40x the whole step's cycles on the datacenter LSTP iso-area MRAM). At 2x every other point of
# four networks x eight shipped configs kept its cycles, energy and DRAM traffic (to 0.1%, measured);
# at 1.02-1.25x the DRAM-bound edge preset traded up to 67% more traffic for speed.
SLOWEST_OVER_FASTEST = 2.0


def halvings(n: int) -> np.ndarray:
    vals, v = [], n
    while True:
        vals.append(v)
        if v == 1:
            break
        v = ceil_div(v, 2)
    return np.array(vals, dtype=np.int64)


def tile_sizes(n: int, unit: int) -> np.ndarray:
    """Candidate tile sizes along a dimension: halvings, and multiples of the array's side."""
    sizes = set(halvings(n).tolist())
    if unit > 1:
        v = unit
        while v < n:
            sizes.add(v)
            v *= 2
        sizes.add(n)
        sizes = {x for x in sizes if x >= unit or x == n}
    return np.array(sorted(sizes), dtype=np.int64)


def choose_gemm_tiling(cfg: Config, staging: dict[str, int], op: Op, operands: tuple[Operand, Operand, Operand],
                       streamed: tuple[bool, bool, bool], mems: tuple[str, str, str],
                       M: int, K: int, N: int, G: int) -> tuple[int, int, int, int, str]:
    """(mt, kt, nt, gt, loop order "mn" or "nm") of the least-traffic tiling that fits staging and is
    not much slower than the fastest that does."""
    a, b, y = operands
    sa, sb, sy = streamed
    mem_a, mem_b, mem_y = mems
    rows, cols, df = cfg.array.rows, cfg.array.cols, cfg.array.dataflow
    unit = dataflow(df).unit(rows, cols)
    ms, ks, ns = (tile_sizes(d, u) for d, u in zip((M, K, N), unit))
    gs = halvings(G)
    mt, kt, nt, gt = np.meshgrid(ms, ks, ns, gs, indexing="ij")
    mt, kt, nt, gt = (x.ravel().astype(np.float64) for x in (mt, kt, nt, gt))
    nm, nk, nn, ng = (np.ceil(M / mt), np.ceil(K / kt), np.ceil(N / nt), np.ceil(G / gt))
    fa = a.nbytes * (mt / M) * (kt / K) * (gt / G)
    fb = b.nbytes * (kt / K) * (nt / N) * (gt / G)
    fy = y.nbytes * (mt / M) * (nt / N) * (gt / G)
    fpsum = mt * nt * gt * PSUM_BYTES
    need: dict[str, np.ndarray] = defaultdict(lambda: np.zeros_like(mt))
    if sa and mem_a != DIRECT:
        need[mem_a] = need[mem_a] + fa
    if sb and mem_b != DIRECT:
        need[mem_b] = need[mem_b] + fb
    multi_k = (nk > 1) | (np.ceil(kt / rows) > 1)
    acc = cfg.accumulator
    acc_fits = (fpsum <= cfg.memories[acc].capacity_bytes) if acc else np.zeros_like(mt, dtype=bool)
    if sy and mem_y != DIRECT:
        need[mem_y] = need[mem_y] + np.where(multi_k & ~acc_fits, np.maximum(fy, fpsum), fy)
    elif mem_y != DIRECT:
        need[mem_y] = need[mem_y] + np.where(multi_k & ~acc_fits & sy, fpsum, 0.0)
    ok = np.ones_like(mt, dtype=bool)
    for mem, req in need.items():
        ok &= req <= staging[mem]
    if acc:
        # partial sums belong in the accumulator: spill them to a scratchpad only if no tile fits
        in_acc = ok & ~(multi_k & ~acc_fits)
        if in_acc.any():
            ok = in_acc
    if not ok.any():
        smallest = {mem: int(req.min()) for mem, req in need.items()}
        mem = max(smallest, key=lambda m: smallest[m] - staging[m])
        cap_kib = cfg.memories[mem].capacity_bytes // 1024
        raise UserError(
            f"{cfg.source}: memories.{mem}.capacity_kib = {cap_kib} (layer {op.layer} "
            f"{op.phase} needs a staging buffer of at least {smallest[mem]} bytes, a quarter of the memory; "
            f"accepted: at least {4 * smallest[mem] // 1024 + 1})")
    single_k = nk == 1
    ta = np.where(sa, a.nbytes * np.where(single_k, 1.0, nn), 0.0)
    tb = np.where(sb, b.nbytes * np.where(single_k & (nn == 1), 1.0, nm), 0.0)
    traffic_mn = ta + tb
    ta2 = np.where(sa, a.nbytes * np.where(single_k & (nm == 1), 1.0, nn), 0.0)
    tb2 = np.where(sb, b.nbytes * np.where(single_k, 1.0, nm), 0.0)
    traffic_nm = ta2 + tb2
    tiles = nm * nk * nn * ng
    # partial sums that spill out of the accumulator cost scratchpad bandwidth: avoid at equal traffic
    psum_spill = (multi_k & ~acc_fits).astype(np.int8) if acc else np.zeros_like(mt, dtype=np.int8)
    compute = tiles * ideal_cycles(df, rows, cols, mt, kt, nt, count=gt)
    # the estimate of the op's time: compute and DRAM transfers overlap (double buffering)
    y_bytes = y.nbytes * (1 + int(y.accumulate)) if sy else 0.0
    bytes_per_cycle = cfg.dram.channels * cfg.dram.bandwidth_gbps / cfg.clock_ghz
    est = {order: np.where(ok, np.maximum(compute, (traffic + y_bytes) / bytes_per_cycle), np.inf)
           for order, traffic in (("mn", traffic_mn), ("nm", traffic_nm))}
    fastest = min(e.min() for e in est.values())
    best = None
    for order, traffic in (("mn", traffic_mn), ("nm", traffic_nm)):
        score = np.where(est[order] <= SLOWEST_OVER_FASTEST * fastest, traffic, np.inf)
        key = np.lexsort((tiles, psum_spill, compute, score))[0]
        cand = (score[key], compute[key], psum_spill[key], tiles[key], order, key)
        if best is None or cand[:4] < best[:4]:
            best = cand
    key, order = best[5], best[4]
    return int(mt[key]), int(kt[key]), int(nt[key]), int(gt[key]), order

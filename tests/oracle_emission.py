"""The per-tile emission the planner used before tiles became lazy runs (commit 1281f00), kept as the
test oracle of `simulator.emission`: it builds every `Tile` as a list, in the same order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from simulator.config import Config
from simulator.dram_layout import DramLayout, box_bytes
from simulator.mapping import TileWork, ceil_div, tile_work
from simulator.plan import DIRECT, PSUM_BYTES, OpPlan, Tile, Transfer


def psum_memory(cfg: Config, tile_out_bytes: int) -> str:
    """The accumulator if it holds a tile's partial sums, else "" (the output's memory takes them)."""
    acc = cfg.accumulator
    if acc and tile_out_bytes <= cfg.memories[acc].capacity_bytes:
        return acc
    return ""


def oracle_gemm_tiles(plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                    streamed: tuple[bool, bool, bool], choice: tuple[int, int, int, int, str], eb: int) -> None:
    op = plan.op
    g = op.gemm
    a, b = op.reads
    (y,) = op.writes
    M, K, N, G = g.m, g.k, g.n, g.count
    rows, cols, df = cfg.array.rows, cfg.array.cols, cfg.array.dataflow
    mt, kt, nt, gt, order = choice
    nm, nk, nn, ng = ceil_div(M, mt), ceil_div(K, kt), ceil_div(N, nt), ceil_div(G, gt)
    sa, sb, sy = streamed
    mem_a, mem_b, mem_y = (mem_of(o.tclass) for o in (a, b, y))
    acc_mem = psum_memory(cfg, mt * nt * gt * PSUM_BYTES) if (nk > 1 or ceil_div(kt, rows) > 1) else ""
    psum_mem = acc_mem or mem_y
    xfer = layout.transfer
    loaded_a: tuple | None = None
    loaded_b: tuple | None = None
    outer = [(gi, mi, ni) for gi in range(ng) for mi in range(nm) for ni in range(nn)] if order == "mn" else \
            [(gi, mi, ni) for gi in range(ng) for ni in range(nn) for mi in range(nm)]
    work_cache: dict[tuple, TileWork] = {}
    for gi, mi, ni in outer:
        m_sz = min(mt, M - mi * mt)
        n_sz = min(nt, N - ni * nt)
        g_sz = min(gt, G - gi * gt)
        for ki in range(nk):
            k_sz = min(kt, K - ki * kt)
            key = (m_sz, k_sz, n_sz)
            w = work_cache.get(key)
            if w is None:
                w = work_cache[key] = tile_work(df, rows, cols, m_sz, k_sz, n_sz)
            loads: list[Transfer] = []
            g0, m0, k0, n0 = gi * gt, mi * mt, ki * kt, ni * nt
            if sa and loaded_a != (gi, mi, ki):
                nbytes = box_bytes(a.nbytes, (G, M, K), (g0, m0, k0), (g0 + g_sz, m0 + m_sz, k0 + k_sz))
                loads.append(xfer(a, mem_a, nbytes, False, (gi * nm + mi) * nk + ki, nm * nk * ng))
                loaded_a = (gi, mi, ki)
            if sb and loaded_b != (gi, ki, ni):
                nbytes = box_bytes(b.nbytes, (G, K, N), (g0, k0, n0), (g0 + g_sz, k0 + k_sz, n0 + n_sz))
                loads.append(xfer(b, mem_b, nbytes, False, (gi * nk + ki) * nn + ni, nk * nn * ng))
                loaded_b = (gi, ki, ni)
            reads: dict[tuple[str, str], int] = defaultdict(int)
            writes: dict[tuple[str, str], int] = defaultdict(int)
            # elements the array touches, scaled from one instance to g_sz instances
            if mem_a != DIRECT:
                reads[(mem_a, a.tclass)] += w.a_reads * g_sz * eb
            if mem_b != DIRECT:
                reads[(mem_b, b.tclass)] += w.b_reads * g_sz * eb
            out_elems = m_sz * n_sz * g_sz
            passes = w.y_writes * g_sz // max(out_elems, 1)
            last_k = ki == nk - 1
            if nk == 1 and passes == 1:
                final_writes = out_elems
                psum_w = psum_r = 0
            else:
                psum_w = w.y_writes * g_sz - (out_elems if last_k else 0)
                psum_r = w.psum_reads * g_sz + (out_elems if ki > 0 else 0)
                final_writes = out_elems if last_k else 0
            if psum_mem != DIRECT:
                if psum_w:
                    writes[(psum_mem, y.tclass)] += psum_w * PSUM_BYTES
                if psum_r:
                    reads[(psum_mem, y.tclass)] += psum_r * PSUM_BYTES
            if y.accumulate and final_writes and mem_y != DIRECT:
                reads[(mem_y, y.tclass)] += final_writes * eb
            if final_writes and mem_y != DIRECT:
                writes[(mem_y, y.tclass)] += final_writes * eb
            writebacks: list[Transfer] = []
            if final_writes and sy:
                nbytes = box_bytes(y.nbytes, (G, M, N), (g0, m0, n0), (g0 + g_sz, m0 + m_sz, n0 + n_sz))
                idx = (gi * nm + mi) * nn + ni
                if y.accumulate:
                    loads.append(xfer(y, mem_y, nbytes, False, idx, nm * nn * ng))
                writebacks.append(xfer(y, mem_y, nbytes, True, idx, nm * nn * ng))
            plan.tiles.append(Tile(loads, writebacks, dict(reads), dict(writes),
                                   w.ideal_cycles * g_sz, w.stream_cycles * g_sz))


def oracle_vector_chunks(plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                       is_streamed: Callable, staging: dict[str, int]) -> None:
    """``is_streamed(operand)``: the operand moves through staging (not resident, memory not ideal)."""
    op = plan.op
    streamed = [o for o in op.reads + op.writes if is_streamed(o)]
    chunks = 1
    for mem in {mem_of(o.tclass) for o in streamed} - {DIRECT}:
        need = sum(o.nbytes for o in streamed if mem_of(o.tclass) == mem)
        chunks = max(chunks, ceil_div(need, max(staging[mem], 1)))
    lanes = cfg.vector.lanes
    total_cycles = ceil_div(op.vector_elem_ops, lanes)
    xfer = layout.transfer
    for c in range(chunks):
        loads, wbs = [], []
        reads: dict[tuple[str, str], int] = defaultdict(int)
        writes: dict[tuple[str, str], int] = defaultdict(int)
        for o in op.reads:
            part = min(max(o.nbytes - c * ceil_div(o.nbytes, chunks), 0), ceil_div(o.nbytes, chunks))
            mem = mem_of(o.tclass)
            if is_streamed(o):
                loads.append(xfer(o, mem, part, False, c, chunks, min(c * ceil_div(o.nbytes, chunks), o.nbytes)))
            if mem != DIRECT:
                reads[(mem, o.tclass)] += part
        for o in op.writes:
            part = min(max(o.nbytes - c * ceil_div(o.nbytes, chunks), 0), ceil_div(o.nbytes, chunks))
            mem = mem_of(o.tclass)
            if is_streamed(o):
                at = min(c * ceil_div(o.nbytes, chunks), o.nbytes)
                if o.accumulate:
                    loads.append(xfer(o, mem, part, False, c, chunks, at))
                wbs.append(xfer(o, mem, part, True, c, chunks, at))
            if mem != DIRECT:
                if o.accumulate:
                    reads[(mem, o.tclass)] += part
                writes[(mem, o.tclass)] += part
        cyc = min(max(total_cycles - c * ceil_div(total_cycles, chunks), 0), ceil_div(total_cycles, chunks))
        plan.tiles.append(Tile(loads, wbs, dict(reads), dict(writes), cyc, cyc))

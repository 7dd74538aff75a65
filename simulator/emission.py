"""Tile emission: a chosen GEMM tiling, or a vector op's chunks, -> the op's tiles, as a lazy sequence.

Each tile carries its DMA loads and writebacks (streamed operands only) and the bytes the unit
reads and writes in each memory, per tensor class. GEMM tiles follow the chosen loop order; an
operand tile is loaded only when it changes; partial sums across K go to the accumulator if they
fit it, else are read-modify-written in the output's memory. A vector op streams in as few equal
chunks as its staging buffers allow, each the equal share rounded up and the last the remainder
(`dram_layout.chunk_bytes`); its cycles are spread over the chunks the same way.

Nothing materialises all tiles: a tile is a function of its loop indices, so ``tiles[j]`` builds
tile j on demand (the event engine asks only for the tiles it simulates), ``tiles.ids()`` gives the
fast-forward one integer per tile from the loop structure with numpy, and ``tiles.addresses`` the
DRAM addresses of one transfer over many tiles (the rows of skipped periods).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from simulator.config import Config
from simulator.dram_layout import DramLayout, box_bytes, box_bytes_np, chunk_bytes, chunk_offset, offsets_np
from simulator.mapping import ceil_div, tile_work
from simulator.plan import DIRECT, PSUM_BYTES, OpPlan, Tile


def psum_memory(cfg: Config, tile_out_bytes: int) -> str:
    """The accumulator if it holds a tile's partial sums, else "" (the output's memory takes them)."""
    acc = cfg.accumulator
    if acc and tile_out_bytes <= cfg.memories[acc].capacity_bytes:
        return acc
    return ""


def _factorize(cols: list[np.ndarray], n: int) -> np.ndarray:
    """One integer per row, equal exactly for rows equal in every column (not dense: only equality
    is used). Columns are combined as digits of a mixed-radix number; a column of small range is its
    own digit, a wider one is ranked first, and the number is re-ranked before it could overflow."""
    ids = np.zeros(n, dtype=np.int64)
    width = 1
    for c in cols:
        c = np.broadcast_to(np.asarray(c, dtype=np.int64).reshape(-1), (n,))
        lo = int(c.min()) if n else 0
        span = int(c.max()) - lo + 1 if n else 1
        if span <= 1 << 20:
            code = c - lo
        else:
            _, code = np.unique(c, return_inverse=True)
            code, span = code.reshape(-1).astype(np.int64), int(code.max()) + 1
        if width * span >= 1 << 62:
            _, ids = np.unique(ids, return_inverse=True)
            ids = ids.reshape(-1).astype(np.int64)
            width = int(ids.max()) + 1
        ids = ids * span + code
        width *= span
    return ids


RECENT_TILES = 8  # tiles kept built: the engine's streams look at a window of a few tiles


class _LazyTiles(Sequence):
    """Tile j is built by ``_build(j)`` when asked for; the last few are kept."""

    def __init__(self):
        self._recent: dict[int, Tile] = {}

    def __getitem__(self, j: int) -> Tile:
        t = self._recent.get(j)
        if t is None:
            if not 0 <= j < len(self):
                raise IndexError(j)
            if len(self._recent) >= RECENT_TILES:
                del self._recent[next(iter(self._recent))]
            t = self._recent[j] = self._build(j)
        return t

    @abstractmethod
    def _build(self, j: int) -> Tile:
        """Tile j, built from its loop indices."""


class GemmTiles(_LazyTiles):
    """The tiles of a GEMM op in loop order: groups, then M and N in the chosen order, K innermost."""

    def __init__(self, plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                 streamed: tuple[bool, bool, bool], choice: tuple[int, int, int, int, str], eb: int):
        super().__init__()
        op = plan.op
        g = op.gemm
        self.a, self.b = op.reads
        (self.y,) = op.writes
        self.M, self.K, self.N, self.G = g.m, g.k, g.n, g.count
        self.rows, self.cols, self.df = cfg.array.rows, cfg.array.cols, cfg.array.dataflow
        self.mt, self.kt, self.nt, self.gt, self.order = choice
        self.nm, self.nk = ceil_div(self.M, self.mt), ceil_div(self.K, self.kt)
        self.nn, self.ng = ceil_div(self.N, self.nt), ceil_div(self.G, self.gt)
        self.sa, self.sb, self.sy = streamed
        self.mem_a, self.mem_b, self.mem_y = (mem_of(o.tclass) for o in (self.a, self.b, self.y))
        multi_k = self.nk > 1 or ceil_div(self.kt, self.rows) > 1
        acc_mem = psum_memory(cfg, self.mt * self.nt * self.gt * PSUM_BYTES) if multi_k else ""
        self.psum_mem = acc_mem or self.mem_y
        self.layout = layout
        self.eb = eb
        self._bodies: dict[tuple, tuple] = {}

    def __len__(self) -> int:
        return self.ng * self.nm * self.nn * self.nk

    def _coords(self, j):
        """(gi, mi, ni, ki) of tile j (ints or numpy arrays)."""
        ki, o = j % self.nk, j // self.nk
        if self.order == "mn":
            ni, o = o % self.nn, o // self.nn
            mi, gi = o % self.nm, o // self.nm
        else:
            mi, o = o % self.nm, o // self.nm
            ni, gi = o % self.nn, o // self.nn
        return gi, mi, ni, ki

    def _box_keys(self, gi, mi, ni, ki):
        """Index of tile's A box, B box and Y box (the `DramLayout.transfer` tile indices)."""
        return ((gi * self.nm + mi) * self.nk + ki, (gi * self.nk + ki) * self.nn + ni,
                (gi * self.nm + mi) * self.nn + ni)

    def _loads_ab(self, j: int, ka: int, kb: int) -> tuple[bool, bool]:
        if j == 0:
            return self.sa, self.sb
        pa, pb, _ = self._box_keys(*self._coords(j - 1))
        return self.sa and pa != ka, self.sb and pb != kb

    def _body(self, m_sz, k_sz, n_sz, g_sz, ki) -> tuple:
        """(reads, writes, per_memory, ideal, stream, final_writes) of a tile: shared by equal tiles."""
        nk = self.nk
        key = (m_sz, k_sz, n_sz, g_sz, ki == 0, ki == nk - 1)
        body = self._bodies.get(key)
        if body is not None:
            return body
        a, b, y, eb = self.a, self.b, self.y, self.eb
        w = tile_work(self.df, self.rows, self.cols, m_sz, k_sz, n_sz)
        reads: dict[tuple[str, str], int] = defaultdict(int)
        writes: dict[tuple[str, str], int] = defaultdict(int)
        # elements the array touches, scaled from one instance to g_sz instances
        if self.mem_a != DIRECT:
            reads[(self.mem_a, a.tclass)] += w.a_reads * g_sz * eb
        if self.mem_b != DIRECT:
            reads[(self.mem_b, b.tclass)] += w.b_reads * g_sz * eb
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
        psum_mem, mem_y = self.psum_mem, self.mem_y
        if psum_mem != DIRECT:
            if psum_w:
                writes[(psum_mem, y.tclass)] += psum_w * PSUM_BYTES
            if psum_r:
                reads[(psum_mem, y.tclass)] += psum_r * PSUM_BYTES
        if y.accumulate and final_writes and mem_y != DIRECT:
            reads[(mem_y, y.tclass)] += final_writes * eb
        if final_writes and mem_y != DIRECT:
            writes[(mem_y, y.tclass)] += final_writes * eb
        reads, writes = dict(reads), dict(writes)
        body = (reads, writes, Tile.memory_totals(reads, writes), w.ideal_cycles * g_sz, w.stream_cycles * g_sz,
                final_writes)
        self._bodies[key] = body
        return body

    def _build(self, j: int) -> Tile:
        M, K, N, G, mt, kt, nt, gt = self.M, self.K, self.N, self.G, self.mt, self.kt, self.nt, self.gt
        a, b, y = self.a, self.b, self.y
        gi, mi, ni, ki = self._coords(j)
        m_sz, n_sz, g_sz, k_sz = min(mt, M - mi * mt), min(nt, N - ni * nt), min(gt, G - gi * gt), min(kt, K - ki * kt)
        reads, writes, per_memory, ideal, stream, final_writes = self._body(m_sz, k_sz, n_sz, g_sz, ki)
        ka, kb, ky = self._box_keys(gi, mi, ni, ki)
        la, lb = self._loads_ab(j, ka, kb)
        g0, m0, k0, n0 = gi * gt, mi * mt, ki * kt, ni * nt
        xfer = self.layout.transfer
        loads, writebacks = [], []
        if la:
            nbytes = box_bytes(a.nbytes, (G, M, K), (g0, m0, k0), (g0 + g_sz, m0 + m_sz, k0 + k_sz))
            loads.append(xfer(a, self.mem_a, nbytes, False, ka, self.nm * self.nk * self.ng))
        if lb:
            nbytes = box_bytes(b.nbytes, (G, K, N), (g0, k0, n0), (g0 + g_sz, k0 + k_sz, n0 + n_sz))
            loads.append(xfer(b, self.mem_b, nbytes, False, kb, self.nk * self.nn * self.ng))
        if final_writes and self.sy:
            nbytes = box_bytes(y.nbytes, (G, M, N), (g0, m0, n0), (g0 + g_sz, m0 + m_sz, n0 + n_sz))
            if y.accumulate:
                loads.append(xfer(y, self.mem_y, nbytes, False, ky, self.nm * self.nn * self.ng))
            writebacks.append(xfer(y, self.mem_y, nbytes, True, ky, self.nm * self.nn * self.ng))
        return Tile.shared(loads, writebacks, reads, writes, ideal, stream, per_memory)

    def memo_key(self) -> tuple:
        """Everything the tiles' timing depends on (not tensor names or addresses: `op_memo`)."""
        return ("gemm", self.M, self.K, self.N, self.G, self.rows, self.cols, self.df, self.mt, self.kt, self.nt,
                self.gt, self.order, self.sa, self.sb, self.sy, self.mem_a, self.mem_b, self.mem_y, self.psum_mem,
                self.eb)

    def ids(self) -> np.ndarray:
        """One integer per tile, equal exactly for tiles equal but for their DRAM addresses."""
        n = len(self)
        j = np.arange(n, dtype=np.int64)
        gi, mi, ni, ki = self._coords(j)
        ka, kb, ky = self._box_keys(gi, mi, ni, ki)
        first = np.ones(min(n, 1), dtype=bool)
        la = np.concatenate([first, ka[1:] != ka[:-1]]) & self.sa
        lb = np.concatenate([first, kb[1:] != kb[:-1]]) & self.sb
        m_sz = np.minimum(self.mt, self.M - mi * self.mt)
        n_sz = np.minimum(self.nt, self.N - ni * self.nt)
        g_sz = np.minimum(self.gt, self.G - gi * self.gt)
        k_sz = np.minimum(self.kt, self.K - ki * self.kt)
        g0, m0, k0, n0 = gi * self.gt, mi * self.mt, ki * self.kt, ni * self.nt
        cols = [m_sz, n_sz, g_sz, k_sz, ki == 0, ki == self.nk - 1, la, lb]
        # transfer sizes differ between equal-shaped boxes only where the tensor's bytes do not
        # divide evenly over its elements: only then are they told apart by value
        for o, dims, lo, sz, flag in ((self.a, (self.G, self.M, self.K), (g0, m0, k0), (g_sz, m_sz, k_sz), la),
                                      (self.b, (self.G, self.K, self.N), (g0, k0, n0), (g_sz, k_sz, n_sz), lb),
                                      (self.y, (self.G, self.M, self.N), (g0, m0, n0), (g_sz, m_sz, n_sz),
                                       (ki == self.nk - 1) & self.sy)):
            if o.nbytes % (dims[0] * dims[1] * dims[2]):
                hi = tuple(x + s for x, s in zip(lo, sz))
                nb = box_bytes_np(o.nbytes, dims, lo, hi)
                cols.append(np.where(flag, nb, -1))
        return _factorize(cols, n)

    def _transfer_operand(self, j: int, kind: int, x: int) -> str:
        gi, mi, ni, ki = self._coords(j)
        if kind == 1:
            return "y"
        ka, kb, _ = self._box_keys(gi, mi, ni, ki)
        la, lb = self._loads_ab(j, ka, kb)
        return [name for name, on in (("a", la), ("b", lb), ("y", True)) if on][x]

    def addresses(self, j: int, kind: int, x: int, tiles: np.ndarray) -> np.ndarray:
        """DRAM address of transfer x (kind 0: load, 1: writeback) of each of ``tiles``, which are
        equal to tile j but for their addresses."""
        which = self._transfer_operand(j, kind, x)
        ka, kb, ky = self._box_keys(*self._coords(tiles))
        o, idx, n = {"a": (self.a, ka, self.nm * self.nk * self.ng), "b": (self.b, kb, self.nk * self.nn * self.ng),
                     "y": (self.y, ky, self.nm * self.nn * self.ng)}[which]
        return self.layout.addr[o.tensor] + offsets_np(o.nbytes, idx, n)


class VectorChunks(_LazyTiles):
    """The chunks of a vector op; ``is_streamed(operand)``: it moves through staging."""

    def __init__(self, plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                 is_streamed: Callable, staging: dict[str, int]):
        super().__init__()
        op = plan.op
        streamed = [o for o in op.reads + op.writes if is_streamed(o)]
        chunks = 1
        for mem in {mem_of(o.tclass) for o in streamed} - {DIRECT}:
            need = sum(o.nbytes for o in streamed if mem_of(o.tclass) == mem)
            chunks = max(chunks, ceil_div(need, max(staging[mem], 1)))
        self.chunks = chunks
        self.total_cycles = ceil_div(op.vector_elem_ops, cfg.vector.lanes)
        self.layout = layout
        self.reads = [(o, mem_of(o.tclass), is_streamed(o)) for o in op.reads]
        self.writes = [(o, mem_of(o.tclass), is_streamed(o)) for o in op.writes]
        # which operand each load and writeback is, in the order a chunk lists them
        self.load_ops = [o for o, _, s in self.reads if s] + [o for o, _, s in self.writes if s and o.accumulate]
        self.wb_ops = [o for o, _, s in self.writes if s]
        self._bodies: dict[tuple, tuple] = {}

    def __len__(self) -> int:
        return self.chunks

    def _build(self, c: int) -> Tile:
        chunks = self.chunks
        xfer = self.layout.transfer
        parts = tuple(chunk_bytes(o.nbytes, c, chunks) for o, _, _ in self.reads + self.writes)
        cyc = chunk_bytes(self.total_cycles, c, chunks)
        body = self._bodies.get((parts, cyc))
        if body is None:
            body = self._bodies[(parts, cyc)] = self._body(parts, cyc)
        reads, writes, per_memory = body
        loads, wbs = [], []
        n_reads = len(self.reads)
        for (o, mem, streamed), part in zip(self.reads, parts):
            if streamed:
                loads.append(xfer(o, mem, part, False, c, chunks, chunk_offset(o.nbytes, c, chunks)))
        for (o, mem, streamed), part in zip(self.writes, parts[n_reads:]):
            if streamed:
                at = chunk_offset(o.nbytes, c, chunks)
                if o.accumulate:
                    loads.append(xfer(o, mem, part, False, c, chunks, at))
                wbs.append(xfer(o, mem, part, True, c, chunks, at))
        return Tile.shared(loads, wbs, reads, writes, cyc, cyc, per_memory)

    def _body(self, parts: tuple[int, ...], cyc: int) -> tuple:
        """(reads, writes, per_memory) of a chunk whose tensors' shares are ``parts``."""
        reads: dict[tuple[str, str], int] = defaultdict(int)
        writes: dict[tuple[str, str], int] = defaultdict(int)
        n_reads = len(self.reads)
        for (o, mem, _), part in zip(self.reads, parts):
            if mem != DIRECT:
                reads[(mem, o.tclass)] += part
        for (o, mem, _), part in zip(self.writes, parts[n_reads:]):
            if mem != DIRECT:
                if o.accumulate:
                    reads[(mem, o.tclass)] += part
                writes[(mem, o.tclass)] += part
        reads, writes = dict(reads), dict(writes)
        return reads, writes, Tile.memory_totals(reads, writes)

    def memo_key(self) -> tuple:
        """Everything the chunks' timing depends on besides the operands' sizes (`op_memo`)."""
        return ("vector", self.chunks, self.total_cycles, tuple((m, s) for _, m, s in self.reads),
                tuple((m, s) for _, m, s in self.writes))

    def ids(self) -> np.ndarray:
        c = np.arange(self.chunks, dtype=np.int64)
        part = {o.tensor: chunk_bytes(o.nbytes, c, self.chunks) for o, _, _ in self.reads + self.writes}
        cols = [part[o.tensor] for o in self.load_ops + self.wb_ops]
        # the unit's bytes per (memory, class), as the chunk's dicts sum them
        sums: dict[tuple, np.ndarray] = {}
        for side, ops in ((0, self.reads), (1, self.writes)):
            for o, mem, _ in ops:
                if mem != DIRECT:
                    for key in ((0, mem, o.tclass),) * (side == 0 or o.accumulate) + ((1, mem, o.tclass),) * side:
                        sums[key] = sums.get(key, 0) + part[o.tensor]
        cols += list(sums.values())
        cols.append(chunk_bytes(self.total_cycles, c, self.chunks))
        return _factorize(cols, self.chunks)

    def addresses(self, j: int, kind: int, x: int, tiles: np.ndarray) -> np.ndarray:
        o = (self.load_ops if kind == 0 else self.wb_ops)[x]
        return self.layout.addr[o.tensor] + chunk_offset(o.nbytes, np.asarray(tiles, dtype=np.int64), self.chunks) // 64 * 64


def emit_gemm_tiles(plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                    streamed: tuple[bool, bool, bool], choice: tuple[int, int, int, int, str], eb: int) -> None:
    plan.tiles = GemmTiles(plan, cfg, layout, mem_of, streamed, choice, eb)


def emit_vector_chunks(plan: OpPlan, cfg: Config, layout: DramLayout, mem_of: Callable[[str], str],
                       is_streamed: Callable, staging: dict[str, int]) -> None:
    """``is_streamed(operand)``: the operand moves through staging (not resident, memory not ideal)."""
    plan.tiles = VectorChunks(plan, cfg, layout, mem_of, is_streamed, staging)

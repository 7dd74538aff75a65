"""Where every tensor lives, how ops are tiled, and what moves between DRAM and the scratchpads.

Rules (documented in the README's model section):
- Each tensor class maps to a memory (``placement.<class>``) or to ``dram`` (streamed straight to the
  unit through the DMA, never kept on chip).
- Half of each scratchpad is the staging area: two buffers of a quarter each, so the DMA fills the
  next tile while the unit works on this one. The other half holds resident tensors.
- Residency is decided in program order with Belady's rule (the compiler knows the schedule): a
  tensor with a later use is kept if it fits the resident half, evicting the tensors whose next use
  is farthest, and only if its own next use is sooner. An evicted tensor that is still needed and is
  not already in DRAM is spilled (a DRAM write); this is how the forward activation stash is kept or
  spilled between forward and backward.
- Operands that are not resident stream through staging in tiles. For a GEMM the tiler enumerates
  tile sizes (M, K, N and the group dimension, halving each) and two loop orders, and picks the one
  with the least DRAM traffic that fits the staging buffers (ties: fewer tiles). A larger staging
  buffer only adds candidates, so it never shows more tiling traffic.
- Partial sums across K (more than one K-fold or K-tile) are fp32 and accumulate in the
  ``accumulator`` memory if the config names one: the tiler only considers tiles whose partial sums
  fit it, unless no such tile fits the staging buffers; otherwise they are read-modify-written in
  the output's memory.
- Weights and optimizer state start in DRAM and end there (dirty resident copies are written back
  at the end of the step); the network input and any error nobody produced start in DRAM.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from models.errors import UserError
from simulator.config import Config
from simulator.mapping import TileWork, ceil_div, tile_work
from workloads.phases import BYTES_PER_ELEMENT, Op, Operand

PSUM_BYTES = 4
DRAM_ALIGN_BYTES = 4096
DIRECT = "dram"


@dataclass(frozen=True)
class Transfer:
    """One DMA transfer between DRAM and a memory (``memory == 'dram'``: straight to the unit)."""

    tensor: str
    tclass: str
    memory: str
    nbytes: int
    to_dram: bool
    dram_addr: int


@dataclass
class Tile:
    loads: list[Transfer]
    writebacks: list[Transfer]
    # bytes the unit reads from / writes to each memory, keyed (memory, tensor class)
    spm_reads: dict[tuple[str, str], int]
    spm_writes: dict[tuple[str, str], int]
    ideal_cycles: int
    stream_cycles: int
    # (memory, read bytes, write bytes) per memory the unit touches, in name order
    per_memory: tuple[tuple[str, int, int], ...] = field(init=False, default=())

    def __post_init__(self):
        names = sorted({k[0] for k in self.spm_reads} | {k[0] for k in self.spm_writes})
        self.per_memory = tuple((n, sum(v for k, v in self.spm_reads.items() if k[0] == n),
                                 sum(v for k, v in self.spm_writes.items() if k[0] == n)) for n in names)


@dataclass
class OpPlan:
    op: Op
    pre: list[Transfer] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)
    resident: dict[str, bool] = field(default_factory=dict)


@dataclass
class Plan:
    ops: list[OpPlan]
    post: list[Transfer]
    dram_addr: dict[str, int]
    tensor_bytes: dict[str, int]
    # tensor -> (memory, op index written or fetched, op index of last read) for the error ledger
    residency_log: list[tuple[str, str, str, int, int]]


class _Residency:
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
        j = _bisect_right(uses, after)
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


def _bisect_right(seq: list[int], x: int) -> int:
    lo, hi = 0, len(seq)
    while lo < hi:
        mid = (lo + hi) // 2
        if seq[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def box_bytes(nbytes: int, dims: tuple[int, ...], lo: tuple[int, ...], hi: tuple[int, ...]) -> int:
    """Bytes of the box [lo, hi) of a tensor of ``nbytes`` viewed as ``dims``, rounded so that the
    boxes of any partition add up to exactly ``nbytes`` (inclusion-exclusion of a floored
    cumulative measure)."""
    total = 1
    for d in dims:
        total *= d
    if nbytes % total == 0:  # whole bytes per element: no rounding to spread
        vol = 1
        for a, b in zip(lo, hi):
            vol *= b - a
        return nbytes // total * vol
    acc = 0
    n = len(dims)
    for corner in range(1 << n):
        vol, sign = 1, 1
        for j in range(n):
            if corner >> j & 1:
                vol *= hi[j]
            else:
                vol *= lo[j]
                sign = -sign
        acc += sign * (nbytes * vol // total)
    return acc


def _halvings(n: int) -> np.ndarray:
    vals, v = [], n
    while True:
        vals.append(v)
        if v == 1:
            break
        v = ceil_div(v, 2)
    return np.array(vals, dtype=np.int64)


def _tile_sizes(n: int, unit: int) -> np.ndarray:
    """Candidate tile sizes along a dimension: halvings, and multiples of the array's side."""
    sizes = set(_halvings(n).tolist())
    if unit > 1:
        v = unit
        while v < n:
            sizes.add(v)
            v *= 2
        sizes.add(n)
        sizes = {x for x in sizes if x >= unit or x == n}
    return np.array(sorted(sizes), dtype=np.int64)


class Planner:
    def __init__(self, config: Config, ideal_memory: bool = False):
        self.cfg = config
        self.ideal = ideal_memory
        self.eb = BYTES_PER_ELEMENT[config.array.precision]
        self.staging = {name: m.capacity_bytes // 4 for name, m in config.memories.items()}
        self.addr: dict[str, int] = {}
        self.next_addr = 0
        self.classes: dict[str, str] = {}
        self.tensor_bytes: dict[str, int] = {}

    def mem_of(self, tclass: str) -> str:
        return self.cfg.placement[tclass]

    def _register(self, o: Operand) -> None:
        if o.tensor not in self.addr:
            self.addr[o.tensor] = self.next_addr
            self.next_addr += ceil_div(max(o.nbytes, 1), DRAM_ALIGN_BYTES) * DRAM_ALIGN_BYTES
            self.classes[o.tensor] = o.tclass
            self.tensor_bytes[o.tensor] = o.nbytes

    def plan(self, ops: list[Op]) -> Plan:
        for op in ops:
            for o in op.reads + op.writes:
                self._register(o)
        budgets = {} if self.ideal else {n: m.capacity_bytes - 2 * self.staging[n] for n, m in self.cfg.memories.items()}
        res = _Residency(ops, budgets)
        written: set[str] = set()
        for op in ops:
            for o in op.reads:
                if o.tensor not in written:
                    res.in_dram.add(o.tensor)
            for o in op.writes:
                written.add(o.tensor)
        plans = []
        for i, op in enumerate(ops):
            plans.append(self._plan_op(i, op, res))
        post: list[Transfer] = []
        for mem, tensors in res.resident.items():
            for t, (nbytes, dirty) in list(tensors.items()):
                if dirty and self.classes[t] in ("weight", "optimizer_state"):
                    post.append(Transfer(t, self.classes[t], mem, nbytes, True, self.addr[t]))
                res.log.append((t, self.classes[t], mem, res.since.get(t, len(ops)), res.last_read.get(t, len(ops))))
        return Plan(plans, post, dict(self.addr), dict(self.tensor_bytes), res.log)

    # ------------------------------------------------------------------------------------------
    def _plan_op(self, i: int, op: Op, res: _Residency) -> OpPlan:
        plan = OpPlan(op)
        if self.ideal:
            plan.resident = {o.tensor: True for o in op.reads + op.writes}
        else:
            busy = {o.tensor for o in op.reads + op.writes}
            for o in op.reads:
                mem = self.mem_of(o.tclass)
                if res.is_resident(mem, o.tensor):
                    plan.resident[o.tensor] = True
                elif res.admit(mem, o.tensor, o.tclass, o.nbytes, i, busy, False, plan.pre, self.addr, self.classes):
                    plan.resident[o.tensor] = True
                    plan.pre.append(Transfer(o.tensor, o.tclass, mem, o.nbytes, False, self.addr[o.tensor]))
                else:
                    plan.resident[o.tensor] = False
                res.last_read[o.tensor] = i
            for o in op.writes:
                mem = self.mem_of(o.tclass)
                if res.is_resident(mem, o.tensor):
                    nbytes, _ = res.resident[mem][o.tensor]
                    res.resident[mem][o.tensor] = (nbytes, True)
                    plan.resident[o.tensor] = True
                elif o.accumulate and o.tensor in res.in_dram:
                    # the earlier contribution is in DRAM: stream it in and the sum out
                    plan.resident[o.tensor] = False
                elif res.admit(mem, o.tensor, o.tclass, o.nbytes, i, busy, True, plan.pre, self.addr, self.classes):
                    plan.resident[o.tensor] = True
                else:
                    plan.resident[o.tensor] = False
                if plan.resident[o.tensor]:
                    res.in_dram.discard(o.tensor)
                else:
                    res.in_dram.add(o.tensor)
        if op.gemm is not None:
            self._tile_gemm(plan)
        else:
            self._tile_vector(plan)
        return plan

    # ------------------------------------------------------------------------------------------
    def _streamed(self, plan: OpPlan, o: Operand) -> bool:
        return not plan.resident.get(o.tensor, False)

    def _psum_memory(self, tile_out_bytes: int) -> str:
        acc = self.cfg.accumulator
        if acc and tile_out_bytes <= self.cfg.memories[acc].capacity_bytes:
            return acc
        return ""

    def _tile_gemm(self, plan: OpPlan) -> None:
        op = plan.op
        g = op.gemm
        a, b = op.reads
        (y,) = op.writes
        M, K, N, G = g.m, g.k, g.n, g.count
        rows, cols, df = self.cfg.array.rows, self.cfg.array.cols, self.cfg.array.dataflow
        if self.ideal:
            choice = (M, K, N, G, "mn")
        else:
            choice = self._choose_gemm_tiling(plan, a, b, y, M, K, N, G)
        mt, kt, nt, gt, order = choice
        nm, nk, nn, ng = ceil_div(M, mt), ceil_div(K, kt), ceil_div(N, nt), ceil_div(G, gt)
        sa, sb, sy = self._streamed(plan, a), self._streamed(plan, b), self._streamed(plan, y)
        mem_a, mem_b, mem_y = (self.mem_of(o.tclass) for o in (a, b, y))
        eb = self.eb
        acc_mem = self._psum_memory(mt * nt * gt * PSUM_BYTES) if (nk > 1 or ceil_div(kt, rows) > 1) else ""
        psum_mem = acc_mem or mem_y
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
                    loads.append(self._xfer(a, mem_a, nbytes, False, (gi * nm + mi) * nk + ki, nm * nk * ng))
                    loaded_a = (gi, mi, ki)
                if sb and loaded_b != (gi, ki, ni):
                    nbytes = box_bytes(b.nbytes, (G, K, N), (g0, k0, n0), (g0 + g_sz, k0 + k_sz, n0 + n_sz))
                    loads.append(self._xfer(b, mem_b, nbytes, False, (gi * nk + ki) * nn + ni, nk * nn * ng))
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
                        loads.append(self._xfer(y, mem_y, nbytes, False, idx, nm * nn * ng))
                    writebacks.append(self._xfer(y, mem_y, nbytes, True, idx, nm * nn * ng))
                plan.tiles.append(Tile(loads, writebacks, dict(reads), dict(writes),
                                       w.ideal_cycles * g_sz, w.stream_cycles * g_sz))

    def _xfer(self, o: Operand, mem: str, nbytes: int, to_dram: bool, idx: int, n: int) -> Transfer:
        base = self.addr[o.tensor]
        offset = (o.nbytes * idx // max(n, 1)) // 64 * 64
        return Transfer(o.tensor, o.tclass, mem, nbytes, to_dram, base + offset)

    def _choose_gemm_tiling(self, plan, a, b, y, M, K, N, G):
        """Least DRAM traffic over a grid of tile sizes and two loop orders that fit staging."""
        rows, cols, df = self.cfg.array.rows, self.cfg.array.cols, self.cfg.array.dataflow
        unit = {"ws": (1, rows, cols), "is": (cols, rows, 1), "os": (rows, 1, cols)}[df]
        ms, ks, ns = (_tile_sizes(d, u) for d, u in zip((M, K, N), unit))
        gs = _halvings(G)
        mt, kt, nt, gt = np.meshgrid(ms, ks, ns, gs, indexing="ij")
        mt, kt, nt, gt = (x.ravel().astype(np.float64) for x in (mt, kt, nt, gt))
        nm, nk, nn, ng = (np.ceil(M / mt), np.ceil(K / kt), np.ceil(N / nt), np.ceil(G / gt))
        sa, sb, sy = self._streamed(plan, a), self._streamed(plan, b), self._streamed(plan, y)
        mem_a, mem_b, mem_y = (self.mem_of(o.tclass) for o in (a, b, y))
        fa = a.nbytes * (mt / M) * (kt / K) * (gt / G)
        fb = b.nbytes * (kt / K) * (nt / N) * (gt / G)
        fy = y.nbytes * (mt / M) * (nt / N) * (gt / G)
        fpsum = mt * nt * gt * PSUM_BYTES
        need: dict[str, np.ndarray] = defaultdict(lambda: np.zeros_like(mt))
        if sa and mem_a != DIRECT:
            need[mem_a] = need[mem_a] + fa
        if sb and mem_b != DIRECT:
            need[mem_b] = need[mem_b] + fb
        multi_k = (nk > 1) | (np.ceil(kt / self.cfg.array.rows) > 1)
        acc = self.cfg.accumulator
        acc_fits = (fpsum <= self.cfg.memories[acc].capacity_bytes) if acc else np.zeros_like(mt, dtype=bool)
        if sy and mem_y != DIRECT:
            need[mem_y] = need[mem_y] + np.where(multi_k & ~acc_fits, np.maximum(fy, fpsum), fy)
        elif mem_y != DIRECT:
            need[mem_y] = need[mem_y] + np.where(multi_k & ~acc_fits & sy, fpsum, 0.0)
        ok = np.ones_like(mt, dtype=bool)
        for mem, req in need.items():
            ok &= req <= self.staging[mem]
        if acc:
            # partial sums belong in the accumulator: spill them to a scratchpad only if no tile fits
            in_acc = ok & ~(multi_k & ~acc_fits)
            if in_acc.any():
                ok = in_acc
        if not ok.any():
            smallest = {mem: int(req.min()) for mem, req in need.items()}
            mem = max(smallest, key=lambda m: smallest[m] - self.staging[m])
            cap_kib = self.cfg.memories[mem].capacity_bytes // 1024
            raise UserError(
                f"{self.cfg.source}: memories.{mem}.capacity_kib = {cap_kib} (layer {plan.op.layer} "
                f"{plan.op.phase} needs a staging buffer of at least {smallest[mem]} bytes, a quarter of the memory; "
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
        sr, sc, t = {"ws": (kt, nt, mt), "is": (kt, mt, nt), "os": (mt, nt, kt)}[df]
        per_fold = (rows if df == "os" else 2 * rows) + cols + t - 2
        compute = tiles * np.ceil(sr / rows) * np.ceil(sc / cols) * per_fold * gt
        best = None
        for order, traffic in (("mn", traffic_mn), ("nm", traffic_nm)):
            score = np.where(ok, traffic, np.inf)
            key = np.lexsort((tiles, psum_spill, compute, score))[0]
            cand = (score[key], compute[key], psum_spill[key], tiles[key], order, key)
            if best is None or cand[:4] < best[:4]:
                best = cand
        key, order = best[5], best[4]
        return int(mt[key]), int(kt[key]), int(nt[key]), int(gt[key]), order

    def _tile_vector(self, plan: OpPlan) -> None:
        op = plan.op
        streamed = [o for o in op.reads + op.writes if self._streamed(plan, o) and not self.ideal]
        chunks = 1
        for mem in {self.mem_of(o.tclass) for o in streamed} - {DIRECT}:
            need = sum(o.nbytes for o in streamed if self.mem_of(o.tclass) == mem)
            chunks = max(chunks, ceil_div(need, max(self.staging[mem], 1)))
        lanes = self.cfg.vector.lanes
        total_cycles = ceil_div(op.vector_elem_ops, lanes)
        for c in range(chunks):
            loads, wbs = [], []
            reads: dict[tuple[str, str], int] = defaultdict(int)
            writes: dict[tuple[str, str], int] = defaultdict(int)
            for o in op.reads:
                part = box_bytes(o.nbytes, (chunks,), (c,), (c + 1,))
                mem = self.mem_of(o.tclass)
                if self._streamed(plan, o) and not self.ideal:
                    loads.append(self._xfer(o, mem, part, False, c, chunks))
                if mem != DIRECT:
                    reads[(mem, o.tclass)] += part
            for o in op.writes:
                part = box_bytes(o.nbytes, (chunks,), (c,), (c + 1,))
                mem = self.mem_of(o.tclass)
                if self._streamed(plan, o) and not self.ideal:
                    if o.accumulate:
                        loads.append(self._xfer(o, mem, part, False, c, chunks))
                    wbs.append(self._xfer(o, mem, part, True, c, chunks))
                if mem != DIRECT:
                    if o.accumulate:
                        reads[(mem, o.tclass)] += part
                    writes[(mem, o.tclass)] += part
            cyc = ceil_div(total_cycles * (c + 1), chunks) - ceil_div(total_cycles * c, chunks)
            plan.tiles.append(Tile(loads, wbs, dict(reads), dict(writes), cyc, cyc))

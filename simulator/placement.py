"""Where every tensor lives, how ops are tiled, and what moves between DRAM and the scratchpads.

This module decides residency per op and hands over to its parts: `residency` (Belady), `tiling`
(the GEMM tiling search), `emission` (tiles and vector chunks), `dram_layout` (DRAM addresses),
`plan` (the data types the engine runs, re-exported here).

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

from models.names import PERSISTENT_CLASSES
from simulator.config import Config
from simulator.dram_layout import DRAM_ALIGN_BYTES, DramLayout, box_bytes
from simulator.emission import emit_gemm_tiles, emit_vector_chunks
from simulator.plan import DIRECT, PSUM_BYTES, OpPlan, Plan, Tile, Transfer
from simulator.residency import Residency
from simulator.tiling import choose_gemm_tiling
from workloads.phases import BYTES_PER_ELEMENT, Op, Operand

__all__ = ["DIRECT", "DRAM_ALIGN_BYTES", "PSUM_BYTES", "OpPlan", "Plan", "Planner", "Tile", "Transfer", "box_bytes"]


class Planner:
    def __init__(self, config: Config, ideal_memory: bool = False):
        self.cfg = config
        self.ideal = ideal_memory
        self.eb = BYTES_PER_ELEMENT[config.array.precision]
        self.staging = {name: m.capacity_bytes // 4 for name, m in config.memories.items()}
        self.layout = DramLayout()

    def mem_of(self, tclass: str) -> str:
        return self.cfg.placement[tclass]

    def plan(self, ops: list[Op]) -> Plan:
        layout = self.layout
        for op in ops:
            for o in op.reads + op.writes:
                layout.register(o)
        budgets = {} if self.ideal else {n: m.capacity_bytes - 2 * self.staging[n] for n, m in self.cfg.memories.items()}
        res = Residency(ops, budgets)
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
        classes = layout.classes
        for mem, tensors in res.resident.items():
            for t, (nbytes, dirty) in list(tensors.items()):
                if dirty and classes[t] in PERSISTENT_CLASSES:
                    post.append(Transfer(t, classes[t], mem, nbytes, True, layout.addr[t]))
                res.log.append((t, classes[t], mem, res.since.get(t, len(ops)), res.last_read.get(t, len(ops))))
        return Plan(plans, post, dict(layout.addr), dict(layout.tensor_bytes), res.log)

    def _plan_op(self, i: int, op: Op, res: Residency) -> OpPlan:
        plan = OpPlan(op)
        addr, classes = self.layout.addr, self.layout.classes
        if self.ideal:
            plan.resident = {o.tensor: True for o in op.reads + op.writes}
        else:
            busy = {o.tensor for o in op.reads + op.writes}
            for o in op.reads:
                mem = self.mem_of(o.tclass)
                if res.is_resident(mem, o.tensor):
                    plan.resident[o.tensor] = True
                elif res.admit(mem, o.tensor, o.tclass, o.nbytes, i, busy, False, plan.pre, addr, classes):
                    plan.resident[o.tensor] = True
                    plan.pre.append(Transfer(o.tensor, o.tclass, mem, o.nbytes, False, addr[o.tensor]))
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
                elif res.admit(mem, o.tensor, o.tclass, o.nbytes, i, busy, True, plan.pre, addr, classes):
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
            emit_vector_chunks(plan, self.cfg, self.layout, self.mem_of,
                               lambda o: self._streamed(plan, o) and not self.ideal, self.staging)
        return plan

    def _streamed(self, plan: OpPlan, o: Operand) -> bool:
        return not plan.resident.get(o.tensor, False)

    def _tile_gemm(self, plan: OpPlan) -> None:
        op = plan.op
        g = op.gemm
        operands = (*op.reads, *op.writes)
        streamed = tuple(self._streamed(plan, o) for o in operands)
        if self.ideal:
            choice = (g.m, g.k, g.n, g.count, "mn")
        else:
            mems = tuple(self.mem_of(o.tclass) for o in operands)
            choice = choose_gemm_tiling(self.cfg, self.staging, op, operands, streamed, mems, g.m, g.k, g.n, g.count)
        emit_gemm_tiles(plan, self.cfg, self.layout, self.mem_of, streamed, choice, self.eb)

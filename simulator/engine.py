"""The SimPy engine: one process per stream (DMA in, DMA out, the compute unit), one event per tile.

Ops run in program order, one at a time. Inside an op the DMA fills a staging buffer half with the
next tile's operands while the unit computes this one (two halves: double buffering), and a second
DMA stream drains finished output tiles to DRAM (two output halves). Scratchpads and DRAM are
work-conserving servers (`components`), so these concurrent streams contend for bank time and
DRAM channels. Every tile's timing is exact integer arithmetic:

- the unit may start tile i when its operands are in (``ready``); the wait is ``dram`` up to the
  time DRAM delivered the data and ``bank_conflict`` after (the DMA's writes queued for banks);
- the tile lasts max(ideal, memory bound): ideal = folds x (fill + stream + drain) for a GEMM
  (`mapping`), ceil(element ops / lanes) for a vector op; the memory bound of each scratchpad the
  unit touches is its bank demand (reads x read_ii + writes x write_occ per bank) plus read latency,
  starting when earlier streams release the banks;
- the excess over ideal is split by cause, in the contract's precedence: cycles that writes alone
  explain are ``spm_write``, further cycles reads alone explain ``spm_read``, the extra cycles the
  two need together ``spm_write`` (the write occupancy is what the read stream queues behind), and
  what remains (the wait for banks other streams hold) ``bank_conflict``;
- an op ends when its last output tile is in DRAM; that tail is ``dram``.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from simulator.components.dram import Dram
from simulator.components.scratchpad import Scratchpad
from simulator.config import Config
from simulator.placement import DIRECT, OpPlan, Plan, Transfer
from simulator.stats import Ledger, OpRow
from simulator.timeline import NullTracer


@dataclass
class OpTiming:
    start: int
    end: int
    tiles: int


class Engine:
    def __init__(self, cfg: Config, plan: Plan, ledger: Ledger, tracer=None, ideal_memory: bool = False):
        self.cfg = cfg
        self.plan = plan
        self.ledger = ledger
        self.tracer = tracer or NullTracer()
        self.ideal = ideal_memory
        self.env = simpy.Environment()
        self.spm = {name: Scratchpad(m, cfg.clock_ghz, ideal_memory) for name, m in cfg.memories.items()}
        self.dram = Dram(cfg.dram, cfg.clock_ghz, ideal_memory)
        self.op_timing: list[OpTiming] = []
        self.events = 0
        self._unit_access: dict[tuple[str, str], list[int]] = {}  # the current op's unit accesses

    def run(self) -> int:
        self.env.process(self._step())
        self.env.run()
        return int(self.env.now)

    # ------------------------------------------------------------------------------------------
    def _step(self):
        for p in self.plan.ops:
            start = int(self.env.now)
            yield from self._op(p)
            self.op_timing.append(OpTiming(start, int(self.env.now), len(p.tiles)))
        if self.plan.post and self.plan.ops:
            last = self.plan.ops[-1].op
            row = self.ledger.row(last.layer, last.layer_id, last.op, last.phase)
            t0 = int(self.env.now)
            done = t0
            for x in self.plan.post:
                done = max(done, self._move(x, t0, row, slot=0)[0])
            yield self.env.timeout(done - t0)
            self.ledger.add_stalls(row, {"dram": done - t0})
            unit = "pe_array" if last.gemm is not None else "vector"
            self.tracer.slice(t0, done, unit, 0, row.layer_id, row.phase, row.op, stall="dram")
            self.ledger.leakage(row, done - t0)

    def _move(self, x: Transfer, t: int, row: OpRow, slot: int) -> tuple[int, int]:
        """One DMA transfer requested at cycle t: (cycle its data is in place, cycle DRAM finished)."""
        op = row.op
        if x.to_dram:
            if x.memory != DIRECT:
                spm = self.spm[x.memory]
                r = spm.reserve(t, spm.read_demand(x.nbytes), int(self.env.now))
                self._bank_slices(x.memory, r, row, x.tclass, x.nbytes, 0)
                self.ledger.spm_access(row, self.cfg.memories[x.memory], x.tclass, x.nbytes, 0)
                t = r.start + spm.read_latency
            s, e, done = self.dram.transfer(t, x.nbytes)
            dram_done = done
            if x.memory != DIRECT:
                done = max(done, r.end + self.spm[x.memory].read_latency)
            self.ledger.dram_access(row, x.tclass, 0, x.nbytes)
        else:
            s, e, done = self.dram.transfer(t, x.nbytes)
            dram_done = done
            if x.memory != DIRECT:
                spm = self.spm[x.memory]
                r = spm.reserve(s + self.dram.latency, spm.write_demand(x.nbytes), int(self.env.now))
                self._bank_slices(x.memory, r, row, x.tclass, x.nbytes, 1)
                self.ledger.spm_access(row, self.cfg.memories[x.memory], x.tclass, 0, x.nbytes)
                done = max(done, r.end + spm.write_latency)
            self.ledger.dram_access(row, x.tclass, x.nbytes, 0)
        w = int(x.to_dram)
        self.tracer.slice(s, e, "dram", 0, row.layer_id, row.phase, op, x.tclass, x.nbytes, x.dram_addr, is_write=w)
        self.tracer.slice(t, done, "dma", slot, row.layer_id, row.phase, op, x.tclass, x.nbytes, x.dram_addr,
                          is_write=w)
        return done, dram_done

    # ------------------------------------------------------------------------------------------
    def _op(self, p: OpPlan):
        env = self.env
        op = p.op
        row = self.ledger.row(op.layer, op.layer_id, op.op, op.phase)
        self.ledger.compute_energy(row, op.macs, op.vector_elem_ops)
        self._unit_access = {}
        t_op = int(env.now)
        n = len(p.tiles)
        ready = [env.event() for _ in range(n)]
        in_slots = simpy.Container(env, capacity=2, init=2)
        out_slots = simpy.Container(env, capacity=2, init=2)
        pre_ready = env.event()
        env.process(self._dma_in(p, row, ready, in_slots, pre_ready))
        unit = "pe_array" if op.gemm is not None else "vector"
        dram_ready, _ = yield pre_ready
        t_free = t_op
        for i, tile in enumerate(p.tiles):
            if i:
                t_free = int(env.now)
            dram_done, _ = yield ready[i]
            if i == 0:
                dram_done = max(dram_done, dram_ready)
            t0 = int(env.now)
            self._wait_stalls(row, unit, t_free, t0, dram_done)
            end = self._tile(row, unit, tile, t0)
            self.events += 2
            yield env.timeout(end - t0)
            in_slots.put(1)
            if tile.writebacks:
                t_w = int(env.now)
                yield out_slots.get(1)
                if env.now > t_w:
                    self.ledger.add_stalls(row, {"dram": int(env.now) - t_w})
                    self.tracer.slice(t_w, int(env.now), unit, 0, row.layer_id, row.phase, op.op, stall="dram")
                env.process(self._dma_out(tile.writebacks, row, out_slots, slot=2 + i % 2))
        t_tail = int(env.now)
        yield out_slots.get(2)
        yield in_slots.get(2)
        if env.now > t_tail:
            self.ledger.add_stalls(row, {"dram": int(env.now) - t_tail})
            self.tracer.slice(t_tail, int(env.now), unit, 0, row.layer_id, row.phase, op.op, stall="dram")
        self.ledger.leakage(row, int(env.now) - t_op)
        for (name, tclass), (rb, wb, rw, ww) in self._unit_access.items():
            self.ledger.spm_access(row, self.cfg.memories[name], tclass, rb, wb, rw, ww)

    def _dma_in(self, p: OpPlan, row: OpRow, ready, slots, pre_ready):
        env = self.env
        t = int(env.now)
        done = dram_done = t
        for x in p.pre:
            d, dd = self._move(x, t, row, slot=0)
            if not x.to_dram:
                done, dram_done = max(done, d), max(dram_done, dd)
        if done > t:
            yield env.timeout(done - t)
        pre_ready.succeed((dram_done, done))
        for i, tile in enumerate(p.tiles):
            yield slots.get(1)
            t = int(env.now)
            done = dram_done = t
            for x in tile.loads:
                d, dd = self._move(x, t, row, slot=i % 2)
                done, dram_done = max(done, d), max(dram_done, dd)
            if done > t:
                self.events += 1
                yield env.timeout(done - t)
            ready[i].succeed((dram_done, done))

    def _dma_out(self, writebacks: list[Transfer], row: OpRow, slots, slot: int):
        t = int(self.env.now)
        done = t
        for x in writebacks:
            done = max(done, self._move(x, t, row, slot=slot)[0])
        if done > t:
            self.events += 1
            yield self.env.timeout(done - t)
        slots.put(1)

    def _bank_slices(self, memory: str, res, row: OpRow, tclass: str, nbytes: int, is_write: int) -> None:
        """One slice per stretch of bank time a reservation got; its bytes go with the first."""
        for k, (a, b) in enumerate(res.pieces):
            self.tracer.slice(a, b, memory, 0, row.layer_id, row.phase, row.op, tclass, nbytes if k == 0 else 0,
                              is_write=is_write)

    def _wait_stalls(self, row: OpRow, unit: str, t_free: int, t0: int, dram_done: int) -> None:
        if t0 <= t_free:
            return
        dram_part = max(0, min(dram_done, t0) - t_free)
        parts = {"dram": dram_part, "bank_conflict": t0 - t_free - dram_part}
        self.ledger.add_stalls(row, parts)
        op = row.op
        if dram_part:
            self.tracer.slice(t_free, t_free + dram_part, unit, 0, row.layer_id, row.phase, op, stall="dram")
        if parts["bank_conflict"]:
            self.tracer.slice(t_free + dram_part, t0, unit, 0, row.layer_id, row.phase, op, stall="bank_conflict")

    def _tile(self, row: OpRow, unit: str, tile, t0: int) -> int:
        ideal_end = t0 + tile.ideal_cycles
        e_w = e_r = e_nc = e = t0
        for name, rb, wb in tile.per_memory:
            spm = self.spm[name]
            r_dem, w_dem = spm.read_demand(rb), spm.write_demand(wb)
            hidden = spm.write_hidden(wb)
            lat = spm.read_latency if r_dem else 0
            res = spm.reserve(t0, r_dem + w_dem, t0)
            e_w = max(e_w, t0 + w_dem - hidden)
            e_r = max(e_r, t0 + r_dem + lat)
            e_nc = max(e_nc, t0 + r_dem + w_dem - hidden + lat)
            e = max(e, res.end - hidden + lat)
            self._bank_slices(name, res, row, "none", rb + wb, int(wb > 0))
        acc = self._unit_access
        for (name, tclass), nbytes in tile.spm_reads.items():
            a = acc.setdefault((name, tclass), [0, 0, 0, 0])
            a[0] += nbytes
            a[2] += -(-nbytes // self.spm[name].word_bytes)
        for (name, tclass), nbytes in tile.spm_writes.items():
            a = acc.setdefault((name, tclass), [0, 0, 0, 0])
            a[1] += nbytes
            a[3] += -(-nbytes // self.spm[name].word_bytes)
        end = max(ideal_end, e)
        spm_write = max(0, e_w - ideal_end)
        spm_read = max(0, e_r - max(ideal_end, e_w))
        spm_write += max(0, e_nc - max(ideal_end, e_w, e_r))
        conflict = end - max(ideal_end, e_nc, e_r, e_w)
        busy = "compute" if unit == "pe_array" else "vector"
        parts = {busy: tile.stream_cycles, "fill_drain": tile.ideal_cycles - tile.stream_cycles,
                 "spm_write": spm_write, "spm_read": spm_read, "bank_conflict": max(0, conflict)}
        self.ledger.add_stalls(row, parts)
        self.tracer.slice(t0, ideal_end, unit, 0, row.layer_id, row.phase, row.op)
        t = ideal_end
        for cause in ("spm_write", "spm_read", "bank_conflict"):
            if parts[cause]:
                self.tracer.slice(t, t + parts[cause], unit, 0, row.layer_id, row.phase, row.op, stall=cause)
                t += parts[cause]
        assert t == end, (t, end)
        return end


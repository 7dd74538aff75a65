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

Fast-forward (the default; ``fast_forward=False`` is the event-per-tile oracle) works at two levels.
An op equal to one simulated earlier, in its work and in the bank and DRAM state it starts from, is
replayed from that op's record without events (`components.op_memo`). Inside an op, once its state
at a tile boundary repeats a period of tiles later (`components.periodic`, `components.fast_forward`),
the engine skips k whole periods: their ledger deltas are added k times (integers), their timeline rows are the last period's
rows shifted with numpy, and the SimPy clock stays behind by the skipped cycles (``offset``), which
every reported cycle adds. Logical tile j after a skip is physical tile j + ``shift``. A period may
have an odd number of tiles: the tile's parity only names its DMA slot in the timeline, which the
copies set from the tile they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from simulator.components.dram import Dram
from simulator.components.op_memo import OpMemo
from simulator.components.fast_forward import fast_forward
from simulator.components.scratchpad import Scratchpad
from simulator.config import Config
from simulator.placement import DIRECT, OpPlan, Plan, Transfer
from simulator.power_gating import PowerGating
from simulator.schema import NO_STALL
from simulator.stats import Ledger, OpRow
from simulator.timeline import NullTracer

@dataclass
class OpTiming:
    start: int
    end: int
    tiles: int


@dataclass
class _OpState:
    """The running op: its logical tile count and physical shift (both move when periods are skipped)."""

    plan: OpPlan
    n: int
    shift: int = 0
    ready: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    ids: object = None  # tile_ids of the op's tiles, computed when first needed
    id_list: list = field(default_factory=list)
    watched: bool = True  # some period of its tiles may be skipped (`periodic.may_skip`)

    def tile(self, j: int):
        return self.plan.tiles[j + self.shift]


class Engine:
    def __init__(self, cfg: Config, plan: Plan, ledger: Ledger, tracer=None, ideal_memory: bool = False,
                 fast_forward: bool = True, progress=None):
        self.cfg = cfg
        self.plan = plan
        self.ledger = ledger
        self.tracer = tracer or NullTracer()
        self._trace = self.tracer.slice
        self.ideal = ideal_memory
        self.fast_forward = fast_forward
        self.progress = progress  # called with (ops done, ops in all) after every op
        self._track = fast_forward and self.tracer.keeps_rows  # note which tile each address row is of
        self.env = simpy.Environment()
        self.spm = {name: Scratchpad(m, cfg.clock_ghz, ideal_memory) for name, m in cfg.memories.items()}
        self.dram = Dram(cfg.dram, cfg.clock_ghz, ideal_memory)
        self.op_timing: list[OpTiming] = []
        self.events = 0
        self.skipped_tiles = 0
        self.offset = 0  # cycles skipped by fast-forward: reported cycle = SimPy cycle + offset
        # the current op's accesses, integers, booked to the ledger at the op's end (so a skipped
        # period adds exactly k times its counts): (memory, tclass) -> [rb, wb, rw, ww], tclass -> [rb, wb]
        self._unit_access: dict[tuple[str, str], list[int]] = {}
        self._dma_access: dict[tuple[str, str], list[int]] = {}
        self._dram_access: dict[str, list[int]] = {}
        self._refs: list[tuple[int, int, int, int, int]] = []  # timeline rows [a, b) of tile transfer (tile, kind, k)
        self._ref: tuple[int, int, int] | None = None
        self.template_floor = 0  # a period's rows must start at or after this timeline row
        self.gating = PowerGating(self, ideal_memory)
        self.memo = OpMemo(self) if fast_forward else None

    def now(self) -> int:
        return int(self.env.now) + self.offset

    def run(self) -> int:
        self.env.process(self._step())
        self.env.run()
        self.gating.finish(self.ledger)
        return self.now()

    def _slice(self, t_start, t_end, unit, slot, layer_id, phase, op, tclass="none", nbytes=0, dram_addr=-1,
               stall=NO_STALL, is_write=0) -> None:
        if t_end > t_start:  # the tracers keep no empty slice
            off = self.offset
            self._trace(t_start + off, t_end + off, unit, slot, layer_id, phase, op, tclass, nbytes, dram_addr, stall,
                        is_write)

    # ------------------------------------------------------------------------------------------
    def _step(self):
        for p in self.plan.ops:
            start = self.now()
            yield from self._op(p)
            self.op_timing.append(OpTiming(start, self.now(), len(p.tiles)))
            if self.progress is not None:
                self.progress(len(self.op_timing), len(self.plan.ops))
        if self.plan.post and self.plan.ops:
            last = self.plan.ops[-1].op
            row = self.ledger.row(last.layer, last.layer_id, last.op, last.phase)
            t0 = int(self.env.now)
            self.gating.begin_op(row, self.now())
            done = t0
            for x in self.plan.post:
                done = max(done, self._move(x, t0, row, slot=0)[0])
            yield self.env.timeout(done - t0)
            self.ledger.add_stalls(row, {"dram": done - t0})
            unit = "pe_array" if last.gemm is not None else "vector"
            self._slice(t0, done, unit, 0, row.layer_id, row.phase, row.op, stall="dram")
            self._book_accesses(row)
            self.ledger.leakage(row, done - t0)

    def _move(self, x: Transfer, t: int, row: OpRow, slot: int) -> tuple[int, int]:
        """One DMA transfer requested at cycle t: (cycle its data is in place, cycle DRAM finished)."""
        op = row.op
        if x.to_dram:
            if x.memory != DIRECT:
                spm = self.spm[x.memory]
                r = spm.reserve(t, spm.read_demand(x.nbytes), int(self.env.now))
                self._bank_slices(x.memory, r, row, x.tclass, x.nbytes, 0)
                self._count(self._dma_access, (x.memory, x.tclass), x.nbytes, 0)
                t = r.start + spm.read_latency
            s, e, done = self.dram.transfer(t, x.nbytes)
            dram_done = done
            if x.memory != DIRECT:
                done = max(done, r.end + self.spm[x.memory].read_latency)
            self._dram_count(x.tclass, 0, x.nbytes)
        else:
            s, e, done = self.dram.transfer(t, x.nbytes)
            dram_done = done
            if x.memory != DIRECT:
                spm = self.spm[x.memory]
                r = spm.reserve(s + self.dram.latency, spm.write_demand(x.nbytes), int(self.env.now))
                self._bank_slices(x.memory, r, row, x.tclass, x.nbytes, 1)
                self._count(self._dma_access, (x.memory, x.tclass), 0, x.nbytes)
                done = max(done, r.end + spm.write_latency)
            self._dram_count(x.tclass, x.nbytes, 0)
        w = int(x.to_dram)
        a = self.tracer.mark() if self._ref is not None else 0
        self._slice(s, e, "dram", 0, row.layer_id, row.phase, op, x.tclass, x.nbytes, x.dram_addr, is_write=w)
        self._slice(t, done, "dma", slot, row.layer_id, row.phase, op, x.tclass, x.nbytes, x.dram_addr, is_write=w)
        if self._ref is not None:
            self._refs.append((a, self.tracer.mark(), *self._ref))
        return done, dram_done

    def _count(self, acc: dict, key, rb: int, wb: int) -> None:
        a = acc.get(key)
        if a is None:
            a = acc[key] = [0, 0, 0, 0]
        wbytes = self.spm[key[0]].word_bytes
        a[0] += rb
        a[1] += wb
        a[2] += -(-rb // wbytes)
        a[3] += -(-wb // wbytes)

    def _dram_count(self, tclass: str, rb: int, wb: int) -> None:
        a = self._dram_access.get(tclass)
        if a is None:
            a = self._dram_access[tclass] = [0, 0]
        a[0] += rb
        a[1] += wb

    def _book_accesses(self, row: OpRow) -> None:
        mems = self.cfg.memories
        for (name, tclass), (rb, wb, rw, ww) in self._dma_access.items():
            self.ledger.spm_access(row, mems[name], tclass, rb, wb, rw, ww)
        for tclass, (rb, wb) in self._dram_access.items():
            self.ledger.dram_access(row, tclass, rb, wb)
        for (name, tclass), (rb, wb, rw, ww) in self._unit_access.items():
            self.ledger.spm_access(row, mems[name], tclass, rb, wb, rw, ww)
        self._dma_access, self._dram_access, self._unit_access = {}, {}, {}

    # ------------------------------------------------------------------------------------------
    def _op(self, p: OpPlan):
        env = self.env
        op = p.op
        row = self.ledger.row(op.layer, op.layer_id, op.op, op.phase)
        self.ledger.compute_energy(row, op.macs, op.vector_elem_ops)
        t_op = self.now()
        self.gating.begin_op(row, t_op)
        memo = self.memo.probe(p, row) if self.memo is not None else None
        if memo is not None and memo.entry is not None:
            self.memo.replay(memo, row, len(p.tiles))
            self._book_accesses(row)
            self.ledger.leakage(row, self.now() - t_op)
            return
        st = _OpState(p, len(p.tiles))
        self._refs = []
        in_slots = simpy.Container(env, capacity=2, init=2)
        out_slots = simpy.Container(env, capacity=2, init=2)
        pre_ready = env.event()
        env.process(self._dma_in(st, row, in_slots, pre_ready))
        unit = "pe_array" if op.gemm is not None else "vector"
        t_free = int(env.now)
        dram_ready, _ = yield pre_ready
        i = 0
        while i < st.n:
            if i:
                t_free = int(env.now)
                if self.fast_forward:
                    fast_forward(self, st, i, row, (in_slots, out_slots))
            tile = st.tile(i)
            ready = st.ready.get(i) or st.ready.setdefault(i, env.event())
            dram_done, _ = yield ready
            del st.ready[i]
            if i == 0:
                dram_done = max(dram_done, dram_ready)
            t0 = int(env.now)
            self._wait_stalls(row, unit, t_free, t0, dram_done)
            end = self._tile(row, unit, tile, t0)
            self.events += 2
            ev = env.timeout(end - t0)
            ev.ff_tag = ("compute", i)
            yield ev
            put = in_slots.put(1)
            put.ff_tag = ("put_in", i)
            if tile.writebacks:
                t_w = int(env.now)
                get = out_slots.get(1)
                get.ff_tag = ("get_out", i)
                yield get
                if env.now > t_w:
                    self.ledger.add_stalls(row, {"dram": int(env.now) - t_w})
                    self._slice(t_w, int(env.now), unit, 0, row.layer_id, row.phase, op.op, stall="dram")
                proc = env.process(self._dma_out(st, i, row, out_slots))
                proc.ff_tag = ("out_end", i)
                proc._target.ff_tag = ("out_init", i)
            i += 1
        t_tail = int(env.now)
        yield out_slots.get(2)
        yield in_slots.get(2)
        if env.now > t_tail:
            self.ledger.add_stalls(row, {"dram": int(env.now) - t_tail})
            self._slice(t_tail, int(env.now), unit, 0, row.layer_id, row.phase, op.op, stall="dram")
        if memo is not None:
            self.memo.record(memo, row)
        self._book_accesses(row)
        self.ledger.leakage(row, self.now() - t_op)

    def _dma_in(self, st: _OpState, row: OpRow, slots, pre_ready):
        env = self.env
        t = int(env.now)
        done = dram_done = t
        for x in st.plan.pre:
            d, dd = self._move(x, t, row, slot=0)
            if not x.to_dram:
                done, dram_done = max(done, d), max(dram_done, dd)
        if done > t:
            yield env.timeout(done - t)
        pre_ready.succeed((dram_done, done))
        j = 0
        while j < st.n:
            get = slots.get(1)
            get.ff_tag = ("get_in", j)
            yield get
            t = int(env.now)
            done = dram_done = t
            tile = st.tile(j)
            for k, x in enumerate(tile.loads):
                self._ref = (j + st.shift, 0, k) if self._track else None
                d, dd = self._move(x, t, row, slot=(j + st.shift) % 2)
                done, dram_done = max(done, d), max(dram_done, dd)
            self._ref = None
            if done > t:
                self.events += 1
                ev = env.timeout(done - t)
                ev.ff_tag = ("loads", j, dram_done, done)
                yield ev
            ready = st.ready.get(j) or st.ready.setdefault(j, env.event())
            ready.succeed((dram_done, done))
            ready.ff_tag = ("ready", j, dram_done, done)
            j += 1

    def _dma_out(self, st: _OpState, j: int, row: OpRow, slots):
        """Writes logical tile j's outputs back; the tile is looked up when the process starts, since a
        skip between its spawn and its start moves the physical tile it stands for."""
        t = int(self.env.now)
        done = t
        phys = j + st.shift
        for k, x in enumerate(st.plan.tiles[phys].writebacks):
            self._ref = (phys, 1, k) if self._track else None
            done = max(done, self._move(x, t, row, slot=2 + phys % 2)[0])
        self._ref = None
        if done > t:
            self.events += 1
            ev = self.env.timeout(done - t)
            ev.ff_tag = ("wb", j)
            yield ev
        put = slots.put(1)
        put.ff_tag = ("put_out", j)

    def _bank_slices(self, memory: str, res, row: OpRow, tclass: str, nbytes: int, is_write: int) -> None:
        """One slice per stretch of bank time a reservation got; its bytes go with the first."""
        for k, (a, b) in enumerate(res.pieces):
            self._slice(a, b, memory, 0, row.layer_id, row.phase, row.op, tclass, nbytes if k == 0 else 0,
                        is_write=is_write)

    def _wait_stalls(self, row: OpRow, unit: str, t_free: int, t0: int, dram_done: int) -> None:
        if t0 <= t_free:
            return
        dram_part = max(0, min(dram_done, t0) - t_free)
        parts = {"dram": dram_part, "bank_conflict": t0 - t_free - dram_part}
        self.ledger.add_stalls(row, parts)
        op = row.op
        if dram_part:
            self._slice(t_free, t_free + dram_part, unit, 0, row.layer_id, row.phase, op, stall="dram")
        if parts["bank_conflict"]:
            self._slice(t_free + dram_part, t0, unit, 0, row.layer_id, row.phase, op, stall="bank_conflict")

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
        self._slice(t0, ideal_end, unit, 0, row.layer_id, row.phase, row.op)
        t = ideal_end
        for cause in ("spm_write", "spm_read", "bank_conflict"):
            if parts[cause]:
                self._slice(t, t + parts[cause], unit, 0, row.layer_id, row.phase, row.op, stall=cause)
                t += parts[cause]
        assert t == end, (t, end)
        return end

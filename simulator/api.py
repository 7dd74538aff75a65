"""The library entry point: ``run(config, workload) -> RunResult`` (the CLI is a thin layer over it)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from importlib.metadata import version
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from models.errors import UserError
from simulator import schema
from models.package_data import output_root
from simulator.config import Config, load_config
from simulator.engine import Engine
from simulator.h5out import RunFile
from simulator.invariants import TimelineTally, check_run
from simulator.outputs import atomic_output
from simulator.placement import Planner
from simulator.stats import Ledger
from simulator.timeline import make_tracer
from simulator.workload_source import resolve
from workloads.layers import LayerTrace
from workloads.phases import expand

SIMULATOR_VERSION = version("mramsim")
RUNS_DIR = output_root() / "runs"


@dataclass
class RunResult:
    workload: str
    config: Config
    phases: tuple[str, ...]
    ideal_memory: bool
    seed: int
    layers: np.ndarray
    traffic: np.ndarray
    energy: np.ndarray
    errors: np.ndarray
    timeline: np.ndarray | None  # None when streamed to ``path``: read back from it on first use
    total_cycles: int
    hw_units: list[str]
    wall_seconds: float
    events: int
    tiles: int
    path: Path | None = None
    skipped_tiles: int = 0  # tiles fast-forward accounted without simulating them
    replayed_ops: int = 0  # ops fast-forward replayed whole from an equal earlier op (components.op_memo)
    simulator_version: str = SIMULATOR_VERSION
    layer_names: list[str] = field(default_factory=list)
    n_timeline_rows: int | None = None
    power_gating: dict = field(default_factory=dict)  # per gated memory (simulator.power_gating totals)

    @property
    def timeline_rows(self) -> int:
        if self.n_timeline_rows is not None:
            return self.n_timeline_rows
        return len(self.timeline)

    @property
    def seconds(self) -> float:
        return self.total_cycles / (self.config.clock_ghz * 1e9)

    def summary(self) -> dict:
        lay = self.layers
        stalls = {s: int(lay[f"{s}_cycles"].sum()) for s in schema.STALL_REPORT_ORDER}
        energy = {c: float(lay[f"energy_{c}_pj"].sum()) for c in schema.ENERGY_COMPONENTS}
        return {
            "workload": self.workload,
            "total_cycles": self.total_cycles,
            "simulated_seconds": self.seconds,
            "stall_cycles": stalls,
            "energy_pj": energy,
            "total_energy_pj": sum(energy.values()),
            "macs": int(lay["macs"].sum()),
            "dram_read_bytes": int(lay["dram_read_bytes"].sum()),
            "dram_write_bytes": int(lay["dram_write_bytes"].sum()),
            "wall_seconds": self.wall_seconds,
            "events": self.events,
            "path": str(self.path) if self.path else None,
            "endurance": self.endurance(),
            "power_gating": self.power_gating,
        }

    def endurance(self) -> dict:
        """Per memory: hot-spot and mean writes per cell per second, endurance, lifetime (models.endurance)."""
        from models.endurance import run_endurance

        if getattr(self.config, "memories", None) is None:  # a result rebuilt from a file without its config
            return {}
        return {e.memory: {"hot_writes_per_cell_per_s": e.hot_writes_per_cell_per_s,
                           "mean_writes_per_cell_per_s": e.mean_writes_per_cell_per_s,
                           "endurance_cycles": e.endurance_cycles, "lifetime_years": e.lifetime_years}
                for e in run_endurance(self.config, self.traffic, self.seconds)}


def default_out_path(workload: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return RUNS_DIR / f"{Path(workload).stem}-{stamp}.h5"


def run(config: Config | str | Path | None, workload: str | LayerTrace, *, phases: tuple[str, ...] = schema.PHASES,
        ideal_memory: bool = False, out: str | Path | None = None, write: bool = True, seed: int = 0,
        timeline: bool | str = True, fast_forward: bool = True, progress=None) -> RunResult:
    """Simulate one training step (limited to ``phases``) of ``workload`` on ``config``.

    ``write=False`` skips the HDF5 file; ``timeline=False`` keeps no timeline (faster, for sweeps),
    ``timeline="op"`` a coarser one (one row per op and stream, `timeline.OpTracer`);
    ``fast_forward=False`` simulates every tile as events (the oracle of the default fast-forward);
    ``progress``: called with (ops done, ops in all) after every op.
    """
    t_wall = time.perf_counter()
    cfg = config if isinstance(config, Config) else load_config(config)
    trace = workload if isinstance(workload, LayerTrace) else resolve(workload)
    ops = expand(trace, cfg.training.batch, cfg.array.precision, cfg.training.optimizer, tuple(phases))
    plan = Planner(cfg, ideal_memory).plan(ops)
    hw_units = list(schema.FIXED_HW_UNITS) + list(cfg.memories)
    path = Path(out or default_out_path(trace.workload)) if write else None
    tally = TimelineTally(hw_units.index("dram")) if timeline else None
    with ExitStack() as stack:
        sink = None
        if path is not None:
            _make_folder(path.parent, out)
            sink = stack.enter_context(RunFile(stack.enter_context(atomic_output(path)), tally))
        tracer = make_tracer(timeline, hw_units, sink)
        ledger = Ledger(cfg)
        engine = Engine(cfg, plan, ledger, tracer, ideal_memory, fast_forward, progress)
        total = engine.run()
        _add_residence(ledger, plan, engine, cfg)
        tl = tracer.table()
        rows = tracer.count()
        result = RunResult(
            workload=trace.workload, config=cfg, phases=tuple(phases), ideal_memory=ideal_memory, seed=seed,
            layers=ledger.layers_table(), traffic=ledger.traffic_table(), energy=ledger.energy_table(),
            errors=ledger.errors_table(), timeline=tl, total_cycles=total, hw_units=hw_units,
            wall_seconds=0.0, events=engine.events + len(plan.ops), tiles=sum(len(p.tiles) for p in plan.ops),
            layer_names=[layer.name for layer in trace.layers], skipped_tiles=engine.skipped_tiles,
            replayed_ops=engine.memo.replayed if engine.memo is not None else 0,
            n_timeline_rows=rows, power_gating=engine.gating.totals())
        if tally is not None and sink is None:
            tally.add(result.timeline)
        check_run(result, plan, engine.op_timing, tally)
        if sink is not None:
            sink.finish(result)
    result.path = path
    result.wall_seconds = time.perf_counter() - t_wall
    return result


def _make_folder(folder: Path, out) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out or folder}: cannot create folder {folder} ({exc.strerror})") from None


def _timeline(self: RunResult) -> np.ndarray:
    tl = self.__dict__.get("_timeline")
    if tl is None and self.path is not None:
        import h5py

        with h5py.File(self.path) as f:
            tl = f["timeline"][()]
    return tl


def _set_timeline(self: RunResult, value) -> None:
    self.__dict__["_timeline"] = value


RunResult.timeline = property(_timeline, _set_timeline)


def _add_residence(ledger: Ledger, plan, engine: Engine, cfg: Config) -> None:
    """Residence time of stored bits: a staged tile lives about one tile period; a resident tensor
    from the op that wrote (or fetched) it to the start of its last reader."""
    timing = engine.op_timing
    ns_per_cycle = 1.0 / cfg.clock_ghz
    for i, p in enumerate(plan.ops):
        if i >= len(timing) or not timing[i].tiles:
            continue
        tile_ns = (timing[i].end - timing[i].start) / timing[i].tiles * ns_per_cycle
        op = p.op
        for o in op.reads + op.writes:
            if p.resident.get(o.tensor):
                continue
            mem = cfg.placement[o.tclass]
            k = (op.layer_id, o.tclass, mem)
            if k in ledger.bits:
                b = ledger.bits[k]
                b[2] += o.nbytes * 8 * tile_ns
                b[3] += o.nbytes * 8
    for tensor, tclass, mem, since, last in plan.residency_log:
        if since >= len(timing) or last >= len(timing) or last < since:
            continue
        owner = plan.ops[since].op.layer_id
        k = (owner, tclass, mem)
        if k in ledger.bits:
            res_ns = max(0, timing[last].start - timing[since].end) * ns_per_cycle
            nbytes = plan.tensor_bytes.get(tensor, 0)
            b = ledger.bits[k]
            b[2] += nbytes * 8 * res_ns
            b[3] += nbytes * 8

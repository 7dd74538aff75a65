"""Resolve a workload argument to a layer trace: a built-in name, a layer-trace YAML or a SCALE-Sim CSV."""

from __future__ import annotations

from pathlib import Path

from models.errors import UserError
from models.package_data import data_dir
from workloads.layers import LayerTrace, load_trace

LAYER_DIR = data_dir("layers")


def builtin_workloads() -> list[str]:
    return sorted(p.stem for p in LAYER_DIR.glob("*.yaml"))


def resolve(workload: str) -> LayerTrace:
    path = Path(workload)
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise UserError(f"workload {workload}: no such SCALE-Sim topology file")
        from workloads.scalesim_csv import read_topology

        return read_topology(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"workload {workload}: no such layer-trace file")
        return load_trace(path)
    if workload in builtin_workloads():
        return load_trace(LAYER_DIR / f"{workload}.yaml")
    raise UserError(f"workload {workload!r}: unknown (accepted: {', '.join(builtin_workloads())}, "
                    "a layer-trace .yaml or a SCALE-Sim topology .csv)")

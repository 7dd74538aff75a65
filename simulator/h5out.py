"""Write a run to HDF5: root attributes and the /layers, /traffic, /energy, /timeline, /errors tables.

The file is written under a temporary name in the target folder and renamed when complete, so a
failed run never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from simulator import schema
from simulator.fileio import atomic_output
from simulator.memories_table import write_memories
from simulator.trace import build_timeline_index

TIMELINE_CHUNK_ROWS = 65536


def write_run(path: str | Path, result) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = schema.SCHEMA_VERSION
            f.attrs["simulator_version"] = result.simulator_version
            f.attrs["workload"] = result.workload
            f.attrs["seed"] = int(result.seed)
            f.attrs["config_yaml"] = result.config.to_yaml()
            f.attrs["clock_ghz"] = float(result.config.clock_ghz)
            f.attrs["total_cycles"] = int(result.total_cycles)
            f.attrs["phases"] = ",".join(result.phases)
            f.attrs["ideal_memory"] = bool(result.ideal_memory)
            f.attrs["hw_units"] = np.array(result.hw_units, dtype=h5py.string_dtype("utf-8"))
            f.attrs["stall_precedence"] = ",".join(schema.STALLS)
            for name, data in (("layers", result.layers), ("traffic", result.traffic), ("energy", result.energy),
                               ("errors", result.errors)):
                f.create_dataset(name, data=data, compression="gzip" if len(data) > 256 else None)
            write_memories(f, result.config)
            tl = result.timeline
            f.create_dataset("timeline", data=tl, maxshape=(None,),
                             chunks=(max(1, min(TIMELINE_CHUNK_ROWS, len(tl))),), compression="gzip",
                             compression_opts=4, shuffle=True)
            f["timeline"].attrs["time_unit"] = "cycles"
            f["timeline"].attrs["hw_units"] = f.attrs["hw_units"]
            f.create_dataset("timeline_index", data=build_timeline_index(tl, TIMELINE_CHUNK_ROWS))
    return path

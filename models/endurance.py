"""Write endurance: writes per cell per second at a memory's hot spot, and its lifetime.

Hot-spot rule: every (layer, phase, tensor class) write stream into a memory is laid out from the
same base address (buffers are reused op after op), so the cell at the base receives one write from
each stream that writes fewer bytes than the capacity, and B/C writes (the stream wraps around) from
one that writes B ≥ C bytes: writes per hottest cell per step = Σ_streams max(1, B/C), times the
expected write attempts (write-verify). Dividing by the step's simulated time gives writes per cell
per second; the lifetime is ``endurance_cycles`` over that rate. The average cell sees Σ B / C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SECONDS_PER_YEAR = 365.25 * 86400.0


@dataclass(frozen=True)
class Endurance:
    memory: str
    hot_writes_per_cell_per_s: float
    mean_writes_per_cell_per_s: float
    endurance_cycles: float
    lifetime_years: float  # inf when nothing is written or the cell has no wear-out


def hot_spot(memory: str, stream_write_bytes, capacity_bytes: int, step_seconds: float, attempts: float,
             endurance_cycles: float) -> Endurance:
    """`Endurance` of one memory from the bytes each write stream of one step wrote into it."""
    b = np.asarray(stream_write_bytes, dtype=float)
    b = b[b > 0]
    hot = attempts * float(np.maximum(1.0, b / capacity_bytes).sum()) / step_seconds if step_seconds > 0 else 0.0
    mean = attempts * float(b.sum()) / capacity_bytes / step_seconds if step_seconds > 0 else 0.0
    life = endurance_cycles / hot / SECONDS_PER_YEAR if hot > 0 and math.isfinite(endurance_cycles) else math.inf
    return Endurance(memory, hot, mean, endurance_cycles, life)


def run_endurance(cfg, traffic: np.ndarray, step_seconds: float) -> list[Endurance]:
    """One `Endurance` per memory of a run from its /traffic table (rows per layer, phase, class, memory)."""
    names = traffic["memory"].astype(str) if len(traffic) else np.zeros(0, str)
    return [hot_spot(m.name, traffic["write_bytes"][names == m.name], m.capacity_bytes, step_seconds,
                     m.write_attempts, m.endurance_cycles) for m in cfg.memories.values()]

"""The ``/memories`` table: one row per memory as simulated (organisation, area, per-access figures).

Keys another part of the simulator may add (``ecc``, ``power_gating``, ``temperature_k``) are read
from the memory's config, then its figures, when they exist; otherwise the row says what the
simulator does without them: no ECC, no power gating, the config's ``temperature_k`` or 300 K.
"""

from __future__ import annotations

import numpy as np

from simulator import schema

DEFAULT_TEMPERATURE_K = 300.0  # the device model's temperature when the config names none


def _attr(mem, key: str, default):
    for owner in (mem, getattr(mem, "figures", None)):
        value = getattr(owner, key, None) if owner is not None else None
        if value is not None:
            return value
    return default


def memories_rows(cfg) -> np.ndarray:
    """`schema.MEMORIES_FIELDS` rows, one per memory of ``cfg`` (a `simulator.config.Config`)."""
    temperature = float(getattr(cfg, "temperature_k", None) or DEFAULT_TEMPERATURE_K)
    out = np.zeros(len(cfg.memories), dtype=schema.MEMORIES_FIELDS)
    for i, mem in enumerate(cfg.memories.values()):
        ecc = _attr(mem, "ecc", "none")
        out[i] = (mem.name, mem.technology, mem.capacity_bytes // 1024, mem.banks, mem.word_bits, mem.area_mm2,
                  mem.leakage_mw, mem.read_energy_pj, mem.write_energy_pj, mem.read_latency_ns, mem.write_latency_ns,
                  mem.write_occupancy_ns, str(getattr(ecc, "name", ecc)), bool(_attr(mem, "power_gating", False)),
                  float(_attr(mem, "temperature_k", temperature)))
    return out


def write_memories(f, cfg) -> None:
    """Add ``/memories`` to an open h5py file."""
    f.create_dataset("memories", data=memories_rows(cfg))

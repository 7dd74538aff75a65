"""What the engine needs to know about one memory: `ArrayFigures`, whatever technology made them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import mtj


@dataclass(frozen=True)
class ArrayFigures:
    """What the engine needs to know about one memory (all banks together).

    Per access of one word: latencies from request to data; occupancies how long the access keeps
    its bank busy (the engine's issue interval). Energies are dynamic, per word. A write costs
    ``write_energy_pj`` (every bit driven) unless ``differential_write``: then it costs
    ``write_energy_pj_fixed + switched_bits * write_energy_pj_per_switched_bit`` (the fixed part
    includes the read-before-write). Error probabilities are per bit: write errors only on bits that
    switch (per switching direction), read disturb per read of a bit, retention for a residence time.
    """

    technology: str
    capacity_bytes: int
    banks: int
    word_bits: int
    read_latency_ns: float
    write_latency_ns: float
    read_occupancy_ns: float
    write_occupancy_ns: float
    read_energy_pj: float
    write_energy_pj: float
    write_energy_pj_per_switched_bit: float
    write_energy_pj_fixed: float
    leakage_mw: float
    area_mm2: float
    p_write_p2ap: float = 0.0
    p_write_ap2p: float = 0.0
    p_read_disturb: float = 0.0
    differential_write: bool = False
    mtj_params: mtj.MTJParams | None = None
    source: str = "model"
    organisation: str = ""

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    def p_retention(self, residence_ns):
        """Per-bit probability that a stored bit flips during ``residence_ns`` (0 with no magnetic cell)."""
        if self.mtj_params is None:
            return np.zeros_like(residence_ns, dtype=float) if np.ndim(residence_ns) else 0.0
        return mtj.retention_failure_probability(self.mtj_params, residence_ns)

    def write_energy_for(self, switched_bits: float) -> float:
        """Energy of one word write in which ``switched_bits`` bits change value."""
        if self.differential_write:
            return self.write_energy_pj_fixed + switched_bits * self.write_energy_pj_per_switched_bit
        return self.write_energy_pj

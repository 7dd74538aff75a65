"""Periphery every technology shares: the H-tree over the mats and the assembly of a design's figures.

A bank is ``mats`` mats on an H-tree (as in NVSim). The wire from the port to a leaf mat is
sqrt(area) (1 - 1/sqrt(mats)) long (centre to leaf of an H-tree over a square grid); energy = k_e
(word + address bits) x that length (unrepeated global wires, one data path active); read latency =
k_t x area x sqrt(1 - 1/sqrt(mats)), write latency half of it (NVSim: the write path carries no data
back). With ``banks`` > 1 the banks share one floorplan: the tree spans the whole memory and its
leaves are all mats of all banks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.figures import ArrayFigures
from models.technologies.calibration import Cmos


@dataclass(frozen=True)
class Design:
    mats_per_bank: int
    mats_total: int
    mat_bits: int
    area_mm2: float
    read_latency_ns: float
    write_latency_ns: float
    read_occupancy_ns: float
    write_occupancy_ns: float
    read_energy_pj: float
    write_fixed_pj: float
    write_per_bit_pj: float
    leakage_mw: float
    sense_amps_per_mat: float = 0.0

    @property
    def read_edp(self) -> float:
        return self.read_latency_ns * self.read_energy_pj


def f2_um2(node_nm: float) -> float:
    return (node_nm * 1e-3) ** 2


def tree(cm: Cmos, area_mm2: float, mats_total: int, word_bits: int, capacity_bits: int):
    """(read latency ns, write latency ns, energy pJ) of the H-tree to one mat."""
    if mats_total <= 1:
        return 0.0, 0.0, 0.0
    reach = 1.0 - 1.0 / math.sqrt(mats_total)
    t_read = cm.tree_ns_per_mm2 * area_mm2 * math.sqrt(reach)
    address_bits = max(1, math.ceil(math.log2(max(2, capacity_bits // word_bits))))
    energy = cm.tree_pj_per_bit_mm * (word_bits + address_bits) * math.sqrt(area_mm2) * reach
    return t_read, 0.5 * t_read, energy


def power(pair: tuple[float, float], kib: float, p: float) -> float:
    return pair[0] + pair[1] * kib**p


def to_figures(technology: str, capacity_bits: int, banks: int, word_bits: int, d: Design,
                **extra) -> ArrayFigures:
    organisation = (f"{banks} bank(s) x {d.mats_per_bank} mat(s) of {d.mat_bits / 8192:g} KiB"
                    + (f", {d.sense_amps_per_mat:g} sense amps per mat" if d.sense_amps_per_mat else ""))
    return ArrayFigures(
        technology=technology, capacity_bytes=capacity_bits // 8, banks=banks, word_bits=word_bits,
        read_latency_ns=d.read_latency_ns, write_latency_ns=d.write_latency_ns,
        read_occupancy_ns=d.read_occupancy_ns, write_occupancy_ns=d.write_occupancy_ns,
        read_energy_pj=d.read_energy_pj,
        write_energy_pj=d.write_fixed_pj + word_bits * d.write_per_bit_pj,
        write_energy_pj_per_switched_bit=d.write_per_bit_pj, write_energy_pj_fixed=d.write_fixed_pj,
        leakage_mw=d.leakage_mw, area_mm2=d.area_mm2, organisation=organisation, **extra)

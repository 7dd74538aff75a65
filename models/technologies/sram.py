"""SRAM: NVSim's 146 F^2 6T cell (CACTI's), its mat and periphery figures; no bit errors.

Mat latency, occupancy and energy are a + b (mat KiB)^p, fitted with one exponent per quantity
across the three calibrated (node, flavour) sets (`calibration`); periphery area c F^2 (mat bits)^0.65;
leakage = cell leakage per bit + periphery leakage per um^2. The organisation search reproduces
NVSim's jump from one big mat at 256 KB (no H-tree) to 256 small mats at 1 MB.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.figures import ArrayFigures
from models.technologies import calibration as cal
from models.technologies.base import MemorySpec, register
from models.technologies.periphery import Design, f2_um2, power, to_figures, tree
from models.technologies.search import best_design

SRAM_CELL_F2 = 146.0  # NVSim SRAM.cell (CACTI's 6T cell)


def sram_design(cm: cal.Cmos, node_nm: float, capacity_bits: int, banks: int, word_bits: int,
                mats_per_bank: int, cell_f2: float) -> Design:
    mats_total = banks * mats_per_bank
    mat_bits = -(-capacity_bits // mats_total)  # a bank that is not a whole number of mats rounds up
    kib = mat_bits / 8192
    f2 = f2_um2(node_nm)
    periphery_um2 = cm.sram_periphery_f2 * f2 * mat_bits**cal.Q_SRAM_PERIPHERY
    mat_um2 = mat_bits * cell_f2 * f2 + periphery_um2
    area = mats_total * mat_um2 * 1e-6
    t_tree_r, t_tree_w, e_tree = tree(cm, area, mats_total, word_bits, capacity_bits)
    t_mat = power(cm.sram_read_ns, kib, cal.P_SRAM_READ)
    # NVSim discharges every bitline of the activated row segment: at least 256 in its 64-bit run.
    bitline_share = max(word_bits, 256) / 512
    e_read_mat = power(cm.sram_read_pj, kib, cal.P_SRAM_ENERGY)
    e_write_mat = e_read_mat - cm.sram_write_saving_pj
    leak = mats_total * (cm.sram_leak_mw_per_bit * mat_bits + cm.sram_leak_mw_per_um2 * periphery_um2)
    return Design(
        mats_per_bank=mats_per_bank, mats_total=mats_total, mat_bits=mat_bits, area_mm2=area,
        read_latency_ns=t_mat + t_tree_r, write_latency_ns=t_mat + t_tree_w,
        read_occupancy_ns=power(cm.sram_read_occ_ns, kib, cal.P_SRAM_READ_OCC),
        write_occupancy_ns=power(cm.sram_write_occ_ns, kib, cal.P_SRAM_WRITE_OCC),
        read_energy_pj=e_read_mat * bitline_share + e_tree,
        write_fixed_pj=e_write_mat * bitline_share + e_tree, write_per_bit_pj=0.0,
        leakage_mw=leak,
    )


def sram_figures(capacity_bytes: int, banks: int, word_bits: int, node_nm: float = 22,
                 flavor: str = "hp", where: str = "sram", cell_area_f2: float = SRAM_CELL_F2) -> ArrayFigures:
    """Figures of an SRAM (default: NVSim's 146 F^2 cell) at a calibrated node and device flavour."""
    cm = cal.cmos_constants(node_nm, flavor, f"{where}.node_nm")
    bits = capacity_bytes * 8
    design = best_design(bits, banks, where, lambda m: sram_design(cm, node_nm, bits, banks, word_bits, m,
                                                                   cell_area_f2))
    return to_figures(SramSpec.NAME, bits, banks, word_bits, design)


@register
@dataclass(frozen=True)
class SramSpec(MemorySpec):
    NAME = "sram"
    FLAVOR_KEY = "sram_flavor"
    CELL_AREA_F2 = SRAM_CELL_F2
    NVSIM_CELL = "SRAM"
    DESCRIPTION = "6T SRAM (NVSim-calibrated periphery), error-free"

    def circuit_figures(self) -> ArrayFigures:
        return sram_figures(self.capacity_bytes, self.banks, self.word_bits, self.node_nm, self.flavor,
                            self.where, self.cell_area_f2)

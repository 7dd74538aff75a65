"""MRAM mat and periphery, shared by every MRAM technology (STT, SOT): the cell terms come in.

Periphery area = ~10.5 F^2 per bit (row decoders and drivers) + ~56000 F^2 per sense
amplifier/write driver. Sense amplifiers belong to subarrays, not to banks: the memory's mats get
the count NVSim's single-bank optimum gives them (every column of every subarray when the whole
memory is one mat; else the word spread over the four subarrays of 1 mat per 8: NVSim's 2048 at
1 MB and 4096 at 4 MB, 54 F^2 cell), and banking adds sense amplifiers only when the banks
together would have fewer than one word's worth each (banks x word_bits). Read latency =
periphery + sensing time + H-tree; write latency = write pulse + periphery + H-tree; a write
occupies its bank for the pulse plus periphery (not pipelined).
Leakage is CMOS periphery only (NVSim's MTJ cells leak nothing): per bit plus a fixed global part.

The cell terms (`MramCell`) come from the technology's device model, not from NVSim: NVSim's cell
file fixes a set energy (1 pJ/bit for its conservative 80 uA / 10 ns / 3-6 kOhm cell) and a read
power (30 uW). NVSim's "Bitline & Cell Write Energy" per bit is that set energy plus the bitline
charge C V^2; the calibration subtracts the set energy to keep the bitline term (0.057 pJ/bit at
22 nm), and its "Bitline & Cell Read Energy" is exactly 2 x read power x sensing time, replaced
likewise. So a write costs, per bit driven, bitline charge (NVSim) + the cell's write energy, and
the pulse sets the write latency; a read costs sense amplifier (NVSim) + the cell's read energy.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.figures import ArrayFigures
from models.technologies import calibration as cal
from models.technologies.periphery import Design, f2_um2, to_figures, tree
from models.technologies.search import best_design


@dataclass(frozen=True)
class MramCell:
    """The cell-side terms of an MRAM access (from the device model, or NVSim's cell file)."""

    area_f2: float
    write_pulse_ns: float
    write_energy_pj_per_bit: float
    read_energy_pj_per_bit: float
    sense_ns: float


def sense_amps_total(word_bits: int, banks: int, mats_total: int) -> float:
    """Sense amplifiers of the whole memory. NVSim's ReadEDP choices for one bank of ``mats_total``
    mats: mux 1 on all four subarrays when the memory is a single mat (no H-tree, so area costs
    nothing); else a word split over 4 subarrays (1 for narrow words) of 1 mat per 8 (NVSim: 1 of 4
    mats at 1 MB, 2 of 16 at 4 MB). Banks share them: each bank's access activates its own
    subarrays, so banking costs sense amplifiers only past one word per bank."""
    if mats_total == 1:
        return 4.0 * word_bits
    subarrays = 4 if word_bits >= 256 else 1
    active_mats = max(1, mats_total // 8)
    return max(mats_total * 4.0 * word_bits / (subarrays * active_mats), float(banks * word_bits))


def mram_design(cm: cal.Cmos, node_nm: float, capacity_bits: int, banks: int, word_bits: int,
                mats_per_bank: int, cell: MramCell, differential_write: bool) -> Design:
    mats_total = banks * mats_per_bank
    mat_bits = -(-capacity_bits // mats_total)
    f2 = f2_um2(node_nm)
    sense_amps = sense_amps_total(word_bits, banks, mats_total)
    area_um2 = (capacity_bits * (cell.area_f2 + cm.mram_periphery_f2_per_bit) + sense_amps * cm.mram_sense_amp_f2) * f2
    area = area_um2 * 1e-6
    t_tree_r, t_tree_w, e_tree = tree(cm, area, mats_total, word_bits, capacity_bits)
    t_mat_read = cm.mram_read_ns + cell.sense_ns
    occ_read = cm.mram_read_occ_ns + cell.sense_ns
    e_mat_read = word_bits * (cm.mram_sense_pj_per_bit + cell.read_energy_pj_per_bit) + cm.mram_read_fixed_pj
    t_write = cell.write_pulse_ns + cm.mram_write_ns + t_tree_w
    occ_write = cell.write_pulse_ns + cm.mram_write_occ_ns
    write_fixed = cm.mram_write_fixed_pj + e_tree
    if differential_write:
        # Read-before-write inside the mat: the old word is sensed, then only changed bits are driven.
        t_write += t_mat_read
        occ_write += occ_read
        write_fixed += e_mat_read
    return Design(
        mats_per_bank=mats_per_bank, mats_total=mats_total, mat_bits=mat_bits, area_mm2=area,
        read_latency_ns=t_mat_read + t_tree_r, write_latency_ns=t_write,
        read_occupancy_ns=occ_read, write_occupancy_ns=occ_write,
        read_energy_pj=e_mat_read + e_tree, write_fixed_pj=write_fixed,
        write_per_bit_pj=cm.mram_write_bitline_pj_per_bit + cell.write_energy_pj_per_bit,
        leakage_mw=cm.mram_leak_mw_per_bit * capacity_bits + cm.mram_leak_fixed_mw,
        sense_amps_per_mat=sense_amps / mats_total,
    )


def mram_figures(capacity_bytes: int, banks: int, word_bits: int, cell: MramCell, node_nm: float = 22,
                 flavor: str = "hp", differential_write: bool = False, where: str = "mram",
                 technology: str = "mram", **errors) -> ArrayFigures:
    """Figures of an MRAM (STT or SOT) with the given cell terms; ``errors`` are ArrayFigures' error fields."""
    cm = cal.cmos_constants(node_nm, flavor, f"{where}.node_nm")
    bits = capacity_bytes * 8
    design = best_design(bits, banks, where, lambda m: mram_design(cm, node_nm, bits, banks, word_bits, m, cell,
                                                                   differential_write))
    return to_figures(technology, bits, banks, word_bits, design,
                      differential_write=differential_write, **errors)

"""Calibration data: periphery and wire constants per (node, flavour), fitted on NVSim runs.

NVSim (SEAL-UCSB, 350 K, RAM, one bank, ReadEDP-optimised, 512-bit words; runs at 22 nm HP and LSTP,
32 nm HP, 256 KB / 1 MB / 4 MB, a 64-bit check). Calibrated at 22 nm (HP, LSTP) and 32 nm (HP).
Between 22 and 32 nm every constant is interpolated geometrically in the node (HP only); other
nodes and 32 nm LSTP are refused. The technologies that use a constant say how (``sram``: the SRAM
mat; ``stt_mram`` and ``sot_mram``: the shared MRAM periphery in `mram_periphery`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from models.errors import UserError

FLAVORS = ("hp", "lstp")

# Fitted exponents of mat capacity (KiB), shared by all (node, flavour) sets: least squares in
# log space on the SRAM mats NVSim chose (4, 16, 64, 256 KiB).
P_SRAM_READ = 0.5533
P_SRAM_READ_OCC = 0.8954
P_SRAM_WRITE_OCC = 0.6481
P_SRAM_ENERGY = 0.7203
Q_SRAM_PERIPHERY = 0.6504


@dataclass(frozen=True)
class Cmos:
    """Periphery and wire constants of one (node, flavour): NVSim 22 nm HP/LSTP, 32 nm HP runs.

    Pairs ``(a, b)`` are a + b * mat_kib**p with the module's exponents; SRAM energies are per
    512-bit access. MRAM latencies/energies exclude the cell (pulse, sensing, cell energy).
    """

    tree_ns_per_mm2: float
    tree_pj_per_bit_mm: float
    sram_read_ns: tuple[float, float]
    sram_read_occ_ns: tuple[float, float]
    sram_write_occ_ns: tuple[float, float]
    sram_read_pj: tuple[float, float]
    sram_write_saving_pj: float
    sram_periphery_f2: float
    sram_leak_mw_per_bit: float
    sram_leak_mw_per_um2: float
    mram_read_ns: float
    mram_sense_ns: float
    mram_read_occ_ns: float
    mram_write_ns: float
    mram_write_occ_ns: float
    mram_sense_pj_per_bit: float
    mram_write_bitline_pj_per_bit: float
    mram_read_fixed_pj: float
    mram_write_fixed_pj: float
    mram_leak_mw_per_bit: float
    mram_leak_fixed_mw: float
    mram_periphery_f2_per_bit: float
    mram_sense_amp_f2: float


# Source: the NVSim runs of the key's node and roadmap (shared/reference/nvsim/out_*.txt), fitted
# on NVSim's own breakdowns. Tree: geometric mean of H-Tree Latency / (area sqrt(reach)) and H-Tree
# Dynamic Energy / ((word + address bits) sqrt(area) reach) over every multi-mat run of the set, both
# technologies (each run within 4% in energy, 9% in latency). SRAM: least squares in log space on
# the Mat Latency / Dynamic Energy / Leakage / Area and bandwidth-derived occupancy of the mats NVSim
# chose. MRAM: means over the conservative-cell runs of (Mat Latency - Senseamp Latency), (Mat write
# latency - pulse), Senseamp Dynamic Energy per sensed bit, (Bitline & Cell Write Energy per bit -
# 1 pJ set energy), leakage per bit plus a fixed part (least squares), and cell + periphery-per-bit +
# sense-amplifier area (least squares with NVSim's sense-amplifier counts: 0.1% at 22 and 32 nm).
# LSTP reuses the 22 nm HP area terms: NVSim's LSTP organisations differ from `sense_amps_total`.
_CALIBRATED: dict[tuple[int, str], Cmos] = {
    (22, "hp"): Cmos(
        tree_ns_per_mm2=0.5276, tree_pj_per_bit_mm=0.3428,
        sram_read_ns=(0.06468, 0.04068), sram_read_occ_ns=(0.04433, 0.01795),
        sram_write_occ_ns=(0.05669, 0.02188), sram_read_pj=(0.8203, 0.2337),
        sram_write_saving_pj=0.4293, sram_periphery_f2=1640.5,
        sram_leak_mw_per_bit=1.239e-4, sram_leak_mw_per_um2=1.425e-3,
        mram_read_ns=0.6947, mram_sense_ns=1.454, mram_read_occ_ns=0.9002,
        mram_write_ns=0.5722, mram_write_occ_ns=0.4860,
        mram_sense_pj_per_bit=0.1504, mram_write_bitline_pj_per_bit=0.0571,
        mram_read_fixed_pj=3.170, mram_write_fixed_pj=1.397,
        mram_leak_mw_per_bit=1.485e-5, mram_leak_fixed_mw=0.2886,
        mram_periphery_f2_per_bit=10.48, mram_sense_amp_f2=56160.0,
    ),
    (22, "lstp"): Cmos(
        tree_ns_per_mm2=0.4963, tree_pj_per_bit_mm=0.2675,
        sram_read_ns=(0.18803, 0.0836), sram_read_occ_ns=(0.15548, 0.03242),
        sram_write_occ_ns=(0.13655, 0.04292), sram_read_pj=(0.7085, 0.1573),
        sram_write_saving_pj=0.3837, sram_periphery_f2=1648.1,
        sram_leak_mw_per_bit=1.003e-8, sram_leak_mw_per_um2=1.155e-7,
        mram_read_ns=0.787, mram_sense_ns=1.456, mram_read_occ_ns=1.7392,
        mram_write_ns=0.7453, mram_write_occ_ns=0.5123,
        mram_sense_pj_per_bit=0.1504, mram_write_bitline_pj_per_bit=0.0381,
        mram_read_fixed_pj=4.086, mram_write_fixed_pj=2.442,
        mram_leak_mw_per_bit=1.094e-8, mram_leak_fixed_mw=0.2682,
        mram_periphery_f2_per_bit=10.48, mram_sense_amp_f2=56160.0,
    ),
    (32, "hp"): Cmos(
        tree_ns_per_mm2=0.2186, tree_pj_per_bit_mm=0.3633,
        sram_read_ns=(0.09128, 0.04498), sram_read_occ_ns=(0.04407, 0.01315),
        sram_write_occ_ns=(0.0719, 0.02366), sram_read_pj=(1.4103, 0.2971),
        sram_write_saving_pj=0.779, sram_periphery_f2=1582.7,
        sram_leak_mw_per_bit=1.978e-4, sram_leak_mw_per_um2=1.192e-3,
        mram_read_ns=0.7867, mram_sense_ns=1.074, mram_read_occ_ns=0.7204,
        mram_write_ns=0.6257, mram_write_occ_ns=0.5108,
        mram_sense_pj_per_bit=0.1263, mram_write_bitline_pj_per_bit=0.0861,
        mram_read_fixed_pj=6.041, mram_write_fixed_pj=2.812,
        mram_leak_mw_per_bit=2.895e-5, mram_leak_fixed_mw=0.2631,
        mram_periphery_f2_per_bit=11.55, mram_sense_amp_f2=56935.0,
    ),
}


def cmos_constants(node_nm: float, flavor: str, where: str = "node_nm") -> Cmos:
    """Calibrated constants at a node: exact at 22/32 nm, geometric interpolation in between."""
    if flavor not in FLAVORS:
        raise UserError(f"{where}: flavor = {flavor!r} (accepted: {', '.join(FLAVORS)})")
    key = (int(node_nm), flavor) if float(node_nm).is_integer() else None
    if key in _CALIBRATED:
        return _CALIBRATED[key]
    if flavor != "hp" or not 22.0 < node_nm < 32.0:
        raise UserError(f"{where} = {node_nm:g} (calibrated: 22 nm hp/lstp, 32 nm hp; "
                        f"hp is interpolated between 22 and 32 nm)")
    lo, hi = _CALIBRATED[(22, "hp")], _CALIBRATED[(32, "hp")]
    x = math.log(node_nm / 22.0) / math.log(32.0 / 22.0)

    def geo(a, b):
        if isinstance(a, tuple):
            return tuple(geo(u, v) for u, v in zip(a, b))
        return a * (b / a) ** x

    return Cmos(**{f.name: geo(getattr(lo, f.name), getattr(hi, f.name)) for f in fields(Cmos)})

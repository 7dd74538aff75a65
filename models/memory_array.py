"""Memory arrays (SRAM, STT-MRAM): per-access latency, occupancy, energy, leakage, area, bit errors.

An NVSim-like analytical model, calibrated against NVSim (SEAL-UCSB, 350 K, RAM, one bank,
ReadEDP-optimised, 512-bit words; the runs in ``shared/reference/nvsim``: 22 nm HP and LSTP, 32 nm
HP, 256 KB / 1 MB / 4 MB, a 64-bit check). Structure, as in NVSim:

- A bank is ``mats`` mats on an H-tree; a mat is 2 x 2 subarrays of at most 1024 rows x 512 columns,
  so at most 256 KiB. Among the mat sizes that tile the bank (4-256 KiB, at most 256 mats per bank,
  NVSim's largest bank organisation in these runs is 32 x 8), we take the one with the least read
  energy-delay product, as NVSim's ReadEDP search does. For SRAM this reproduces NVSim's jump from one
  big mat at 256 KB (no H-tree) to 256 small mats at 1 MB.
- H-tree: the wire from the port to a leaf mat is sqrt(area) (1 - 1/sqrt(mats)) long (centre to leaf
  of an H-tree over a square grid); energy = k_e (word + address bits) x that length (unrepeated
  global wires, one data path active); read latency = k_t x area x sqrt(1 - 1/sqrt(mats)), write
  latency half of it (NVSim: the write path carries no data back). With ``banks`` > 1 the banks
  share one floorplan: the tree spans the whole memory and its leaves are all mats of all banks.
- SRAM mat (146 F^2 cell): latency, occupancy and energy are a + b (mat KiB)^p, fitted with one
  exponent per quantity across the three calibrated (node, flavour) sets; periphery area
  c F^2 (mat bits)^0.65; leakage = cell leakage per bit + periphery leakage per um^2.
- MRAM mat: periphery area = ~10.5 F^2 per bit (row decoders and drivers) + ~56000 F^2 per sense
  amplifier/write driver; the number of sense amplifiers follows NVSim's optimum (every column of
  every subarray when the whole memory is one mat; else the word spread over the four subarrays of
  1 mat per 8 in the bank). Read latency = periphery + sensing time + H-tree; write latency = write
  pulse + periphery + H-tree; a write occupies its bank for the pulse plus periphery (not pipelined).
  Leakage is CMOS periphery only (NVSim's MTJ cells leak nothing): per bit plus a fixed global part.

Cell energies of the MRAM come from the device model (`models.mtj`), not from NVSim: NVSim's cell
file fixes a set energy (1 pJ/bit for its conservative 80 uA / 10 ns / 3-6 kOhm cell, 0.252 pJ for
the aggressive 40.82 uA / 5 ns one) and a read power (30 uW, inferred from its output, / 23.4 uW,
doubled for the reference cell). NVSim ran at 350 K, the default MTJ is at 300 K: periphery figures
(leakage above all) are NVSim's at 350 K, cell figures the device model's at its own temperature.
NVSim's "Bitline & Cell Write Energy" per bit is that set energy plus the bitline charge C V^2; we
subtract the set energy to calibrate the bitline term (0.057 pJ/bit at 22 nm), and its
"Bitline & Cell Read Energy" is exactly 2 x read power x sensing time, which we replace likewise. So a
write costs, per bit driven, bitline charge (NVSim) + V I t of our MTJ at the configured write voltage
and pulse (device model), and the pulse sets the write latency; a read costs sense amplifier
(NVSim) + 2 V_read I_read t_sense (device model). The fit test evaluates the same formulas with
NVSim's own cell terms put back, so the periphery is checked against NVSim as a whole.

Nodes: calibrated at 22 nm (HP, LSTP) and 32 nm (HP). Between 22 and 32 nm every constant is
interpolated geometrically in the node (HP only); other nodes and 32 nm LSTP are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from models import mtj
from models.errors import UserError

TECHNOLOGIES = ("sram", "stt_mram")
FLAVORS = ("hp", "lstp")
WER_METHODS = ("fokker_planck", "closed_form")
DIRECTIONS = ("p2ap", "ap2p")

SRAM_CELL_F2 = 146.0  # NVSim SRAM.cell (CACTI's 6T cell)
MRAM_CELL_F2 = 54.0  # NVSim sample_STTRAM.cell, conservative (80 uA write current)
MAX_MAT_KIB = 256  # 2 x 2 subarrays of 1024 x 512
MIN_MAT_KIB = 4  # 2 x 2 subarrays of 64 x 128, NVSim's smallest pick
MAX_MATS_PER_BANK = 256
MAX_BANK_KIB = MAX_MATS_PER_BANK * MAX_MAT_KIB

# Fitted exponents of mat capacity (KiB), shared by all (node, flavour) sets: least squares in
# log space on the SRAM mats NVSim chose (4, 16, 64, 256 KiB).
_P_SRAM_READ = 0.5533
_P_SRAM_READ_OCC = 0.8954
_P_SRAM_WRITE_OCC = 0.6481
_P_SRAM_ENERGY = 0.7203
_Q_SRAM_PERIPHERY = 0.6504


@dataclass(frozen=True)
class _Cmos:
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
# LSTP reuses the 22 nm HP area terms: NVSim's LSTP organisations differ from `_sense_amps_per_mat`.
_CALIBRATED: dict[tuple[int, str], _Cmos] = {
    (22, "hp"): _Cmos(
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
    (22, "lstp"): _Cmos(
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
    (32, "hp"): _Cmos(
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


def cmos_constants(node_nm: float, flavor: str, where: str = "node_nm") -> _Cmos:
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

    return _Cmos(**{f.name: geo(getattr(lo, f.name), getattr(hi, f.name)) for f in fields(_Cmos)})


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
        """Per-bit probability that a stored bit flips during ``residence_ns`` (0 for SRAM)."""
        if self.mtj_params is None:
            return np.zeros_like(residence_ns, dtype=float) if np.ndim(residence_ns) else 0.0
        return mtj.retention_failure_probability(self.mtj_params, residence_ns)

    def write_energy_for(self, switched_bits: float) -> float:
        """Energy of one word write in which ``switched_bits`` bits change value."""
        if self.differential_write:
            return self.write_energy_pj_fixed + switched_bits * self.write_energy_pj_per_switched_bit
        return self.write_energy_pj


@dataclass(frozen=True)
class MramCell:
    """The cell-side terms of an MRAM access (from the device model, or NVSim's cell file)."""

    area_f2: float
    write_pulse_ns: float
    write_energy_pj_per_bit: float
    read_energy_pj_per_bit: float
    sense_ns: float


@dataclass(frozen=True)
class _Design:
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


def _f2_um2(node_nm: float) -> float:
    return (node_nm * 1e-3) ** 2


def _tree(cm: _Cmos, area_mm2: float, mats_total: int, word_bits: int, capacity_bits: int):
    """(read latency ns, write latency ns, energy pJ) of the H-tree to one mat."""
    if mats_total <= 1:
        return 0.0, 0.0, 0.0
    reach = 1.0 - 1.0 / math.sqrt(mats_total)
    t_read = cm.tree_ns_per_mm2 * area_mm2 * math.sqrt(reach)
    address_bits = max(1, math.ceil(math.log2(max(2, capacity_bits // word_bits))))
    energy = cm.tree_pj_per_bit_mm * (word_bits + address_bits) * math.sqrt(area_mm2) * reach
    return t_read, 0.5 * t_read, energy


def _power(pair: tuple[float, float], kib: float, p: float) -> float:
    return pair[0] + pair[1] * kib**p


def _mat_options(capacity_bits: int, banks: int, where: str) -> list[int]:
    """Mats per bank that tile a bank with 4-256 KiB mats (a bank under 4 KiB is one mat)."""
    bank_bits = capacity_bits // banks
    max_mat_bits, min_mat_bits = MAX_MAT_KIB * 8192, MIN_MAT_KIB * 8192
    if bank_bits > MAX_MATS_PER_BANK * max_mat_bits:
        raise UserError(f"{where}.banks = {banks} ({bank_bits / 8192:g} KiB per bank; a bank holds at most "
                        f"{MAX_MATS_PER_BANK} mats of {MAX_MAT_KIB} KiB, so use more banks)")
    options = []
    mats = 1
    while mats <= MAX_MATS_PER_BANK and bank_bits % mats == 0:
        mat_bits = bank_bits // mats
        if mat_bits <= max_mat_bits and (mats == 1 or mat_bits >= min_mat_bits):
            options.append(mats)
        mats *= 2
    if not options:
        raise UserError(f"{where}.capacity_kib = {capacity_bits / 8192:g} ({banks} banks of {bank_bits / 8192:g} KiB "
                        f"cannot be split into equal mats of at most {MAX_MAT_KIB} KiB)")
    return options


def _sram_design(cm: _Cmos, node_nm: float, capacity_bits: int, banks: int, word_bits: int,
                 mats_per_bank: int, cell_f2: float) -> _Design:
    mats_total = banks * mats_per_bank
    mat_bits = capacity_bits // mats_total
    kib = mat_bits / 8192
    f2 = _f2_um2(node_nm)
    periphery_um2 = cm.sram_periphery_f2 * f2 * mat_bits**_Q_SRAM_PERIPHERY
    mat_um2 = mat_bits * cell_f2 * f2 + periphery_um2
    area = mats_total * mat_um2 * 1e-6
    t_tree_r, t_tree_w, e_tree = _tree(cm, area, mats_total, word_bits, capacity_bits)
    t_mat = _power(cm.sram_read_ns, kib, _P_SRAM_READ)
    # NVSim discharges every bitline of the activated row segment: at least 256 in its 64-bit run.
    bitline_share = max(word_bits, 256) / 512
    e_read_mat = _power(cm.sram_read_pj, kib, _P_SRAM_ENERGY)
    e_write_mat = e_read_mat - cm.sram_write_saving_pj
    leak = mats_total * (cm.sram_leak_mw_per_bit * mat_bits + cm.sram_leak_mw_per_um2 * periphery_um2)
    return _Design(
        mats_per_bank=mats_per_bank, mats_total=mats_total, mat_bits=mat_bits, area_mm2=area,
        read_latency_ns=t_mat + t_tree_r, write_latency_ns=t_mat + t_tree_w,
        read_occupancy_ns=_power(cm.sram_read_occ_ns, kib, _P_SRAM_READ_OCC),
        write_occupancy_ns=_power(cm.sram_write_occ_ns, kib, _P_SRAM_WRITE_OCC),
        read_energy_pj=e_read_mat * bitline_share + e_tree,
        write_fixed_pj=e_write_mat * bitline_share + e_tree, write_per_bit_pj=0.0,
        leakage_mw=leak,
    )


def _sense_amps_per_mat(word_bits: int, mats_per_bank: int, mats_total: int) -> float:
    """NVSim's ReadEDP choices: mux 1 on all four subarrays when the memory is a single mat (no
    H-tree, so area costs nothing); else a word split over 4 subarrays (1 for narrow words) of
    1 mat per 8 in the bank (NVSim: 1 of 4 mats at 1 MB, 2 of 16 at 4 MB)."""
    if mats_total == 1:
        return 4.0 * word_bits
    subarrays = 4 if word_bits >= 256 else 1
    active_mats = max(1, mats_per_bank // 8)
    return 4.0 * word_bits / (subarrays * active_mats)


def _mram_design(cm: _Cmos, node_nm: float, capacity_bits: int, banks: int, word_bits: int,
                 mats_per_bank: int, cell: MramCell, differential_write: bool) -> _Design:
    mats_total = banks * mats_per_bank
    mat_bits = capacity_bits // mats_total
    f2 = _f2_um2(node_nm)
    sense_amps = _sense_amps_per_mat(word_bits, mats_per_bank, mats_total)
    area_um2 = (capacity_bits * (cell.area_f2 + cm.mram_periphery_f2_per_bit)
                + mats_total * sense_amps * cm.mram_sense_amp_f2) * f2
    area = area_um2 * 1e-6
    t_tree_r, t_tree_w, e_tree = _tree(cm, area, mats_total, word_bits, capacity_bits)
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
    return _Design(
        mats_per_bank=mats_per_bank, mats_total=mats_total, mat_bits=mat_bits, area_mm2=area,
        read_latency_ns=t_mat_read + t_tree_r, write_latency_ns=t_write,
        read_occupancy_ns=occ_read, write_occupancy_ns=occ_write,
        read_energy_pj=e_mat_read + e_tree, write_fixed_pj=write_fixed,
        write_per_bit_pj=cm.mram_write_bitline_pj_per_bit + cell.write_energy_pj_per_bit,
        leakage_mw=cm.mram_leak_mw_per_bit * capacity_bits + cm.mram_leak_fixed_mw,
        sense_amps_per_mat=sense_amps,
    )


def _best(designs: list[_Design]) -> _Design:
    return min(designs, key=lambda d: (d.read_edp, -d.mat_bits))


def _to_figures(technology: str, capacity_bits: int, banks: int, word_bits: int, d: _Design,
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


def sram_figures(capacity_bytes: int, banks: int, word_bits: int, node_nm: float = 22,
                 flavor: str = "hp", where: str = "sram", cell_area_f2: float = SRAM_CELL_F2) -> ArrayFigures:
    """Figures of an SRAM (default: NVSim's 146 F^2 cell) at a calibrated node and device flavour."""
    cm = cmos_constants(node_nm, flavor, f"{where}.node_nm")
    bits = capacity_bytes * 8
    options = _mat_options(bits, banks, where)
    design = _best([_sram_design(cm, node_nm, bits, banks, word_bits, m, cell_area_f2) for m in options])
    return _to_figures("sram", bits, banks, word_bits, design)


def mram_figures(capacity_bytes: int, banks: int, word_bits: int, cell: MramCell, node_nm: float = 22,
                 flavor: str = "hp", differential_write: bool = False, where: str = "stt_mram",
                 **errors) -> ArrayFigures:
    """Figures of an STT-MRAM with the given cell terms; ``errors`` are ArrayFigures' error fields."""
    cm = cmos_constants(node_nm, flavor, f"{where}.node_nm")
    bits = capacity_bytes * 8
    options = _mat_options(bits, banks, where)
    design = _best([_mram_design(cm, node_nm, bits, banks, word_bits, m, cell, differential_write)
                    for m in options])
    return _to_figures("stt_mram", bits, banks, word_bits, design,
                       differential_write=differential_write, **errors)


# ---- Configuration: YAML mapping of one memory -> MemoryArray -> ArrayFigures -------------------

# MRAM operating point when the config leaves it out. 0.9 V drives 3 Ic0 (AP->P) through the
# default MTJ plus access transistor (configs/devices/mtj_default.yaml); 10 ns is NVSim's conservative
# pulse; 0.1 V reads P cells at 0.44 Ic0(P->AP). The sensing time defaults to NVSim's at the node.
DEFAULT_WRITE_VOLTAGE_V = 0.9
DEFAULT_WRITE_PULSE_NS = 10.0
DEFAULT_READ_VOLTAGE_V = 0.1

_COMMON_KEYS = ("technology", "capacity_kib", "banks", "word_bits", "node_nm", "cell_area_f2", "nvsim_file")
_TECH_KEYS = {
    "sram": ("sram_flavor",),
    "stt_mram": ("periphery_flavor", "write_voltage_v", "write_pulse_ns", "read_voltage_v", "read_pulse_ns",
                 "differential_write", "mtj", "wer_method"),
}
# With nvsim_file the file fixes the circuit; these keys would be silently ignored, so they are refused.
_NOT_WITH_NVSIM = ("node_nm", "cell_area_f2", "sram_flavor", "periphery_flavor")


def _number(d: dict, key: str, where: str, default=None, integer: bool = False, positive: bool = True):
    value = d.get(key, default)
    kind = "a positive integer" if integer else "a positive number"
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if not ok or (positive and not value > 0) or (not integer and not math.isfinite(value)):
        raise UserError(f"{where}.{key} = {value!r} (must be {kind})")
    return value


@dataclass(frozen=True)
class MemoryArray:
    """A validated memory description; `figures()` evaluates it."""

    technology: str
    capacity_bytes: int
    banks: int
    word_bits: int
    node_nm: float = 22.0
    flavor: str = "hp"
    cell_area_f2: float = SRAM_CELL_F2
    write_voltage_v: float = DEFAULT_WRITE_VOLTAGE_V
    write_pulse_ns: float | None = None
    read_voltage_v: float = DEFAULT_READ_VOLTAGE_V
    read_pulse_ns: float | None = None
    differential_write: bool = False
    mtj_params: mtj.MTJParams | None = None
    wer_method: str = "fokker_planck"
    nvsim_file: Path | None = None
    where: str = field(default="memory", compare=False)

    @classmethod
    def from_config(cls, d: dict, where: str, base_dir: str | Path | None = None) -> ArrayFigures:
        """YAML mapping of one memory -> `ArrayFigures` (``where`` e.g. ``configs/x.yaml: memories.spm``).

        A relative ``nvsim_file`` is resolved against ``base_dir`` (default: the working directory).
        """
        return cls.parse(d, where, base_dir).figures()

    @classmethod
    def parse(cls, d: dict, where: str, base_dir: str | Path | None = None) -> MemoryArray:
        if not isinstance(d, dict):
            raise UserError(f"{where} = {d!r} (must be a mapping with technology, capacity_kib, banks, word_bits)")
        tech = d.get("technology")
        if tech not in _TECH_KEYS:
            raise UserError(f"{where}.technology = {tech!r} (available: {', '.join(TECHNOLOGIES)})")
        accepted = _COMMON_KEYS + _TECH_KEYS[tech]
        for key in d:
            if key not in accepted:
                raise UserError(f"{where}.{key} = {d[key]!r} (unknown key for {tech}; accepted: {', '.join(accepted)})")
        nvsim_file = None
        if "nvsim_file" in d:
            for key in _NOT_WITH_NVSIM:
                if key in d:
                    raise UserError(f"{where}.{key} = {d[key]!r} (not used with nvsim_file: the NVSim output fixes it)")
            if not isinstance(d["nvsim_file"], (str, Path)) or not str(d["nvsim_file"]):
                raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} (must be a path to an NVSim output file)")
            nvsim_file = Path(d["nvsim_file"])
            if not nvsim_file.is_absolute() and base_dir is not None:
                nvsim_file = Path(base_dir) / nvsim_file
        banks = _number(d, "banks", where, default=1, integer=True)
        if banks & (banks - 1):
            raise UserError(f"{where}.banks = {banks} (must be a power of two)")
        word_bits = _number(d, "word_bits", where, integer=True)
        if word_bits % 8:
            raise UserError(f"{where}.word_bits = {word_bits} (must be a multiple of 8)")
        capacity_bytes = 0
        if nvsim_file is None or "capacity_kib" in d:
            capacity_kib = _number(d, "capacity_kib", where, integer=True)
            capacity_bytes = capacity_kib * 1024
            if capacity_bytes % (banks * word_bits // 8):
                raise UserError(f"{where}.capacity_kib = {capacity_kib} (not divisible into {banks} banks of "
                                f"whole {word_bits}-bit words)")
        node = _number(d, "node_nm", where, default=22)
        flavor_key = "sram_flavor" if tech == "sram" else "periphery_flavor"
        flavor = d.get(flavor_key, "hp")
        if flavor not in FLAVORS:
            raise UserError(f"{where}.{flavor_key} = {flavor!r} (accepted: {', '.join(FLAVORS)})")
        if nvsim_file is None:
            cmos_constants(node, flavor, f"{where}.node_nm")
        default_cell = SRAM_CELL_F2 if tech == "sram" else MRAM_CELL_F2
        spec = cls(technology=tech, capacity_bytes=capacity_bytes, banks=banks, word_bits=word_bits,
                   node_nm=float(node), flavor=flavor,
                   cell_area_f2=float(_number(d, "cell_area_f2", where, default=default_cell)),
                   nvsim_file=nvsim_file, where=where)
        if tech == "stt_mram":
            spec = spec._parse_mram(d)
        return spec

    def _parse_mram(self, d: dict) -> MemoryArray:
        where = self.where
        params = mtj.load_default()
        if "mtj" in d:
            if not isinstance(d["mtj"], dict):
                raise UserError(f"{where}.mtj = {d['mtj']!r} (must be a mapping of MTJParams fields)")
            merged = {f.name: getattr(params, f.name) for f in fields(params)} | d["mtj"]
            params = mtj.MTJParams.from_dict(merged, f"{where}.mtj")
        method = d.get("wer_method", "fokker_planck")
        if method not in WER_METHODS:
            raise UserError(f"{where}.wer_method = {method!r} (accepted: {', '.join(WER_METHODS)})")
        differential = d.get("differential_write", False)
        if not isinstance(differential, bool):
            raise UserError(f"{where}.differential_write = {differential!r} (must be true or false)")
        read_pulse = _number(d, "read_pulse_ns", where) if "read_pulse_ns" in d else None
        write_pulse = _number(d, "write_pulse_ns", where) if "write_pulse_ns" in d else None
        return replace(self, mtj_params=params, wer_method=method, differential_write=differential,
                       write_voltage_v=float(_number(d, "write_voltage_v", where, DEFAULT_WRITE_VOLTAGE_V)),
                       read_voltage_v=float(_number(d, "read_voltage_v", where, DEFAULT_READ_VOLTAGE_V)),
                       write_pulse_ns=None if write_pulse is None else float(write_pulse),
                       read_pulse_ns=None if read_pulse is None else float(read_pulse))

    # ---- evaluation

    def figures(self) -> ArrayFigures:
        if self.nvsim_file is not None:
            return self._nvsim_figures()
        if self.technology == "sram":
            return sram_figures(self.capacity_bytes, self.banks, self.word_bits, self.node_nm, self.flavor,
                                self.where, self.cell_area_f2)
        return mram_figures(self.capacity_bytes, self.banks, self.word_bits, self.mram_cell(), self.node_nm,
                            self.flavor, self.differential_write, self.where, **self._errors(self._pulse_ns()))

    def area_mm2(self, cell: MramCell | None = None) -> float:
        """Area alone (for iso-area sizing); ``cell`` avoids re-running the device model."""
        if self.technology == "sram":
            return self.figures().area_mm2
        return mram_figures(self.capacity_bytes, self.banks, self.word_bits, cell or self.mram_cell(),
                            self.node_nm, self.flavor, self.differential_write, self.where).area_mm2

    def _pulse_ns(self) -> float:
        return DEFAULT_WRITE_PULSE_NS if self.write_pulse_ns is None else self.write_pulse_ns

    def _sense_ns(self) -> float:
        if self.read_pulse_ns is not None:
            return self.read_pulse_ns
        return cmos_constants(self.node_nm, self.flavor, f"{self.where}.node_nm").mram_sense_ns

    def _device(self, key: str, value: float, fn, *args):
        """Call the device model; its range errors are re-raised naming this memory's key."""
        try:
            return float(fn(self.mtj_params, *args))
        except UserError as exc:
            raise UserError(f"{self.where}.{key} = {value!r} ({exc})") from None

    def mram_cell(self) -> MramCell:
        """Cell terms from the device model: V I t per switching bit (mean of both directions) and
        2 V_read I_read t_sense per sensed bit (cell plus reference cell, NVSim's convention)."""
        v, pulse, sense = self.write_voltage_v, self._pulse_ns(), self._sense_ns()
        e_write = 0.5 * sum(self._device("write_voltage_v", v, mtj.write_energy_pj_per_bit, v, pulse, d)
                            for d in DIRECTIONS)
        e_read = 2.0 * self._device("read_voltage_v", self.read_voltage_v, mtj.read_energy_pj_per_bit,
                                    self.read_voltage_v, sense)
        return MramCell(area_f2=self.cell_area_f2, write_pulse_ns=pulse, write_energy_pj_per_bit=e_write,
                        read_energy_pj_per_bit=e_read, sense_ns=sense)

    def _errors(self, pulse_ns: float) -> dict:
        v, method = self.write_voltage_v, self.wer_method
        wer = {d: self._device("write_voltage_v", v, mtj.write_error_rate, v, pulse_ns, d, method)
               for d in DIRECTIONS}
        p_rd = self._device("read_voltage_v", self.read_voltage_v, mtj.read_disturb_probability,
                            self.read_voltage_v, self._sense_ns())
        return dict(p_write_p2ap=wer["p2ap"], p_write_ap2p=wer["ap2p"], p_read_disturb=p_rd,
                    mtj_params=self.mtj_params)

    def _nvsim_figures(self) -> ArrayFigures:
        # Imported here: models.nvsim builds ArrayFigures, so it imports this module.
        from models import nvsim

        run = nvsim.parse_nvsim_output(self.nvsim_file)
        where = self.where
        if run.technology != self.technology:
            raise UserError(f"{where}.technology = {self.technology!r} ({self.nvsim_file} is a {run.technology} "
                            "NVSim output)")
        if self.capacity_bytes and self.capacity_bytes != run.capacity_bytes:
            raise UserError(f"{where}.capacity_kib = {self.capacity_bytes // 1024} ({self.nvsim_file} has "
                            f"{run.capacity_bytes / 1024:g} KiB)")
        if self.word_bits != run.word_bits:
            raise UserError(f"{where}.word_bits = {self.word_bits} ({self.nvsim_file} has {run.word_bits})")
        if run.capacity_bytes % (self.banks * self.word_bits // 8):
            raise UserError(f"{where}.banks = {self.banks} ({run.capacity_bytes / 1024:g} KiB does not divide "
                            f"into {self.banks} banks of whole words)")
        figures = nvsim.figures_from_run(run, self.banks)
        if self.technology == "sram":
            return figures
        if self.write_pulse_ns is not None and abs(self.write_pulse_ns - run.write_pulse_ns) > 1e-9:
            raise UserError(f"{where}.write_pulse_ns = {self.write_pulse_ns} ({self.nvsim_file} was run with a "
                            f"{run.write_pulse_ns:g} ns pulse; leave write_pulse_ns out or match it)")
        spec = replace(self, write_pulse_ns=run.write_pulse_ns,
                       read_pulse_ns=self.read_pulse_ns if self.read_pulse_ns is not None else run.sense_ns)
        figures = replace(figures, differential_write=self.differential_write, **spec._errors(run.write_pulse_ns))
        if self.differential_write:
            # Read-before-write costs one read; with NVSim's figures the whole read is charged.
            figures = replace(figures, write_latency_ns=figures.write_latency_ns + figures.read_latency_ns,
                              write_occupancy_ns=figures.write_occupancy_ns + figures.read_occupancy_ns,
                              write_energy_pj_fixed=figures.write_energy_pj_fixed + figures.read_energy_pj,
                              write_energy_pj=figures.write_energy_pj + figures.read_energy_pj)
        return figures


def capacity_for_area(d: dict, target_area_mm2: float, where: str = "capacity_for_area") -> int:
    """Largest capacity (KiB, ``banks`` x 2^k or x 3 * 2^k KiB per bank) of the memory ``d``
    describes (its own capacity_kib is ignored) whose area fits in ``target_area_mm2``."""
    if isinstance(target_area_mm2, bool) or not isinstance(target_area_mm2, (int, float)) or not target_area_mm2 > 0:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2!r} (must be a positive number)")
    if isinstance(d, dict) and "nvsim_file" in d:
        raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} (an NVSim output has a fixed capacity)")
    probe = dict(d, capacity_kib=(d.get("banks", 1) if isinstance(d, dict) else 1) * 64)
    spec = MemoryArray.parse(probe, where)
    cell = spec.mram_cell() if spec.technology == "stt_mram" else None
    best, smallest = 0, None
    for k in range(17):
        for per_bank_kib in (2**k, 3 * 2 ** (k - 1) if k else 0):
            if not per_bank_kib or (per_bank_kib * 8192) % spec.word_bits or per_bank_kib > MAX_BANK_KIB:
                continue
            kib = per_bank_kib * spec.banks
            area = replace(spec, capacity_bytes=kib * 1024).area_mm2(cell)
            smallest = area if smallest is None else min(smallest, area)
            if area <= target_area_mm2:
                best = max(best, kib)
    if not best:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2:g} (the smallest {spec.technology} memory "
                        f"with {spec.banks} banks of {spec.word_bits}-bit words takes {smallest:.4g} mm2)")
    return best

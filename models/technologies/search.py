"""Organisation and iso-area search: functions over the technology interface, shared by all.

- Organisation: among the mat sizes that tile a bank (4-256 KiB, at most 256 mats per bank, NVSim's
  largest bank organisation in the calibration runs is 32 x 8), take the design with the least read
  energy-delay product, as NVSim's ReadEDP search does (ties: the larger mat). A technology gives
  its design for one mats-per-bank choice; this module chooses.
- Iso-area: the largest capacity of a memory description whose area fits a target.
"""

from __future__ import annotations

from collections.abc import Callable

from models.errors import UserError
from models.technologies.periphery import Design

MAX_MAT_KIB = 256  # 2 x 2 subarrays of 1024 x 512
MIN_MAT_KIB = 4  # 2 x 2 subarrays of 64 x 128, NVSim's smallest pick
MAX_MATS_PER_BANK = 256
MAX_BANK_KIB = MAX_MATS_PER_BANK * MAX_MAT_KIB


def mat_options(capacity_bits: int, banks: int, where: str) -> list[int]:
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


def best_design(capacity_bits: int, banks: int, where: str, design: Callable[[int], Design]) -> Design:
    """The least-read-EDP design over the mat options; ``design(mats_per_bank)`` is the technology's."""
    return min([design(m) for m in mat_options(capacity_bits, banks, where)],
               key=lambda d: (d.read_edp, -d.mat_bits))


def capacity_for_area(d: dict, target_area_mm2: float, where: str = "capacity_for_area") -> int:
    """Largest capacity (KiB, ``banks`` x 2^k or x 3 * 2^k KiB per bank) of the memory ``d``
    describes (its own capacity_kib is ignored) whose area fits in ``target_area_mm2``."""
    from models import technologies

    if isinstance(target_area_mm2, bool) or not isinstance(target_area_mm2, (int, float)) or not target_area_mm2 > 0:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2!r} (must be a positive number)")
    if isinstance(d, dict) and "nvsim_file" in d:
        raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} (an NVSim output has a fixed capacity)")
    probe = dict(d, capacity_kib=(d.get("banks", 1) if isinstance(d, dict) else 1) * 64)
    spec = technologies.parse(probe, where)
    area_of = spec.area_model()
    best, smallest = 0, None
    for k in range(17):
        for per_bank_kib in (2**k, 3 * 2 ** (k - 1) if k else 0):
            if not per_bank_kib or (per_bank_kib * 8192) % spec.word_bits or per_bank_kib > MAX_BANK_KIB:
                continue
            kib = per_bank_kib * spec.banks
            area = area_of(kib * 1024)
            smallest = area if smallest is None else min(smallest, area)
            if area <= target_area_mm2:
                best = max(best, kib)
    if not best:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2:g} (the smallest {spec.technology} memory "
                        f"with {spec.banks} banks of {spec.word_bits}-bit words takes {smallest:.4g} mm2)")
    return best

"""Organisation and iso-area search: functions over the technology interface, shared by all.

- Organisation: among the mat sizes that tile a bank (4-256 KiB, at most 256 mats per bank, NVSim's
  largest bank organisation in the calibration runs is 32 x 8), take the design with the least read
  energy-delay product, as NVSim's ReadEDP search does (ties: the larger mat). A technology gives
  its design for one mats-per-bank choice; this module chooses.
- Iso-area: the largest capacity of a memory description whose area fits a target, in steps of
  one row across its banks (continuous, not powers of two).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from models.errors import UserError
from models.technologies.periphery import Design

MAX_MAT_KIB = 256  # 2 x 2 subarrays of 1024 x 512
MIN_MAT_KIB = 4  # 2 x 2 subarrays of 64 x 128, NVSim's smallest pick
MAX_MATS_PER_BANK = 256
MAX_BANK_KIB = MAX_MATS_PER_BANK * MAX_MAT_KIB
ROW_BITS = 512  # NVSim's subarray width in every MRAM run and its widest SRAM one (1024 x 512)
LOOKAHEAD = 16


def mat_options(capacity_bits: int, banks: int, where: str) -> list[int]:
    """Mats per bank (powers of two) that tile a bank with 4-256 KiB mats (a bank under 4 KiB is one
    mat); a bank that does not split evenly rounds its mats up to whole rows."""
    bank_bits = capacity_bits // banks
    max_mat_bits, min_mat_bits = MAX_MAT_KIB * 8192, MIN_MAT_KIB * 8192
    if bank_bits > MAX_MATS_PER_BANK * max_mat_bits:
        raise UserError(f"{where}.banks = {banks} ({bank_bits / 8192:g} KiB per bank; a bank holds at most "
                        f"{MAX_MATS_PER_BANK} mats of {MAX_MAT_KIB} KiB, so use more banks)")
    options = []
    mats = 1
    while mats <= MAX_MATS_PER_BANK:
        mat_bits = -(-bank_bits // mats)
        if mat_bits <= max_mat_bits and (mats == 1 or mat_bits >= min_mat_bits):
            options.append(mats)
        mats *= 2
    return options


def best_design(capacity_bits: int, banks: int, where: str, design: Callable[[int], Design]) -> Design:
    """The least-read-EDP design over the mat options; ``design(mats_per_bank)`` is the technology's."""
    return min([design(m) for m in mat_options(capacity_bits, banks, where)],
               key=lambda d: (d.read_edp, -d.mat_bits))


def capacity_step_kib(banks: int, word_bits: int) -> int:
    """Iso-area capacity granularity: one row across every bank (a row holds at least one
    ``ROW_BITS`` subarray row or one word), rounded up to whole KiB (configs give KiB)."""
    row_bytes = banks * max(word_bits, ROW_BITS) // 8
    return math.lcm(row_bytes, 1024) // 1024


def largest_fitting(area_of: Callable[[int], float], target_area_mm2: float, step_kib: int,
                    max_kib: int) -> tuple[int, float]:
    """(largest capacity in KiB, a multiple of ``step_kib``, with area <= target; the smallest area
    tried). Bisection over the multiples (area grows with capacity), then a look at the next
    ``LOOKAHEAD`` steps in case the organisation choice makes area dip."""
    def fits(k: int) -> bool:
        return area_of(k * step_kib * 1024) <= target_area_mm2

    smallest = area_of(step_kib * 1024)
    if smallest > target_area_mm2:
        return 0, smallest
    lo, hi = 1, max(1, max_kib // step_kib)
    if fits(hi):
        return hi * step_kib, smallest
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    best = lo
    for k in range(lo + 1, min(lo + 1 + LOOKAHEAD, max_kib // step_kib + 1)):
        if fits(k):
            best = k
    return best * step_kib, smallest


def capacity_for_area(d: dict, target_area_mm2: float, where: str = "capacity_for_area") -> int:
    """Largest capacity (KiB, in steps of one row across the banks, `capacity_step_kib`) of the
    memory ``d`` describes (its own capacity_kib is ignored) whose area fits in ``target_area_mm2``."""
    from models import technologies

    if isinstance(target_area_mm2, bool) or not isinstance(target_area_mm2, (int, float)) or not target_area_mm2 > 0:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2!r} (must be a positive number)")
    if isinstance(d, dict) and "nvsim_file" in d:
        raise UserError(f"{where}.nvsim_file = {d['nvsim_file']!r} (an NVSim output has a fixed capacity)")
    probe = dict(d, capacity_kib=(d.get("banks", 1) if isinstance(d, dict) else 1) * 64)
    spec = technologies.parse(probe, where)
    best, smallest = largest_fitting(spec.area_model(), target_area_mm2, capacity_step_kib(spec.banks, spec.word_bits),
                                     spec.banks * MAX_BANK_KIB)
    if not best:
        raise UserError(f"{where}: target_area_mm2 = {target_area_mm2:g} (the smallest {spec.technology} memory "
                        f"with {spec.banks} banks of {spec.word_bits}-bit words takes {smallest:.4g} mm2)")
    return best

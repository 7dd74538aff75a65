"""Agreement with NVSim at the goal's fixed tolerance: +-25% on area, read/write latency, read/write
energy and leakage, for every NVSim run in the reference set, single-bank and banked.

Banked: NVSim's runs are one bank of many mats (SRAM 32 x 8 mats at 1 MB, 8 x 8 at 4 MB; STT-MRAM 2 x 2
at 1 MB, 4 x 4 at 4 MB); here the same memory is also modelled with those mats as independent banks
(256 / 64 / 4 / 16 banks), which must cost no more than the goal's tolerance against NVSim's figures.

Where +-25% holds: every quantity of every run, both ways (measured, 22/32 nm HP and 22 nm LSTP, SRAM
and both STT cells; the MRAM cell terms are NVSim's own cell files, as in test_memory_array). The
tightest case is the aggressive (34.5 F2) cell at 4 MB as 16 banks: +24.6% area, because 16 banks
that each write a whole 512-bit word need 8192 sense amplifiers / write drivers where NVSim's one
bank activates 4 of its 16 mats (2048); the test asserts the same +-25% there, not a looser bound.
Quantities outside the goal's list (read/write occupancy, i.e. NVSim's bandwidth) are in
test_memory_array's TOLERANCE table: the SRAM HP occupancy misses by up to 82% (one cycle at 1 GHz).
"""

from __future__ import annotations

import pytest

from models.memory_array import mram_figures, sram_figures
from test_memory_array import NVSIM, nvsim_cell

GOAL = 0.25
QUANTITIES = ("area_mm2", "read_latency_ns", "write_latency_ns", "read_energy_pj", "write_energy_pj", "leakage_mw")
# NVSim's mat organisation of each 512-bit run at 1 and 4 MB (out_*.txt "Bank Organization"), as banks
NVSIM_MATS = {("sram", 1024): 256, ("sram", 4096): 64, ("conservative", 1024): 4, ("conservative", 4096): 16,
              ("aggressive", 1024): 4, ("aggressive", 4096): 16}
CASES = [(r, 1) for r in NVSIM] + [(r, NVSIM_MATS[(r.cell, r.capacity_kib)]) for r in NVSIM
                                   if (r.cell, r.capacity_kib) in NVSIM_MATS]


def _figures(ref, banks):
    if ref.cell == "sram":
        return sram_figures(ref.capacity_kib * 1024, banks, ref.word_bits, ref.node_nm, ref.flavor)
    return mram_figures(ref.capacity_kib * 1024, banks, ref.word_bits, nvsim_cell(ref), ref.node_nm, ref.flavor)


@pytest.mark.parametrize("ref, banks", CASES, ids=lambda c: str(c) if isinstance(c, int) else
                         f"{c.cell}-{c.node_nm}nm-{c.flavor}-{c.capacity_kib}KiB-{c.word_bits}b")
def test_every_quantity_within_25_percent_of_nvsim(ref, banks):
    fig = _figures(ref, banks)
    errors = {q: getattr(fig, q) / getattr(ref, q) - 1 for q in QUANTITIES}
    assert all(abs(e) <= GOAL for e in errors.values()), ", ".join(f"{q} {100 * e:+.1f}%" for q, e in errors.items())
    assert fig.banks == banks

"""Memory-array model: fit to NVSim, SRAM/MRAM ratios, device coupling, config validation, iso-area."""

from typing import NamedTuple

import numpy as np
import pytest

from models import mtj, mtj_cell, technologies
from models.errors import UserError
from models.technologies.search import capacity_step_kib
from models.memory_array import (
    MemoryArray, MramCell, capacity_for_area, cmos_constants, mram_figures, sram_figures,
)


class NvsimRef(NamedTuple):
    cell: str  # "sram", or NVSim's MRAM cell: "conservative" (54 F2, 80 uA, 10 ns, 1 pJ), "aggressive"
    node_nm: int
    flavor: str
    capacity_kib: int
    word_bits: int
    area_mm2: float
    read_latency_ns: float
    write_latency_ns: float
    read_energy_pj: float
    write_energy_pj: float
    leakage_mw: float
    read_occupancy_ns: float  # word bytes / NVSim's read bandwidth
    write_occupancy_ns: float


# NVSim (SEAL-UCSB, -std=c++11 build) runs of shared/reference/nvsim: RAM, one bank, ReadEDP, 350 K,
# local/global aggressive wires without repeaters, latency-optimised buffers; cells SRAM.cell,
# sample_STTRAM.cell (conservative) and sample_STTRAM_aggressive.cell. Numbers as NVSim printed them
# (out_*.txt, summarised in nvsim_summary.csv).
NVSIM = (
    NvsimRef("sram", 22, "hp", 1024, 64, 0.748749, 0.517544, 0.34075, 22.322, 21.912, 1284, 0.1153, 0.1215),
    NvsimRef("sram", 22, "hp", 256, 512, 0.158541, 0.983972, 0.983972, 11.987, 11.564, 271.236, 2.367, 0.8877),
    NvsimRef("sram", 22, "hp", 1024, 512, 0.767197, 0.518673, 0.336323, 146.924, 146.485, 1284, 0.1053, 0.1114),
    NvsimRef("sram", 22, "hp", 4096, 512, 2.638, 1.706, 1.075, 262.596, 262.168, 4614, 0.8806, 0.3625),
    NvsimRef("sram", 22, "lstp", 256, 512, 0.159057, 1.976, 1.976, 9.559, 9.182, 0.022231, 4.849, 1.699),
    NvsimRef("sram", 22, "lstp", 1024, 512, 0.766002, 0.730111, 0.547959, 116.079, 115.687, 0.103865, 0.2698, 0.2422),
    NvsimRef("sram", 22, "lstp", 4096, 512, 2.793, 1.911, 1.247, 222.002, 221.62, 0.386926, 0.5343, 0.3946),
    NvsimRef("sram", 32, "hp", 256, 512, 0.333447, 1.037, 1.037, 18.107, 17.341, 436.283, 2.017, 0.9116),
    NvsimRef("sram", 32, "hp", 1024, 512, 1.629, 0.505555, 0.344556, 226.316, 225.521, 2093, 0.09249, 0.1265),
    NvsimRef("sram", 32, "hp", 4096, 512, 5.908, 1.484, 0.899002, 431.939, 431.163, 7791, 0.1866, 0.2255),
    NvsimRef("conservative", 22, "hp", 1024, 64, 0.289588, 2.263, 10.635, 23.824, 75.761, 124.847, 2.355, 10.49),
    NvsimRef("conservative", 22, "hp", 256, 512, 0.121062, 2.153, 10.557, 122.591, 541.624, 31.445, 2.352, 10.47),
    NvsimRef("conservative", 22, "hp", 1024, 512, 0.317683, 2.269, 10.639, 176.72, 594.243, 124.631, 2.354, 10.49),
    NvsimRef("conservative", 22, "hp", 4096, 512, 1.158, 2.726, 10.866, 279.589, 695.079, 499.387, 2.355, 10.49),
    NvsimRef("conservative", 22, "lstp", 256, 512, 0.136078, 2.207, 10.72, 136.508, 549.786, 0.312755, 3.573, 10.46),
    NvsimRef("conservative", 22, "lstp", 1024, 512, 0.368451, 2.198, 10.599, 193.98, 594.134, 0.329842, 2.429, 10.3),
    NvsimRef("conservative", 22, "lstp", 4096, 512, 1.168, 3.12, 11.315, 247.46, 658.467, 0.659355, 3.584, 10.78),
    NvsimRef("conservative", 32, "hp", 256, 512, 0.260078, 1.864, 10.631, 99.066, 556.728, 60.982, 1.792, 10.51),
    NvsimRef("conservative", 32, "hp", 1024, 512, 0.682913, 1.968, 10.678, 183.094, 638.536, 242.738, 1.795, 10.51),
    NvsimRef("conservative", 32, "hp", 4096, 512, 2.491, 2.38, 10.883, 342.806, 795.25, 972.567, 1.796, 10.51),
    NvsimRef("aggressive", 22, "hp", 256, 512, 0.103408, 1.919, 5.443, 112.634, 154.957, 31.424, 2.286, 5.35),
    NvsimRef("aggressive", 22, "hp", 1024, 512, 0.206162, 1.98, 5.513, 157.437, 197.238, 124.562, 2.291, 5.395),
    NvsimRef("aggressive", 22, "hp", 4096, 512, 0.7649, 2.241, 5.651, 240.146, 276.951, 500.61, 2.295, 5.405),
)

QUANTITIES = ("area_mm2", "read_latency_ns", "write_latency_ns", "read_energy_pj", "write_energy_pj",
              "leakage_mw", "read_occupancy_ns", "write_occupancy_ns")

# Relative tolerance reached per (cell, flavour), in QUANTITIES order. The SRAM occupancy misses at
# 1-4 MB because our ReadEDP search settles on 8-32 KiB mats where NVSim took 4-16 KiB (EDP nearly
# tied); at 1 GHz both are one cycle. MRAM LSTP: NVSim picks other organisations than our rule.
# The aggressive cell is a side check: NVSim activates twice the mats our rule assumes (area high).
TOLERANCE = {
    ("sram", "hp"): (0.07, 0.11, 0.16, 0.14, 0.14, 0.05, 0.82, 0.32),
    ("sram", "lstp"): (0.02, 0.02, 0.02, 0.04, 0.04, 0.01, 0.03, 0.01),
    ("conservative", "hp"): (0.01, 0.03, 0.01, 0.09, 0.02, 0.01, 0.01, 0.01),
    ("conservative", "lstp"): (0.14, 0.13, 0.04, 0.16, 0.04, 0.10, 0.33, 0.03),
    ("aggressive", "hp"): (0.17, 0.14, 0.03, 0.03, 0.04, 0.01, 0.04, 0.03),
}


def nvsim_cell(ref: NvsimRef) -> MramCell:
    """NVSim's own cell terms (its cell file), to check our periphery against NVSim as a whole."""
    sense = cmos_constants(ref.node_nm, ref.flavor).mram_sense_ns
    if ref.cell == "conservative":  # 30 uW read power (its Bitline & Cell Read Energy / 2 t_sense)
        return MramCell(54.0, 10.0, 1.0, 2 * 30e-6 * sense * 1e3, sense)
    return MramCell(34.5, 5.0, 0.252, 2 * 23.4e-6 * sense * 1e3, sense)


def model(ref: NvsimRef):
    if ref.cell == "sram":
        return sram_figures(ref.capacity_kib * 1024, 1, ref.word_bits, ref.node_nm, ref.flavor)
    return mram_figures(ref.capacity_kib * 1024, 1, ref.word_bits, nvsim_cell(ref), ref.node_nm, ref.flavor)


def _ref(cell, kib, flavor="hp", node=22, word=512):
    key = (cell, kib, flavor, node, word)
    return next(r for r in NVSIM if (r.cell, r.capacity_kib, r.flavor, r.node_nm, r.word_bits) == key)


@pytest.mark.parametrize("ref", NVSIM,
                         ids=lambda r: f"{r.cell}-{r.node_nm}nm-{r.flavor}-{r.capacity_kib}KiB-{r.word_bits}b")
def test_fit_to_nvsim(ref):
    fig = model(ref)
    tolerance = TOLERANCE[(ref.cell, ref.flavor)]
    errors = {q: getattr(fig, q) / getattr(ref, q) - 1 for q in QUANTITIES}
    table = ", ".join(f"{q} {100 * e:+.1f}% (tol {100 * t:.0f}%)" for (q, e), t in zip(errors.items(), tolerance))
    assert all(abs(e) <= t for e, t in zip(errors.values(), tolerance)), table


@pytest.mark.parametrize("kib", [256, 1024, 4096])
def test_sram_mram_ratios_track_nvsim(kib):
    sram, cons, aggr = (_ref(c, kib) for c in ("sram", "conservative", "aggressive"))
    s, c, a = model(sram), model(cons), model(aggr)
    density, nv_density = s.area_mm2 / c.area_mm2, sram.area_mm2 / cons.area_mm2
    assert density == pytest.approx(nv_density, rel=0.05)
    assert (1.3 <= density <= 1.5) if kib == 256 else (2.25 <= density <= 3.7)
    assert s.area_mm2 / a.area_mm2 == pytest.approx(sram.area_mm2 / aggr.area_mm2, rel=0.20)
    leak_ratio = s.leakage_mw / c.leakage_mw
    assert leak_ratio == pytest.approx(sram.leakage_mw / cons.leakage_mw, rel=0.05) and 8 <= leak_ratio <= 10.5
    assert c.leakage_mw > model(_ref("sram", kib, "lstp")).leakage_mw
    assert c.write_latency_ns == pytest.approx(10.6, abs=0.3) and s.write_latency_ns < 1.2


def test_sram_organisation_flips_like_nvsim():
    """ReadEDP: one 256 KiB mat without an H-tree at 256 KB, many small mats at 1 MB (10x energy)."""
    small = sram_figures(256 * 1024, 1, 512)
    large = sram_figures(1024 * 1024, 1, 512)
    assert "1 mat(s) of 256 KiB" in small.organisation
    assert large.read_energy_pj > 10 * small.read_energy_pj and large.read_latency_ns < small.read_latency_ns


W = "configs/x.yaml: memories.spm"
MRAM = {"technology": "stt_mram", "capacity_kib": 1024, "banks": 4, "word_bits": 512, "wer_method": "closed_form"}


def test_mram_write_follows_device_model_voltage():
    # A cell wide enough that its access transistor does not saturate below 0.9 V (models/mtj_cell.py).
    wide = dict(MRAM, cell_area_f2=200.0)
    figs = [MemoryArray.from_config(dict(wide, write_voltage_v=v), W) for v in (0.7, 0.8, 0.9)]
    per_bit = [f.write_energy_pj_per_switched_bit for f in figs]
    assert per_bit == sorted(per_bit) and len(set(per_bit)) == 3
    for direction in ("p2ap", "ap2p"):
        wer = [getattr(f, f"p_write_{direction}") for f in figs]
        assert wer == sorted(wer, reverse=True) and wer[0] > wer[-1]
    spec = technologies.parse(wide, W)
    params, cell = spec.mtj_params, spec.cell
    cell_pj = 0.5 * sum(mtj_cell.write_energy_pj_per_bit(params, cell, 0.8, 10.0, d) for d in ("p2ap", "ap2p"))
    bitline_pj = cmos_constants(22, "hp").mram_write_bitline_pj_per_bit
    assert figs[1].write_energy_pj_per_switched_bit == pytest.approx(cell_pj + bitline_pj)
    assert figs[1].p_write_ap2p == pytest.approx(mtj_cell.write_error_rate(params, cell, 0.8, 10.0, "ap2p",
                                                                           "closed_form"))


def test_mram_write_follows_device_model_pulse():
    figs = [MemoryArray.from_config(dict(MRAM, write_pulse_ns=t), W) for t in (5.0, 10.0, 20.0)]
    for name in ("write_energy_pj", "write_latency_ns", "write_occupancy_ns"):
        values = [getattr(f, name) for f in figs]
        assert values == sorted(values) and values[0] < values[-1]
    assert [f.p_write_ap2p for f in figs] == sorted((f.p_write_ap2p for f in figs), reverse=True)
    periphery = cmos_constants(22, "hp").mram_write_occ_ns
    assert figs[1].write_occupancy_ns == pytest.approx(10.0 + periphery)
    assert figs[1].read_latency_ns == figs[0].read_latency_ns  # reads do not see the write pulse


def test_mram_default_fokker_planck_errors_and_read_disturb():
    d = {k: v for k, v in MRAM.items() if k != "wer_method"}
    f = MemoryArray.from_config(d, W)
    spec = technologies.parse(d, W)
    params, cell = spec.mtj_params, spec.cell
    assert f.p_write_p2ap == pytest.approx(mtj_cell.write_error_rate(params, cell, 0.9, 10.0, "p2ap"))
    assert f.p_write_ap2p == pytest.approx(mtj_cell.write_error_rate(params, cell, 0.9, 10.0, "ap2p"))
    assert f.p_write_p2ap != f.p_write_ap2p  # Ic0 differs per direction
    sense = cmos_constants(22, "hp").mram_sense_ns
    assert f.p_read_disturb == pytest.approx(mtj_cell.read_disturb_probability(params, cell, 0.1, sense))
    slower = MemoryArray.from_config(dict(MRAM, read_pulse_ns=2 * sense, wer_method="closed_form"), W)
    assert slower.p_read_disturb > f.p_read_disturb
    assert slower.read_latency_ns == pytest.approx(f.read_latency_ns + sense)


def test_differential_write_energy_and_read_before_write():
    plain = MemoryArray.from_config(MRAM, W)
    diff = MemoryArray.from_config(dict(MRAM, differential_write=True), W)
    for f in (plain, diff):
        assert f.write_energy_pj == pytest.approx(f.write_energy_pj_fixed + 512 * f.write_energy_pj_per_switched_bit)
    assert diff.write_energy_pj_per_switched_bit == plain.write_energy_pj_per_switched_bit
    assert diff.write_energy_pj_fixed > plain.write_energy_pj_fixed  # the read before the write
    assert diff.write_latency_ns > plain.write_latency_ns and diff.write_occupancy_ns > plain.write_occupancy_ns
    expected = diff.write_energy_pj_fixed + 10 * diff.write_energy_pj_per_switched_bit
    assert diff.write_energy_for(10) == pytest.approx(expected)
    assert diff.write_energy_for(10) < plain.write_energy_for(10) == plain.write_energy_pj
    assert diff.p_write_ap2p == plain.p_write_ap2p  # errors per switching bit either way


def test_retention_from_device_and_mtj_overrides():
    default = MemoryArray.from_config(MRAM, W)
    weak = MemoryArray.from_config(dict(MRAM, mtj={"delta": 40.0}), W)
    t = np.array([0.0, 1e9, 1e12])
    assert np.all(weak.p_retention(t)[1:] > default.p_retention(t)[1:]) and weak.p_retention(t)[0] == 0.0
    assert weak.p_retention(1e9) == pytest.approx(mtj.retention_failure_probability(weak.mtj_params, 1e9))
    sram = MemoryArray.from_config({"technology": "sram", "capacity_kib": 64, "banks": 2, "word_bits": 64}, W)
    assert sram.p_retention(1e9) == 0.0 and np.all(sram.p_retention(t) == 0.0)
    assert (sram.p_write_p2ap, sram.p_write_ap2p, sram.p_read_disturb, sram.differential_write) == (0, 0, 0, False)
    with pytest.raises(UserError, match=r"memories\.spm\.mtj: unknown key 'deltaa'"):
        MemoryArray.from_config(dict(MRAM, mtj={"deltaa": 40.0}), W)


def test_sram_flavor_leakage_and_node_interpolation():
    base = {"technology": "sram", "capacity_kib": 1024, "banks": 1, "word_bits": 512}
    hp = MemoryArray.from_config(base, W)
    lstp = MemoryArray.from_config(dict(base, sram_flavor="lstp"), W)
    assert 5e3 < hp.leakage_mw / lstp.leakage_mw < 5e4
    mid = MemoryArray.from_config(dict(base, node_nm=28), W)
    at32 = MemoryArray.from_config(dict(base, node_nm=32), W)
    assert hp.area_mm2 < mid.area_mm2 < at32.area_mm2 and hp.leakage_mw < mid.leakage_mw < at32.leakage_mw


def test_more_mram_banks_cost_periphery_area():
    # Issue 9 changed this test: sense amplifiers are shared across banks as NVSim shares them across
    # mats, so banks cost area only past one word of sense amplifiers per bank (32 x 512 bits > 2048).
    one = MemoryArray.from_config(dict(MRAM, banks=1), W)
    many = MemoryArray.from_config(dict(MRAM, banks=32), W)
    assert many.area_mm2 > one.area_mm2 and many.banks == 32
    narrow = MemoryArray.from_config(dict(MRAM, banks=32, word_bits=64), W)
    assert narrow.area_mm2 == pytest.approx(one.area_mm2, rel=1e-9)


@pytest.mark.parametrize("change, key, accepted", [
    ({"technology": "dram"}, "technology", "available: sram, stt_mram"),
    ({"banks": 12}, "banks", "power of two"),
    ({"capacity_kib": 100, "banks": 128}, "capacity_kib", "not divisible"),
    ({"capacity_kib": 0}, "capacity_kib", "positive integer"),
    ({"word_bits": 12}, "word_bits", "multiple of 8"),
    ({"write_pulse_ns": 0}, "write_pulse_ns", "positive"),
    ({"write_pulse_ns": -5.0}, "write_pulse_ns", "positive"),
    ({"write_voltage_v": 0.0}, "write_voltage_v", "positive"),
    ({"read_voltage_v": -0.1}, "read_voltage_v", "positive"),
    ({"read_pulse_ns": "fast"}, "read_pulse_ns", "positive"),
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"sram_flavor": "lstp"}, "sram_flavor", "unknown key for stt_mram"),
    ({"periphery_flavor": "lp"}, "periphery_flavor", "accepted: hp, lstp"),
    ({"wer_method": "llg"}, "wer_method", "accepted: fokker_planck, closed_form"),
    ({"differential_write": "yes"}, "differential_write", "true or false"),
    ({"node_nm": 45}, "node_nm", "calibrated"),
    ({"node_nm": 32, "periphery_flavor": "lstp"}, "node_nm", "calibrated"),
    ({"write_voltage_v": 0.28}, "write_voltage_v", "outside both closed forms"),
    ({"capacity_kib": 131072, "banks": 1}, "banks", "use more banks"),
])
def test_validation_errors_are_one_line(change, key, accepted):
    with pytest.raises(UserError) as info:
        MemoryArray.from_config(dict(MRAM, **change), W)
    msg = str(info.value)
    assert msg.startswith(f"{W}.{key} = ") and accepted in msg and "\n" not in msg


def test_capacity_for_area():
    for d in ({"technology": "sram", "banks": 4, "word_bits": 512},
              {"technology": "stt_mram", "banks": 4, "word_bits": 512, "wer_method": "closed_form"}):
        kib = capacity_for_area(d, 1.0)
        # Issue 9: continuous sizing, in steps of one 512-bit row across the 4 banks (rounded to KiB)
        assert kib % capacity_step_kib(4, 512) == 0 and (kib * 1024) % (4 * 64) == 0
        assert MemoryArray.from_config(dict(d, capacity_kib=kib + capacity_step_kib(4, 512)), W).area_mm2 > 1.0
        assert MemoryArray.from_config(dict(d, capacity_kib=kib), W).area_mm2 <= 1.0
        assert MemoryArray.from_config(dict(d, capacity_kib=2 * kib), W).area_mm2 > 1.0
    sram_kib = capacity_for_area({"technology": "sram", "banks": 1, "word_bits": 512}, 0.7672)
    mram_kib = capacity_for_area({"technology": "stt_mram", "banks": 1, "word_bits": 512}, 0.7672)
    # Issue 9: continuous sizing finds 1078 KiB (the model's 1 MB SRAM is 4.8% under NVSim's 0.7672 mm2)
    assert 1024 <= sram_kib <= 1.06 * 1024 and mram_kib >= 2 * sram_kib
    with pytest.raises(UserError, match="target_area_mm2 = 1e-06"):
        capacity_for_area({"technology": "sram", "banks": 1, "word_bits": 512}, 1e-6)

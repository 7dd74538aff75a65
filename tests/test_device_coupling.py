"""Device coupling (models/mtj_cell.py), the computed write point, temperature_k."""

from __future__ import annotations

import math

import pytest
import yaml

from models import mtj_cell, technologies
from models.errors import UserError
from models.technologies import operating_point
from models.temperature import leakage_scale
from simulator.config import CONFIG_DIR, load_config
from tests.conftest import make_config

W = "configs/x.yaml: memories.spm"
STT = {"technology": "stt_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64, "write_voltage_v": 0.9,
       "write_pulse_ns": 10.0}
HBAR, Q, KB = 1.054571817e-34, 1.602176634e-19, 1.380649e-23


def _spec(**kw):
    return technologies.parse(dict(STT, **kw), W)


def test_ic0_follows_delta_by_the_closed_form_and_delta_40_writes_easier():
    base, weak = _spec().mtj_params, _spec(mtj={"delta": 40.0}).mtj_params
    for d in ("p2ap", "ap2p"):
        eta = 4 * Q * base.alpha * KB * base.temperature_k * base.delta / (HBAR * base.ic0_ua(d) * 1e-6)
        closed = 4 * Q * weak.alpha * KB * weak.temperature_k * 40.0 / (HBAR * eta) * 1e6
        assert weak.ic0_ua(d) == pytest.approx(closed, rel=1e-12)
        assert weak.ic0_ua(d) == pytest.approx(base.ic0_ua(d) * 2 / 3, rel=1e-12)
    assert weak.ic0_ap2p_ua == pytest.approx(16.78, abs=0.01)  # the "~17 uA"
    strong_wer, weak_wer = _spec().worst_wer(), _spec(mtj={"delta": 40.0}).worst_wer()
    assert weak_wer < strong_wer / 10  # i = I/Ic0 up by 1.5x


def test_delta_follows_ms_volume_hk_and_temperature():
    base = _spec().mtj_params
    assert _spec(mtj={"ms_a_per_m": 0.55e6}).mtj_params.delta == pytest.approx(30.0, rel=1e-9)
    wide = _spec(mtj={"diameter_nm": 50.0}).mtj_params
    assert wide.delta == pytest.approx(1.5625 * base.delta, rel=1e-9)
    assert wide.r_p_ohm == pytest.approx(base.r_p_ohm / 1.5625)  # RA fixed
    assert wide.ic0_p2ap_ua == pytest.approx(1.5625 * base.ic0_p2ap_ua)
    hk = _spec(mtj={"mu0_hk_t": 2 * base.mu0_hk_t}).mtj_params
    assert hk.delta == pytest.approx(2 * base.delta) and hk.tau_d_ns == pytest.approx(base.tau_d_ns / 2)
    hot = _spec(mtj={"temperature_k": 350.0}).mtj_params
    assert hot.delta == pytest.approx(60.0 * 300.0 / 350.0)  # Δ ∝ 1/T at fixed Ms, Hk
    assert hot.ic0_ap2p_ua == pytest.approx(base.ic0_ap2p_ua)  # kB T Δ is the barrier energy
    assert hot.mu0_hk_t == pytest.approx(base.mu0_hk_t)


def test_self_contradicting_overrides_are_refused():
    base = _spec().mtj_params
    with pytest.raises(UserError, match=r"memories\.spm\.mtj\.delta = 40 \(contradicts mu0_hk_t"):
        _spec(mtj={"delta": 40.0, "mu0_hk_t": base.mu0_hk_t})
    assert _spec(mtj={"delta": 60.0, "mu0_hk_t": base.mu0_hk_t}).mtj_params.delta == 60.0  # consistent
    with pytest.raises(UserError, match=r"ic0_p2ap_ua = 50.*eta_p2ap"):
        _spec(mtj={"ic0_p2ap_ua": 50.0, "eta_p2ap": 0.4})
    with pytest.raises(UserError, match="r_access_ohm.*cell_area_f2"):
        _spec(mtj={"r_access_ohm": 1000.0})


@pytest.mark.parametrize("area_f2", [20.0, 54.0, 100.0])
def test_write_current_saturates_at_the_transistor_width(area_f2):
    spec = _spec(cell_area_f2=area_f2)
    width_um = (area_f2 / 3 - 1) * 22e-3  # Dong et al. 2008: A = 3 (W/L + 1) F^2
    i_sat = 214.0 * width_um
    assert spec.cell.i_sat_ua == pytest.approx(i_sat) and spec.cell.r_on_ohm == pytest.approx(748.0 / width_um)
    currents = [mtj_cell.write_current_ua(spec.mtj_params, spec.cell, v, "p2ap") for v in (0.5, 0.7, 0.9)]
    ohmic = [v / (spec.mtj_params.r_p_ohm + 748.0 / width_um) * 1e6 for v in (0.5, 0.7, 0.9)]
    for c, o in zip(currents, ohmic):
        assert c == pytest.approx(min(o, i_sat), rel=1e-9)
    if area_f2 <= 54.0:
        assert currents[0] == currents[-1] == pytest.approx(i_sat)  # more voltage, no more current
    else:
        assert currents[0] < currents[-1]


def test_tmr_falls_with_bias():
    spec = _spec(cell_area_f2=400.0)
    p, cell = spec.mtj_params, spec.cell
    for v in (0.01, 0.3, 0.8):
        current, v_mtj = mtj_cell.bias_point(p, cell, v, "ap")
        r = float(v_mtj) / (float(current) * 1e-6)
        assert r == pytest.approx(p.r_p_ohm * (1 + p.tmr / (1 + (float(v_mtj) / 0.5) ** 2)), rel=1e-9)
    _, v_small = mtj_cell.bias_point(p, cell, 0.001, "ap")
    assert float(v_small) / 0.001 == pytest.approx(p.r_ap_ohm / (p.r_ap_ohm + cell.r_on_ohm), rel=1e-4)


def test_breakdown_is_refused_with_one_line():
    with pytest.raises(UserError) as info:
        technologies.from_config(dict(STT, cell_area_f2=400.0, write_voltage_v=1.6), W)
    msg = str(info.value)
    assert msg.startswith(f"{W}.write_voltage_v = 1.6") and "breakdown_v = 1 V" in msg and "\n" not in msg
    ok = technologies.from_config(dict(STT, cell_area_f2=400.0, write_voltage_v=1.6, mtj={"breakdown_v": 2.0}), W)
    assert ok.p_write_p2ap < 1e-6


def test_auto_point_meets_the_target_and_is_the_least():
    spec = _spec(write_pulse_ns="auto", write_voltage_v=0.9, wer_method="closed_form", wer_target=1e-6)
    assert spec.worst_wer() <= 1e-6
    shorter = operating_point.replace(spec, write_pulse_ns=spec.write_pulse_ns - 0.1)
    assert shorter.worst_wer() > 1e-6
    both = _spec(write_pulse_ns="auto", write_voltage_v="auto", wer_method="closed_form", wer_target=1e-6)
    assert both.write_pulse_ns <= spec.write_pulse_ns and both.worst_wer() <= 1e-6
    lower = operating_point._worst(operating_point.replace(both, write_voltage_v=both.write_voltage_v - 0.001))
    assert lower is None or lower > 1e-6
    with pytest.raises(UserError, match=r"write_voltage_v = 'auto' \(no voltage"):
        _spec(write_voltage_v="auto", write_pulse_ns=2.0, wer_target=1e-12)


def test_shipped_preset_point_is_computed_to_its_target():
    mem = load_config(CONFIG_DIR / "mram_iso_capacity.yaml").memories["spm_act"]
    assert max(mem.p_write_p2ap, mem.p_write_ap2p) <= 1e-9
    assert mem.operating_point["wer_target"] == 1e-9


def test_temperature_drives_delta_retention_and_leakage(tmp_path):
    path = make_config(tmp_path, "t.yaml", accumulator=None)
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["spm_act"] = dict(STT, capacity_kib=256, banks=8)
    path.write_text(yaml.safe_dump(doc))
    cold, hot = load_config(path), load_config(path, ["temperature_k=350"])
    c, h = cold.memories["spm_act"], hot.memories["spm_act"]
    assert h.figures.mtj_params.delta == pytest.approx(60.0 * 300 / 350)
    assert h.p_retention(1e9) > 1e3 * c.p_retention(1e9)
    assert h.leakage_mw / c.leakage_mw == pytest.approx(1 / leakage_scale(300.0))
    assert hot.memories["spm_weight"].leakage_mw == cold.memories["spm_weight"].leakage_mw  # a YAML figure is final
    assert 8 < 1 / leakage_scale(300.0) < 12  # subthreshold law: ~10x over 50 K
    with pytest.raises(UserError, match="mtj.temperature_k = 320.*contradicts temperature_k = 300"):
        load_config(path, ["memories.spm_act.mtj.temperature_k=320"])
    assert math.isclose(cold.resolved["temperature_k"], 300.0)


def test_sot_auto_pulse_meets_its_target():
    d = {"technology": "sot_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64, "write_voltage_v": 0.7,
         "write_pulse_ns": "auto"}
    spec = technologies.parse(d, W)
    assert spec.worst_wer() <= 1e-9
    assert operating_point.replace(spec, write_pulse_ns=spec.write_pulse_ns - 0.1).worst_wer() > 1e-9

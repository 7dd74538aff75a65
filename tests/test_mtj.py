"""MTJ parameters and closed forms: device.md figures, naive references, validity ranges, precision."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_mtj as naive
from models import mtj
from models.errors import UserError


@pytest.fixture(scope="module")
def params():
    return mtj.load_default()


def test_default_set_reproduces_device_figures(params):
    assert params.delta == 60.0
    assert params.volume_m3 == pytest.approx(1.634e-24, rel=1e-3)
    assert params.mu0_hk_t == pytest.approx(0.2765, rel=1e-3)
    assert params.tau_d_ns == pytest.approx(2.05, abs=0.005)
    assert mtj.critical_current_ua(params.delta, params.alpha, params.temperature_k, 0.6) == pytest.approx(25.2, abs=0.05)
    assert params.ic0_ap2p_ua == pytest.approx(mtj.critical_current_ua(params.delta, params.alpha, params.temperature_k, 0.6), rel=0.005)
    assert params.ic0_p2ap_ua == pytest.approx(1.5 * params.ic0_ap2p_ua, rel=1e-3)
    area_um2 = math.pi * (0.5e-3 * params.diameter_nm) ** 2
    assert params.r_p_ohm == pytest.approx(5.0 / area_um2, rel=1e-3)  # RA = 5 Ω·µm²
    assert params.r_ap_ohm == pytest.approx(9.95e3, rel=1e-3)


def test_default_closed_form_wer_and_energy_at_three_ic0(params):
    wer = mtj.wer_precessional(params.delta, 3.0, np.array([5.0, 10.0, 20.0]), params.tau_d_ns)
    np.testing.assert_allclose(wer, [8.7e-3, 5.2e-7, 1.8e-15], rtol=0.03)
    energy = mtj.joule_energy_pj(3 * params.ic0_ap2p_ua, params.r_ap_ohm, np.array([5.0, 10.0, 20.0]))
    np.testing.assert_allclose(energy, [0.28, 0.57, 1.13], atol=0.006)


def test_kernels_match_naive_reference_on_random_inputs():
    rng = np.random.default_rng(3)
    n = 200
    delta = rng.uniform(20, 100, n)
    tau_d = rng.uniform(0.5, 5, n)
    t = rng.uniform(0.1, 50, n)
    i_prec = rng.uniform(1.1, 6, n)
    got = mtj.wer_precessional(delta, i_prec, t, tau_d)
    want = [naive.wer_precessional(*args) for args in zip(delta, i_prec, t, tau_d)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    beta = rng.uniform(1, 2, n)
    i_th = rng.uniform(0, 0.5, n)
    tau0 = rng.uniform(0.5, 2, n)
    got = mtj.thermal_switching_probability(delta, i_th, t, tau0, beta)
    want = [naive.thermal_switching(*args) for args in zip(delta, i_th, t, tau0, beta)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)
    residence = rng.uniform(0, 1e15, n)
    p = dataclasses.replace(mtj.load_default(), delta=45.0)
    got = mtj.retention_failure_probability(p, residence)
    np.testing.assert_allclose(got, [naive.retention(45.0, r, p.tau0_ns) for r in residence], rtol=1e-12, atol=0)


def test_currents_energies_and_read_disturb_match_naive(params):
    for v in (0.3, 0.9, 1.2):
        for direction, r in (("p2ap", params.r_p_ohm), ("ap2p", params.r_ap_ohm)):
            current = mtj.write_current_ua(params, v, direction)
            assert current == pytest.approx(naive.current_ua(v, r, params.r_access_ohm), rel=1e-14)
            supply = mtj.write_energy_pj_per_bit(params, v, 10.0, direction)
            device = mtj.write_energy_mtj_pj_per_bit(params, v, 10.0, direction)
            assert supply == pytest.approx(v * current * 1e-6 * 10e-9 * 1e12, rel=1e-14)
            assert device == pytest.approx((current * 1e-6) ** 2 * r * 10e-9 * 1e12, rel=1e-14)
            assert device < supply
    i_read = mtj.read_current_ua(params, 0.1, "p") / params.ic0_p2ap_ua
    got = mtj.read_disturb_probability(params, 0.1, 2.0)
    assert got == pytest.approx(naive.thermal_switching(params.delta, i_read, 2.0, params.tau0_ns, params.beta), rel=1e-10)
    mean_current = 0.5 * (mtj.read_current_ua(params, 0.1, "p") + mtj.read_current_ua(params, 0.1, "ap"))
    assert mtj.read_energy_pj_per_bit(params, 0.1, 2.0) == pytest.approx(0.1 * mean_current * 1e-6 * 2e-9 * 1e12, rel=1e-12)


def test_beta_changes_read_disturb_by_orders_of_magnitude(params):
    linear = mtj.read_disturb_probability(params, 0.1, 2.0)
    quadratic = mtj.read_disturb_probability(dataclasses.replace(params, beta=2.0), 0.1, 2.0)
    assert quadratic / linear > 1e2


def test_tiny_probabilities_do_not_round_to_zero(params):
    p_ret = mtj.retention_failure_probability(params, 1.0)
    assert p_ret == pytest.approx(math.exp(-60.0), rel=1e-12)  # ~8.8e-27
    wer = mtj.wer_precessional(60.0, 3.0, 25.0, params.tau_d_ns)
    assert 0 < wer < 1e-18
    assert wer == pytest.approx(math.pi**2 * 15 * math.exp(-4 * 25.0 / params.tau_d_ns), rel=1e-12)
    assert 0 < mtj.read_disturb_probability(params, 0.05, 1.0) < 1e-19
    # far below Ic0 for a very long pulse the closed-form WER (no switch) is tiny, not 0
    long_wer = mtj.write_error_rate(dataclasses.replace(params, delta=20.0), 0.05, 1e10, "ap2p", method="closed_form")
    assert 0 < long_wer < 1e-20


@pytest.mark.parametrize("i", [1.0, 1.05, 0.99, 0.5])
def test_precessional_form_refuses_points_below_its_range(i):
    with pytest.raises(UserError, match="i_over_ic0"):
        mtj.wer_precessional(60.0, np.array([3.0, i]), 10.0, 2.05)


@pytest.mark.parametrize("delta, i, beta", [(60.0, 0.95, 1.0), (60.0, 1.2, 1.0), (60.0, 0.8, 2.0), (20.0, 0.88, 1.0)])
def test_thermal_form_refuses_points_outside_its_range(delta, i, beta):
    with pytest.raises(UserError, match="i_over_ic0"):
        mtj.thermal_switching_probability(delta, i, 10.0, 1.0, beta)


def test_write_error_rate_closed_form_gap_and_methods(params):
    v_gap = 1.0 * params.ic0_ap2p_ua * 1e-6 * (params.r_ap_ohm + params.r_access_ohm)
    with pytest.raises(UserError, match="v_write_v"):
        mtj.write_error_rate(params, v_gap, 10.0, "ap2p", method="closed_form")
    near_ic0 = mtj.write_error_rate(params, v_gap, 10.0, "ap2p")  # Fokker-Planck is valid there
    assert 0.0 < near_ic0 < 1.0
    v3 = 3 * params.ic0_ap2p_ua * 1e-6 * (params.r_ap_ohm + params.r_access_ohm)
    closed = mtj.write_error_rate(params, v3, 10.0, "ap2p", method="closed_form")
    assert closed == pytest.approx(mtj.wer_precessional(params.delta, 3.0, 10.0, params.tau_d_ns), rel=1e-9)
    fp = mtj.write_error_rate(params, v3, 10.0, "ap2p")
    assert 1.4 < closed / fp < 2.0
    # same voltage: P->AP starts from the lower R_P but needs 1.5x the current
    i_p2ap = mtj.write_current_ua(params, v3, "p2ap") / params.ic0_p2ap_ua
    ratio = (params.r_ap_ohm + params.r_access_ohm) / (params.r_p_ohm + params.r_access_ohm)
    assert i_p2ap == pytest.approx(3.0 * ratio * params.ic0_ap2p_ua / params.ic0_p2ap_ua, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(delta=st.floats(20, 100), i=st.floats(1.1, 6.0), t=st.floats(0.5, 40.0), dt=st.floats(0.1, 10.0))
def test_closed_form_wer_falls_with_pulse_and_current(delta, i, t, dt):
    base = mtj.wer_precessional(delta, i, t, 2.05)
    assert mtj.wer_precessional(delta, i, t + dt, 2.05) <= base
    assert mtj.wer_precessional(delta, i + 0.1 * dt, t, 2.05) <= base


@settings(max_examples=30, deadline=None)
@given(v=st.floats(0.03, 0.15), t=st.floats(0.5, 20.0))
def test_read_disturb_rises_with_voltage_and_time(v, t):
    p = mtj.load_default()
    base = mtj.read_disturb_probability(p, v, t)
    assert mtj.read_disturb_probability(p, v * 1.05, t) > base
    assert mtj.read_disturb_probability(p, v, t * 1.5) > base


def test_write_error_rate_falls_with_pulse_and_voltage(params):
    v = np.array([0.5, 0.7, 0.9, 1.1])
    wers = [mtj.write_error_rate(params, float(x), 10.0, "ap2p") for x in v]
    assert all(a > b for a, b in zip(wers, wers[1:]))
    by_pulse = mtj.write_error_rate(params, 0.9, np.array([2.0, 5.0, 10.0, 20.0]), "ap2p")
    assert np.all(np.diff(by_pulse) < 0)


@pytest.mark.parametrize("key, value", [
    ("delta", -5.0), ("delta", 0.0), ("ic0_p2ap_ua", 0.0), ("tmr", -0.1), ("alpha", 2.0),
    ("temperature_k", "hot"), ("beta", 3.0), ("r_access_ohm", -1.0), ("read_direction", "up"),
])
def test_from_dict_rejects_bad_values_naming_the_key(key, value):
    data = dataclasses.asdict(mtj.load_default()) | {key: value}
    with pytest.raises(UserError, match=rf"memories\.spm\.mtj: {key} = .*must be"):
        mtj.MTJParams.from_dict(data, where="memories.spm.mtj")


def test_from_dict_rejects_unknown_and_missing_keys():
    data = dataclasses.asdict(mtj.load_default())
    with pytest.raises(UserError, match="unknown key 'deltaa'"):
        mtj.MTJParams.from_dict(data | {"deltaa": 1.0})
    del data["r_p_ohm"]
    with pytest.raises(UserError, match="missing key 'r_p_ohm'"):
        mtj.MTJParams.from_dict(data)


def test_load_default_reports_the_file(tmp_path):
    bad = tmp_path / "mtj.yaml"
    bad.write_text(mtj.DEFAULT_CONFIG.read_text().replace("delta: 60.0", "delta: -60.0"))
    with pytest.raises(UserError, match=r"mtj\.yaml: delta = -60\.0"):
        mtj.load_default(bad)


@pytest.mark.parametrize("call", [
    lambda p: mtj.write_error_rate(p, 0.9, 0.0, "ap2p"),
    lambda p: mtj.write_error_rate(p, 0.9, -1.0, "ap2p", method="closed_form"),
    lambda p: mtj.write_energy_pj_per_bit(p, 0.9, 0.0, "p2ap"),
    lambda p: mtj.read_disturb_probability(p, 0.1, 0.0),
])
def test_zero_or_negative_durations_are_refused(params, call):
    with pytest.raises(UserError, match=r"(pulse_ns|t_read_ns) = "):
        call(params)


def test_bad_direction_method_and_residence(params):
    with pytest.raises(UserError, match="direction = 'up'"):
        mtj.write_current_ua(params, 0.9, "up")
    with pytest.raises(UserError, match="method = 'spice'"):
        mtj.write_error_rate(params, 0.9, 10.0, "ap2p", method="spice")
    with pytest.raises(UserError, match="residence_ns = -1.0"):
        mtj.retention_failure_probability(params, np.array([1.0, -1.0]))


def test_direct_construction_is_validated_too(params):
    with pytest.raises(UserError, match=r"MTJParams: beta = 3\.0"):
        dataclasses.replace(params, beta=3.0)

"""Fokker-Planck WER: against a dense reference, convergence, thermal escape, closed-form ratios."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_mtj as naive
from models import fokker_planck as fp
from models import mtj
from models.errors import UserError

TAU_D = 2.0533  # ns, the default parameter set's τD


def test_kernel_matches_dense_reference():
    """Same scheme, dense numpy assembly and solves: the fast kernel must agree to round-off
    (1e-6 is the difference of the two initial-mass quadratures on a 40-cell grid)."""
    a, m0 = naive.fp_generator(8.0, 1.5, 40)
    z_edge, sin2, z_mid, width = fp._grid(40)
    up, down = fp._rates(8.0, 1.5, sin2, z_mid, width)
    a_fast = np.diag(-(up + down)) + np.diag(up[:-1], -1) + np.diag(down[1:], 1)
    np.testing.assert_allclose(a_fast, a, rtol=0, atol=1e-12 * np.abs(a).max())
    for tau in (0.5, 2.0):
        dense = naive.fp_trbdf2(a, m0, tau, 100)
        fast = fp.wer_point(8.0, 1.5, tau, 40, tau / 100)
        assert fast == pytest.approx(dense, rel=1e-6)


def test_time_integration_is_second_order():
    """Against the exact-in-time solution of the same 40-cell system: halving the step cuts the
    error by ~4."""
    a, m0 = naive.fp_generator(8.0, 2.0, 40)
    tau = 2.0
    exact = naive.fp_exact_in_time(a, m0, tau)
    errors = [abs(naive.fp_trbdf2(a, m0, tau, n) - exact) for n in (10, 20, 40)]
    assert 3.0 < errors[0] / errors[1] < 5.0
    assert 3.0 < errors[1] / errors[2] < 5.0


@pytest.mark.parametrize("delta, i, t_pw", [(60.0, 3.0, 20.0), (40.0, 1.5, 20.0)])
def test_step_halving_converges_in_space_and_time(delta, i, t_pw):
    """Halving the cell size or the time step changes the WER less each time (second order), and
    the default resolution is within 1% of the finest, also at WER ~1e-15."""
    space = [fp.wer(delta, i, t_pw, TAU_D, n_cells=n, step_tau=0.005) for n in (300, 600, 1200)]
    time_ = [fp.wer(delta, i, t_pw, TAU_D, n_cells=600, step_tau=h) for h in (0.04, 0.02, 0.01)]
    for values in (space, time_):
        d1 = abs(values[1] - values[0])
        d2 = abs(values[2] - values[1])
        assert d2 < 0.4 * d1  # ~0.25 for second order
    finest = fp.wer(delta, i, t_pw, TAU_D, n_cells=1200, step_tau=0.0025)
    assert fp.wer(delta, i, t_pw, TAU_D) == pytest.approx(finest, rel=0.01)


def test_tiny_wer_survives():
    value = fp.wer(60.0, 3.0, 30.0, TAU_D)
    closed = mtj.wer_precessional(60.0, 3.0, 30.0, TAU_D)
    assert 0.0 < value < 1e-20
    assert 1.3 < closed / value < 2.0


def _mean_first_passage(delta, i, n=200_001):
    """Exact mean first-passage time (units of τD) from z = 1 to z = 0 for this FP equation:
    T = ∫_0^1 dy e^{φ(y)}/D(y) ∫_y^1 e^{−φ(x)} dx, φ = Δ(2iz − z²), D = (1 − z²)/(2Δ)."""
    y = np.linspace(0.0, 1.0, n)
    phi = delta * (2 * i * y - y * y)
    shift = phi.min()
    w = np.exp(-(phi - shift))
    seg = 0.5 * (w[1:] + w[:-1]) * np.diff(y)
    inner = np.append(np.cumsum(seg[::-1])[::-1], 0.0)
    integrand = np.empty(n)
    integrand[:-1] = np.exp(phi[:-1] - shift) * inner[:-1] * 2 * delta / (1 - y[:-1] ** 2)
    integrand[-1] = np.exp(phi[-1] - shift) * w[-1] * delta  # (1 − y)/(1 − y²) -> 1/2
    return float(np.sum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(y)))


def test_thermal_regime_matches_exact_escape_time():
    """Below Ic0 (barrier Δ(1 − i)² = 10) switching is Poissonian at the exact first-passage rate."""
    delta, i = 40.0, 0.5
    t_mean = _mean_first_passage(delta, i)
    tau = 0.2 * t_mean
    switched = 1.0 - fp.wer(delta, i, tau * TAU_D, TAU_D, n_cells=300, step_tau=0.2)
    assert switched == pytest.approx(-math.expm1(-tau / t_mean), rel=0.01)


@pytest.mark.parametrize("i, t_pw, low, high", [
    (3.0, 5.0, 1.4, 2.0),     # device.md: ~1.6x at i = 3
    (3.0, 20.0, 1.4, 2.0),
    (2.0, 10.0, 3.0, 5.0),    # 3-5x at i = 2
    (2.0, 20.0, 3.0, 5.0),
    (1.5, 20.0, 10.0, 22.0),  # 10-22x at i = 1.5
    (1.5, 40.0, 10.0, 22.0),
    (1.2, 40.0, 50.0, 300.0),  # up to ~190x at i = 1.2
])
def test_closed_form_overestimates_by_known_ratio(i, t_pw, low, high):
    ratio = mtj.wer_precessional(60.0, i, t_pw, TAU_D) / fp.wer(60.0, i, t_pw, TAU_D)
    assert low < ratio < high


@settings(max_examples=15, deadline=None)
@given(delta=st.floats(20.0, 80.0), i=st.floats(0.5, 4.0), t1=st.floats(1.0, 20.0), factor=st.floats(1.2, 2.0))
def test_wer_falls_with_pulse_width(delta, i, t1, factor):
    """Strictly where the switched fraction is above round-off (WER < 1 − 1e-12)."""
    short, long_ = fp.wer(delta, i, [t1, t1 * factor], TAU_D, n_cells=200, step_tau=0.02)
    assert 0.0 <= long_ <= short + 1e-13 and short <= 1.0 + 1e-13
    if long_ < 1 - 1e-12:
        assert long_ < short


@settings(max_examples=15, deadline=None)
@given(delta=st.floats(20.0, 80.0), i=st.floats(0.5, 4.0), factor=st.floats(1.1, 1.5), t=st.floats(2.0, 20.0))
def test_wer_falls_with_current(delta, i, factor, t):
    low_i, high_i = fp.wer(delta, [i, i * factor], t, TAU_D, n_cells=200, step_tau=0.02)
    assert high_i <= low_i + 1e-13
    if high_i < 1 - 1e-12:
        assert high_i < low_i


def test_vectorised_shape():
    out = fp.wer(60.0, np.array([[2.0], [3.0]]), np.array([5.0, 10.0, 20.0]), TAU_D, n_cells=100)
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(fp.wer(60.0, 3.0, 20.0, TAU_D, n_cells=100), rel=1e-14)
    assert isinstance(fp.wer(60.0, 3.0, 5.0, TAU_D, n_cells=100), float)


@pytest.mark.parametrize("kwargs, name", [
    (dict(delta=-1.0), "delta"), (dict(i_over_ic0=-0.5), "i_over_ic0"), (dict(t_pw_ns=0.0), "t_pw_ns"),
    (dict(tau_d_ns=0.0), "tau_d_ns"), (dict(n_cells=101), "n_cells"), (dict(step_tau=0.0), "step_tau"),
    (dict(t_pw_ns=1e6), "t_pw_ns/tau_d_ns"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = dict(delta=60.0, i_over_ic0=2.0, t_pw_ns=5.0, tau_d_ns=TAU_D) | kwargs
    with pytest.raises(UserError, match=f"{name} = "):
        fp.wer(**args)

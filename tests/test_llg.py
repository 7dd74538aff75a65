"""Stochastic LLG Monte Carlo: agreement with Fokker-Planck, step halving, determinism, references."""

import math

import numba
import numpy as np
import pytest

import naive_mtj as naive
from models import fokker_planck as fp
from models import llg
from models.errors import UserError

Z_999 = 3.2905  # two-sided 99.9%: seven comparisons in one test stay below a 1% false-alarm rate
FAST_ALPHA = 0.1  # results in t/τD do not depend on α (checked below); 0.1 needs 10x fewer steps


def _agrees(result, n, expected):
    wer, _, _ = result
    low, high = llg.wilson_interval(round(wer * n), n, z=Z_999)
    return low <= expected <= high


@pytest.mark.parametrize("delta, i, tau", [
    (20.0, 1.5, 4.0), (20.0, 2.0, 3.0), (20.0, 3.0, 1.5),
    (40.0, 2.0, 3.0), (40.0, 3.0, 1.5), (40.0, 3.0, 2.0), (40.0, 1.5, 5.0),
])
def test_monte_carlo_agrees_with_fokker_planck(delta, i, tau):
    n = 4000
    expected = fp.wer(delta, i, tau, 1.0)
    result = llg.wer_monte_carlo(delta, i, tau, 1.0, n, seed=11, alpha=FAST_ALPHA)
    assert 0.01 < expected < 0.5  # measurable with n trajectories
    assert result[1] <= result[0] <= result[2]
    assert _agrees(result, n, expected), (result, expected)


def test_result_does_not_depend_on_alpha():
    """The device's α = 0.01 (2000 steps per τD) against Fokker-Planck at one point."""
    n = 1500
    expected = fp.wer(20.0, 2.0, 2.0, 1.0)
    result = llg.wer_monte_carlo(20.0, 2.0, 2.0, 1.0, n, seed=5, alpha=0.01)
    assert _agrees(result, n, expected), (result, expected)


def test_halving_the_step_does_not_move_the_wer():
    """dτ' = 0.05 against 0.025: the difference is within 3.3 binomial standard deviations of the
    two independent estimates, and both match Fokker-Planck."""
    n = 4000
    expected = fp.wer(20.0, 2.0, 3.0, 1.0)
    coarse = llg.wer_monte_carlo(20.0, 2.0, 3.0, 1.0, n, seed=21, alpha=FAST_ALPHA, dt_reduced=0.05)[0]
    fine = llg.wer_monte_carlo(20.0, 2.0, 3.0, 1.0, n, seed=22, alpha=FAST_ALPHA, dt_reduced=0.025)[0]
    sigma = math.sqrt(2 * expected * (1 - expected) / n)
    assert abs(coarse - fine) < Z_999 * sigma
    assert abs(fine - expected) < Z_999 * sigma / math.sqrt(2)


def test_deterministic_for_a_seed_whatever_the_thread_count():
    seeds = np.arange(1, 301, dtype=np.uint64)
    n_steps, dt = llg.step_count(2.0, 1.0, FAST_ALPHA, 0.05)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = llg.final_mz(20.0, 2.0, n_steps, dt, FAST_ALPHA, seeds)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = llg.final_mz(20.0, 2.0, n_steps, dt, FAST_ALPHA, seeds)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(one, many)
    a = llg.wer_monte_carlo(20.0, 2.0, 2.0, 1.0, 500, seed=3, alpha=FAST_ALPHA)
    b = llg.wer_monte_carlo(20.0, 2.0, 2.0, 1.0, 500, seed=np.random.default_rng(3), alpha=FAST_ALPHA)
    c = llg.wer_monte_carlo(20.0, 2.0, 2.0, 1.0, 500, seed=4, alpha=FAST_ALPHA)
    assert a == b
    assert a != c


def test_kernel_matches_naive_trajectory():
    """Same random stream, numpy cross products and a pure-Python xoshiro256**."""
    for seed in (1, 987654321, 2**63 + 5):
        want = naive.llg_trajectory(10.0, 2.0, 40, 0.05, 0.1, seed)
        got = llg.final_mz(10.0, 2.0, 40, 0.05, 0.1, np.array([seed], dtype=np.uint64))[0]
        assert got == pytest.approx(want, abs=1e-12)


def test_initial_states_follow_the_boltzmann_distribution():
    delta, n = 10.0, 20000
    state = llg._seed_state(np.uint64(99))
    z = np.array([llg._initial_state(delta, state)[2] for _ in range(n)])
    grid = np.linspace(0.0, 1.0, 20001)
    weight = np.exp(delta * (grid**2 - 1))
    mean = np.trapezoid(grid * weight, grid) / np.trapezoid(weight, grid)
    std = math.sqrt(np.trapezoid((grid - mean) ** 2 * weight, grid) / np.trapezoid(weight, grid))
    assert np.all((z >= 0) & (z <= 1))
    assert abs(z.mean() - mean) < 4 * std / math.sqrt(n)
    for edge in (0.8, 0.9, 0.97):
        expected = np.trapezoid(weight[grid >= edge], grid[grid >= edge]) / np.trapezoid(weight, grid)
        assert abs(np.mean(z >= edge) - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_wilson_interval_known_values():
    low, high = llg.wilson_interval(10, 100)
    assert low == pytest.approx(0.05523, abs=1e-4)
    assert high == pytest.approx(0.17437, abs=1e-4)
    assert llg.wilson_interval(0, 50)[0] == 0.0
    assert llg.wilson_interval(50, 50)[1] == 1.0


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0), "n"), (dict(delta=-1.0), "delta"), (dict(t_pw_ns=0.0), "t_pw_ns"),
    (dict(alpha=0.0), "alpha"), (dict(dt_reduced=1.0), "dt_reduced"), (dict(i_over_ic0=-1.0), "i_over_ic0"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = dict(delta=20.0, i_over_ic0=2.0, t_pw_ns=2.0, tau_d_ns=1.0, n=10, seed=1) | kwargs
    with pytest.raises(UserError, match=f"{name} = "):
        llg.wer_monte_carlo(**args)

"""Stochastic macrospin LLG with spin-transfer or spin-orbit torque: Monte Carlo write error rate.

Reduced units: field h = H/Hk (easy axis ẑ, so the anisotropy field is m_z ẑ), time τ' = γ μ0 Hk t.
Landau-Lifshitz form of the Gilbert equation with Slonczewski's damping-like torque (polariser p = ẑ,
angle-independent efficiency, i = I/Ic0):

    (1 + α²) dm/dτ' = −m × h − α m × (m × h) + α i [m × (m × p) − α m × p],   h = m_z ẑ + h_th.

The torque pushes m away from +ẑ; m_z then obeys dz/dτ = (1 − z²)(z − i) with τ = t/τD, the drift of
models/fokker_planck.py, and the critical current is i = 1.  The thermal field h_th is Gaussian,
independent per component and step, with standard deviation sqrt(α/(Δ dτ')) (Brown; device.md),
i.e. sqrt(2 α kB T / (γ Ms V dt)) in tesla, which gives the Boltzmann state ∝ exp(Δ m_z²).
Integration: stochastic Heun (Stratonovich), the same thermal field in predictor and corrector,
|m| renormalised after each step.  Initial states are drawn from ∝ exp(Δ cos²θ) on the upper
hemisphere (starting on the axis gives the wrong WER).  WER = fraction with m_z > 0 at the end.

In units of t/τD the result does not depend on α (the axially symmetric problem's m_z dynamics
does not see the precession); α only sets how many reduced steps a pulse takes, so a larger α than
the device's is a legitimate speed-up (tests/test_llg.py checks the independence).

`wer_monte_carlo_sot` adds a damping-like spin-orbit torque with any spin polarisation and the
easy-plane demagnetising field of an in-plane film (see `_rhs_sot`); models/sot.py validates its
closed forms against it.

Each trajectory has its own xoshiro256** stream seeded from a numpy Generator, so results are
identical for a seed whatever the thread count.
"""

import math

import numpy as np
from numba import njit, prange

from models.errors import UserError

DEFAULT_ALPHA = 0.01
DEFAULT_DT_REDUCED = 0.05
_Z95 = 1.959963984540054
_TWO_PI = 2.0 * math.pi


@njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def _splitmix64(x):
    """One splitmix64 step (Vigna): returns (new state, output)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


@njit(cache=True)
def _seed_state(seed):
    s = np.empty(4, dtype=np.uint64)
    x = np.uint64(seed)
    for k in range(4):
        x, s[k] = _splitmix64(x)
    return s


@njit(cache=True)
def _next_uniform(s):
    """xoshiro256** (Blackman & Vigna); a double in [0, 1) from the top 53 bits."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return float(result >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _normal_pair(s):
    """Two independent standard normals (Marsaglia's polar method)."""
    while True:
        u = 2.0 * _next_uniform(s) - 1.0
        v = 2.0 * _next_uniform(s) - 1.0
        r2 = u * u + v * v
        if 0.0 < r2 < 1.0:
            break
    f = math.sqrt(-2.0 * math.log(r2) / r2)
    return u * f, v * f


@njit(cache=True)
def _initial_state(delta, s):
    """Draw m with density ∝ exp(Δ z²) in z ∈ [0, 1] (uniform azimuth).

    With u = 1 − z the target is ∝ exp(−Δ u (2 − u)); proposal u ~ Exp(Δ) truncated to [0, 1],
    accepted with probability exp(−Δ u (1 − u)) ≤ 1 (about half the proposals are accepted)."""
    span = -math.expm1(-delta)
    while True:
        u = -math.log1p(-_next_uniform(s) * span) / delta
        if _next_uniform(s) < math.exp(-delta * u * (1.0 - u)):
            break
    z = 1.0 - u
    r = math.sqrt(max(0.0, u * (2.0 - u)))
    phi = _TWO_PI * _next_uniform(s)
    return r * math.cos(phi), r * math.sin(phi), z


@njit(cache=True)
def _rhs(mx, my, mz, hx, hy, hz, alpha, spin_torque, inv):
    """dm/dτ' of the module docstring; spin_torque = α i; inv = 1/(1 + α²)."""
    hz = hz + mz
    ax = my * hz - mz * hy  # m × h
    ay = mz * hx - mx * hz
    az = mx * hy - my * hx
    bx = my * az - mz * ay  # m × (m × h)
    by = mz * ax - mx * az
    bz = mx * ay - my * ax
    # m × p = (m_y, −m_x, 0); m × (m × p) = (m_z m_x, m_z m_y, −(m_x² + m_y²))
    fx = -ax - alpha * bx + spin_torque * (mz * mx - alpha * my)
    fy = -ay - alpha * by + spin_torque * (mz * my + alpha * mx)
    fz = -az - alpha * bz - spin_torque * (mx * mx + my * my)
    return fx * inv, fy * inv, fz * inv


@njit(cache=True)
def _trajectory(delta, i_over_ic0, n_steps, dt, alpha, seed):
    """Final m_z of one trajectory (stochastic Heun, renormalised)."""
    s = _seed_state(seed)
    mx, my, mz = _initial_state(delta, s)
    sigma = math.sqrt(alpha / (delta * dt))
    spin_torque = alpha * i_over_ic0
    inv = 1.0 / (1.0 + alpha * alpha)
    spare = 0.0
    have_spare = False
    for _ in range(n_steps):
        g1, g2 = _normal_pair(s)
        if have_spare:
            g3 = spare
            have_spare = False
        else:
            g3, spare = _normal_pair(s)
            have_spare = True
        hx = sigma * g1
        hy = sigma * g2
        hz = sigma * g3
        k1x, k1y, k1z = _rhs(mx, my, mz, hx, hy, hz, alpha, spin_torque, inv)
        px = mx + dt * k1x
        py = my + dt * k1y
        pz = mz + dt * k1z
        k2x, k2y, k2z = _rhs(px, py, pz, hx, hy, hz, alpha, spin_torque, inv)
        mx += 0.5 * dt * (k1x + k2x)
        my += 0.5 * dt * (k1y + k2y)
        mz += 0.5 * dt * (k1z + k2z)
        norm = 1.0 / math.sqrt(mx * mx + my * my + mz * mz)
        mx *= norm
        my *= norm
        mz *= norm
    return mz


@njit(cache=True, parallel=True)
def final_mz(delta, i_over_ic0, n_steps, dt, alpha, seeds):
    """Final m_z of len(seeds) trajectories, one independent random stream per trajectory."""
    out = np.empty(seeds.size)
    for k in prange(seeds.size):
        out[k] = _trajectory(delta, i_over_ic0, n_steps, dt, alpha, seeds[k])
    return out


@njit(cache=True)
def _rhs_sot(mx, my, mz, hx, hy, hz, alpha, a_dl, sx, sy, sz, h_demag, inv):
    """dm/dτ' with a damping-like spin-orbit torque of amplitude a_dl = H_DL/Hk along the spin
    polarisation σ = (sx, sy, sz), and an easy-plane (thin-film demagnetising) field −h_demag m_x x̂
    (h_demag = Meff/Hk; the film normal is x̂, the in-plane easy axis ẑ):

        (1 + α²) dm/dτ' = −m × h − α m × (m × h) + a_dl [m × (m × σ) − α m × σ],
        h = m_z ẑ − h_demag m_x x̂ + h_th.
    """
    hx = hx - h_demag * mx
    hz = hz + mz
    ax = my * hz - mz * hy  # m × h
    ay = mz * hx - mx * hz
    az = mx * hy - my * hx
    bx = my * az - mz * ay  # m × (m × h)
    by = mz * ax - mx * az
    bz = mx * ay - my * ax
    cx = my * sz - mz * sy  # m × σ
    cy = mz * sx - mx * sz
    cz = mx * sy - my * sx
    dot = mx * sx + my * sy + mz * sz  # m × (m × σ) = m (m·σ) − σ
    fx = -ax - alpha * bx + a_dl * (mx * dot - sx - alpha * cx)
    fy = -ay - alpha * by + a_dl * (my * dot - sy - alpha * cy)
    fz = -az - alpha * bz + a_dl * (mz * dot - sz - alpha * cz)
    return fx * inv, fy * inv, fz * inv


@njit(cache=True)
def _initial_state_demag(delta, h_demag, s):
    """m ∝ exp(Δ (m_z² − h_demag m_x²)) on the upper hemisphere: the uniaxial draw, accepted with
    probability exp(−Δ h_demag m_x²) ≤ 1."""
    while True:
        mx, my, mz = _initial_state(delta, s)
        if _next_uniform(s) < math.exp(-delta * h_demag * mx * mx):
            return mx, my, mz


@njit(cache=True)
def _trajectory_sot(delta, a_dl, sx, sy, sz, h_demag, n_steps, dt, alpha, seed):
    """Final m_z of one SOT trajectory (stochastic Heun, renormalised), as `_trajectory`."""
    s = _seed_state(seed)
    mx, my, mz = _initial_state_demag(delta, h_demag, s)
    sigma = math.sqrt(alpha / (delta * dt))
    inv = 1.0 / (1.0 + alpha * alpha)
    spare = 0.0
    have_spare = False
    for _ in range(n_steps):
        g1, g2 = _normal_pair(s)
        if have_spare:
            g3 = spare
            have_spare = False
        else:
            g3, spare = _normal_pair(s)
            have_spare = True
        hx = sigma * g1
        hy = sigma * g2
        hz = sigma * g3
        k1x, k1y, k1z = _rhs_sot(mx, my, mz, hx, hy, hz, alpha, a_dl, sx, sy, sz, h_demag, inv)
        px = mx + dt * k1x
        py = my + dt * k1y
        pz = mz + dt * k1z
        k2x, k2y, k2z = _rhs_sot(px, py, pz, hx, hy, hz, alpha, a_dl, sx, sy, sz, h_demag, inv)
        mx += 0.5 * dt * (k1x + k2x)
        my += 0.5 * dt * (k1y + k2y)
        mz += 0.5 * dt * (k1z + k2z)
        norm = 1.0 / math.sqrt(mx * mx + my * my + mz * mz)
        mx *= norm
        my *= norm
        mz *= norm
    return mz


@njit(cache=True, parallel=True)
def final_mz_sot(delta, a_dl, sx, sy, sz, h_demag, n_steps, dt, alpha, seeds):
    out = np.empty(seeds.size)
    for k in prange(seeds.size):
        out[k] = _trajectory_sot(delta, a_dl, sx, sy, sz, h_demag, n_steps, dt, alpha, seeds[k])
    return out


def wer_monte_carlo_sot(delta, a_dl_over_hk, t_pw_ns, t_k_ns, n, seed, h_demag=0.0, polarization=(0.0, 0.0, 1.0),
                        alpha=DEFAULT_ALPHA, dt_reduced=DEFAULT_DT_REDUCED):
    """Monte Carlo WER of a spin-orbit-torque write -> (wer, ci_low, ci_high), 95% Wilson interval.

    a_dl_over_hk: damping-like SOT field over the anisotropy field, H_DL/Hk; t_k_ns = 1/(γ μ0 Hk), the
    reduced time unit; h_demag = Meff/Hk (0: no easy-plane term); polarization σ (unit vector; ẑ is
    the easy axis, so σ = ẑ is the collinear "type-y" geometry). The cell starts near +ẑ; an error
    is a final m_z > 0. The step is dt_reduced / (1 + h_demag), as the demagnetising field speeds
    up the precession.
    """
    where = "models.llg.wer_monte_carlo_sot"
    norm = math.sqrt(sum(float(c) ** 2 for c in polarization))
    for name, value, ok, accepted in (
        ("delta", delta, 0 < delta <= 200, "0 < delta <= 200"),
        ("a_dl_over_hk", a_dl_over_hk, 0 <= a_dl_over_hk < 1e3, "0 <= a_dl_over_hk < 1000"),
        ("t_pw_ns", t_pw_ns, 0 < t_pw_ns < math.inf, "finite, > 0"),
        ("t_k_ns", t_k_ns, 0 < t_k_ns < math.inf, "finite, > 0"),
        ("n", n, int(n) == n and n >= 1, "an integer >= 1"),
        ("h_demag", h_demag, 0 <= h_demag <= 1e3, "0 <= h_demag <= 1000"),
        ("polarization", polarization, abs(norm - 1.0) < 1e-9, "a unit vector"),
        ("alpha", alpha, 0 < alpha <= 1, "0 < alpha <= 1"),
        ("dt_reduced", dt_reduced, 0 < dt_reduced <= 0.5, "0 < dt_reduced <= 0.5"),
    ):
        if not ok:
            raise UserError(f"{where}: {name} = {value!r} (must be {accepted})")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    seeds = rng.integers(0, np.iinfo(np.int64).max, size=int(n), dtype=np.int64).astype(np.uint64)
    tau_reduced = t_pw_ns / t_k_ns
    n_steps = max(1, math.ceil(tau_reduced * (1.0 + h_demag) / dt_reduced))
    sx, sy, sz = (float(c) for c in polarization)
    mz = final_mz_sot(float(delta), float(a_dl_over_hk), sx, sy, sz, float(h_demag), n_steps,
                      tau_reduced / n_steps, float(alpha), seeds)
    errors = int(np.count_nonzero(mz > 0.0))
    low, high = wilson_interval(errors, int(n))
    return errors / int(n), low, high


def wilson_interval(k, n, z=_Z95):
    """Wilson score interval for k successes out of n; z = 1.96 gives 95%."""
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def step_count(t_pw_ns, tau_d_ns, alpha, dt_reduced):
    """Heun steps for a pulse: τ' = (t/τD)(1 + α²)/α, split into equal steps no longer than dt_reduced."""
    tau_reduced = (t_pw_ns / tau_d_ns) * (1.0 + alpha * alpha) / alpha
    n_steps = max(1, math.ceil(tau_reduced / dt_reduced))
    return n_steps, tau_reduced / n_steps


def wer_monte_carlo(delta, i_over_ic0, t_pw_ns, tau_d_ns, n, seed, alpha=DEFAULT_ALPHA, dt_reduced=DEFAULT_DT_REDUCED):
    """Monte Carlo WER over n trajectories -> (wer, ci_low, ci_high), a 95% Wilson interval.

    Deterministic for `seed` (an int or a numpy Generator).  dt_reduced is the step in units of
    1/(γ μ0 Hk): 0.05 is unbiased (device.md), 0.2 is not.
    """
    where = "models.llg.wer_monte_carlo"
    for name, value, ok, accepted in (
        ("delta", delta, 0 < delta <= 200, "0 < delta <= 200"),
        ("i_over_ic0", i_over_ic0, 0 <= i_over_ic0 < 1e3, "0 <= i_over_ic0 < 1000"),
        ("t_pw_ns", t_pw_ns, 0 < t_pw_ns < math.inf, "finite, > 0"),
        ("tau_d_ns", tau_d_ns, 0 < tau_d_ns < math.inf, "finite, > 0"),
        ("n", n, int(n) == n and n >= 1, "an integer >= 1"),
        ("alpha", alpha, 0 < alpha <= 1, "0 < alpha <= 1"),
        ("dt_reduced", dt_reduced, 0 < dt_reduced <= 0.5, "0 < dt_reduced <= 0.5"),
    ):
        if not ok:
            raise UserError(f"{where}: {name} = {value!r} (must be {accepted})")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    seeds = rng.integers(0, np.iinfo(np.int64).max, size=int(n), dtype=np.int64).astype(np.uint64)
    n_steps, dt = step_count(t_pw_ns, tau_d_ns, alpha, dt_reduced)
    mz = final_mz(float(delta), float(i_over_ic0), n_steps, dt, float(alpha), seeds)
    errors = int(np.count_nonzero(mz > 0.0))
    low, high = wilson_interval(errors, int(n))
    return errors / int(n), low, high

"""Macrospin Fokker-Planck write error rate of a perpendicular MTJ under spin-transfer torque.

The density ρ(z, τ) of z = cos θ (θ from the initial easy-axis direction, τ = t/τD) obeys
(reference/device.md of the design notes; Butler et al., IEEE TMAG 48, 4684 (2012))

    ∂ρ/∂τ = ∂/∂z [ (1 − z²)(i − z) ρ + (1/(2Δ)) (1 − z²) ∂ρ/∂z ],

with i = I/Ic0, ρ(z, 0) ∝ exp(Δ z²) on the initial hemisphere z > 0, and zero flux at z = ±1.
WER = mass still in z > 0 at τ = t_pw/τD.  The equation holds at any current, below Ic0 (thermal
escape over the barrier Δ(1 − i)², the β = 2 law of a uniaxial macrospin) and above it.

Discretisation (documented because the accuracy claims rest on it):
- finite volumes on a grid uniform in θ (cells cluster near the poles, where the initial and the
  final distributions are narrow), with an even cell count so that z = 0 is a cell edge;
- Scharfetter-Gummel fluxes written with the exact pseudo-potential φ(z) = Δ(2iz − z²), so that the
  discrete scheme keeps the Boltzmann state ∝ exp(−φ) exactly and stays upwind-stable at any Δ;
- TR-BDF2 in time (γ = 2 − √2: second order, L-stable, one tridiagonal factorisation per step size
  shared by both stages);
- the tridiagonal systems (I − c·A) are M-matrices with unit column sums, solved by a Thomas
  variant that never subtracts (the pivots are rebuilt from column sums, as in the
  Grassmann-Taksar-Heyman algorithm), so the solves keep tiny densities to full relative precision
  next to masses of order one (WERs of 1e-30 are resolved; near WER = 1 the switched fraction is
  resolved only above ~1e-13, the round-off of a sum of order one).
"""

import math

import numpy as np
from numba import njit, prange

from models.errors import UserError

_GAMMA = 2.0 - math.sqrt(2.0)
DEFAULT_N_CELLS = 600
DEFAULT_STEP_TAU = 0.01


@njit(cache=True)
def _bernoulli(x):
    """B(x) = x / (e^x − 1), with B(0) = 1; the Scharfetter-Gummel weight."""
    if x == 0.0:
        return 1.0
    return x / math.expm1(x)


@njit(cache=True)
def _grid(n_cells):
    """Cell edges uniform in θ from θ = π (z = −1) to θ = 0 (z = 1).

    Returns edge z, edge sin²θ (= 1 − z² without cancellation), cell-centre z (midpoint in θ) and
    cell widths in z (from the product formula for a cosine difference, exact near the poles).
    """
    dtheta = math.pi / n_cells
    theta_edge = np.empty(n_cells + 1)
    for k in range(n_cells + 1):
        theta_edge[k] = math.pi - k * dtheta
    z_edge = np.cos(theta_edge)
    z_edge[0] = -1.0
    z_edge[n_cells] = 1.0
    sin2_edge = np.sin(theta_edge) ** 2
    sin2_edge[0] = 0.0
    sin2_edge[n_cells] = 0.0
    z_centre = np.cos(theta_edge[:-1] - 0.5 * dtheta)
    width = np.empty(n_cells)
    for j in range(n_cells):
        width[j] = 2.0 * math.sin(theta_edge[j] - 0.5 * dtheta) * math.sin(0.5 * dtheta)
    return z_edge, sin2_edge, z_centre, width


@njit(cache=True)
def _rates(delta, i_over_ic0, sin2_edge, z_centre, width):
    """Transfer rates between neighbouring cells: dM/dτ = A M with A a generator (columns sum to 0).

    Flux across the edge between cells L and R (positive towards +z), Scharfetter-Gummel form:
        J = (D/dz)[B(φ_R − φ_L) ρ_L − B(φ_L − φ_R) ρ_R],  D = (1 − z²)/(2Δ),  φ = Δ(2iz − z²),
    with ρ = M/width.  Returns rate_up[j] (cell j to j+1) and rate_down[j] (cell j to j−1).
    """
    n = z_centre.size
    rate_up = np.zeros(n)
    rate_down = np.zeros(n)
    for k in range(1, n):
        zl = z_centre[k - 1]
        zr = z_centre[k]
        dphi = delta * (zr - zl) * (2.0 * i_over_ic0 - zr - zl)
        conductance = sin2_edge[k] / (2.0 * delta * (zr - zl))
        rate_up[k - 1] = conductance * _bernoulli(dphi) / width[k - 1]
        rate_down[k] = conductance * _bernoulli(-dphi) / width[k]
    return rate_up, rate_down


@njit(cache=True)
def _factor(c, rate_up, rate_down):
    """Elimination coefficients of (I − cA), computed without subtraction.

    Column sums of (I − cA) are 1, so the Schur-complement column sums obey
    s_j = 1 + c·rate_down[j]·s_{j−1}/p_{j−1} and the pivot is p_j = s_j + c·rate_up[j].
    Returns the forward multipliers c·rate_up[j−1]/p_{j−1}, the backward multipliers
    c·rate_down[j+1] and the reciprocal pivots.
    """
    n = rate_up.size
    inv_pivot = np.empty(n)
    forward = np.zeros(n)
    backward = np.zeros(n)
    s = 1.0
    inv_pivot[0] = 1.0 / (s + c * rate_up[0])
    for j in range(1, n):
        s = 1.0 + c * rate_down[j] * s * inv_pivot[j - 1]
        inv_pivot[j] = 1.0 / (s + c * rate_up[j])
        forward[j] = c * rate_up[j - 1] * inv_pivot[j - 1]
        backward[j - 1] = c * rate_down[j]
    return forward, backward, inv_pivot


@njit(cache=True)
def _solve(forward, backward, inv_pivot, rhs, out):
    """Solve (I − cA) x = rhs with the coefficients of `_factor`; additions only when rhs ≥ 0."""
    n = rhs.size
    acc = rhs[0]
    out[0] = acc
    for j in range(1, n):
        acc = rhs[j] + forward[j] * acc
        out[j] = acc
    acc = out[n - 1] * inv_pivot[n - 1]
    out[n - 1] = acc
    for j in range(n - 2, -1, -1):
        acc = (out[j] + backward[j] * acc) * inv_pivot[j]
        out[j] = acc


@njit(cache=True)
def _initial_mass(delta, z_edge):
    """Cell masses of ρ ∝ exp(Δ(z² − 1)) on z > 0, normalised (3-point Gauss-Legendre per cell)."""
    n = z_edge.size - 1
    mass = np.zeros(n)
    nodes = (-math.sqrt(0.6), 0.0, math.sqrt(0.6))
    weights = (5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0)
    total = 0.0
    for j in range(n // 2, n):
        half = 0.5 * (z_edge[j + 1] - z_edge[j])
        mid = 0.5 * (z_edge[j + 1] + z_edge[j])
        acc = 0.0
        for q in range(3):
            z = mid + half * nodes[q]
            acc += weights[q] * math.exp(-delta * (1.0 - z) * (1.0 + z))
        mass[j] = acc * half
        total += mass[j]
    for j in range(n // 2, n):
        mass[j] /= total
    return mass


@njit(cache=True)
def wer_point(delta, i_over_ic0, tau_end, n_cells, step_tau):
    """WER at one operating point: mass in z > 0 after τ_end = t_pw/τD (TR-BDF2, fixed steps)."""
    z_edge, sin2_edge, z_centre, width = _grid(n_cells)
    rate_up, rate_down = _rates(delta, i_over_ic0, sin2_edge, z_centre, width)
    mass = _initial_mass(delta, z_edge)
    # The WER decays as exp(−2(i − 1)τ) above Ic0: a step shrinking with that rate keeps the
    # relative error of tiny WERs independent of the current.
    h_max = step_tau * min(1.0, 2.0 / max(abs(i_over_ic0 - 1.0), 1e-300))
    n_steps = max(1, int(math.ceil(tau_end / h_max)))
    h = tau_end / n_steps
    c = 0.5 * _GAMMA * h
    forward, backward, inv_pivot = _factor(c, rate_up, rate_down)
    a2 = 1.0 / (_GAMMA * (2.0 - _GAMMA))
    b2 = (1.0 - _GAMMA) ** 2 / (_GAMMA * (2.0 - _GAMMA))
    rhs = np.empty(n_cells)
    stage = np.empty(n_cells)
    for _ in range(n_steps):
        for j in range(n_cells):
            flow = -(rate_up[j] + rate_down[j]) * mass[j]
            if j > 0:
                flow += rate_up[j - 1] * mass[j - 1]
            if j < n_cells - 1:
                flow += rate_down[j + 1] * mass[j + 1]
            rhs[j] = mass[j] + c * flow
        _solve(forward, backward, inv_pivot, rhs, stage)
        for j in range(n_cells):
            rhs[j] = a2 * stage[j] - b2 * mass[j]
        _solve(forward, backward, inv_pivot, rhs, mass)
    wer = 0.0
    for j in range(n_cells // 2, n_cells):
        wer += mass[j]
    return wer


@njit(cache=True, parallel=True)
def _wer_many(delta, i_over_ic0, tau_end, n_cells, step_tau):
    out = np.empty(delta.size)
    for k in prange(delta.size):
        out[k] = wer_point(delta[k], i_over_ic0[k], tau_end[k], n_cells, step_tau)
    return out


def wer(delta, i_over_ic0, t_pw_ns, tau_d_ns, n_cells=DEFAULT_N_CELLS, step_tau=DEFAULT_STEP_TAU):
    """Write error rate from the Fokker-Planck equation (vectorised; numpy broadcasting).

    delta: thermal stability Δ (> 0); i_over_ic0: I/Ic0 (≥ 0, any side of 1); t_pw_ns: pulse width;
    tau_d_ns: characteristic time τD = (1 + α²)/(α γ μ0 Hk); t_pw_ns/tau_d_ns <= 1e4.
    n_cells (even) and step_tau (largest step in t/τD; shortened above Ic0 in proportion to
    1/(i − 1)) set the resolution.  With the defaults the relative error is about 0.3% down to
    WER 1e-15 (Δ = 60, i = 3, 20 ns, against a grid 4x finer in space and time), a few ms per
    point; tests/test_fokker_planck.py checks second-order convergence by step halving.
    Returns a float for scalar input, else an array of the broadcast shape.
    """
    d, i, t, td = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (delta, i_over_ic0, t_pw_ns, tau_d_ns)))
    _check_inputs(d, i, t, td, n_cells, step_tau)
    out = _wer_many(d.ravel().copy(), i.ravel().copy(), (t / td).ravel().copy(), int(n_cells), float(step_tau))
    out = out.reshape(d.shape)
    return float(out) if out.ndim == 0 else out


def _check_inputs(d, i, t, td, n_cells, step_tau):
    for name, arr, ok, accepted in (
        ("delta", d, (d > 0) & (d <= 200), "0 < delta <= 200"),
        ("i_over_ic0", i, (i >= 0) & np.isfinite(i), "finite, >= 0"),
        ("t_pw_ns", t, (t > 0) & np.isfinite(t), "finite, > 0"),
        ("tau_d_ns", td, (td > 0) & np.isfinite(td), "finite, > 0"),
    ):
        if not np.all(ok):
            bad = arr[~ok].ravel()[0]
            raise UserError(f"models.fokker_planck.wer: {name} = {bad} (must be {accepted})")
    ratio = t / td
    if not np.all(ratio <= 1e4):
        raise UserError(f"models.fokker_planck.wer: t_pw_ns/tau_d_ns = {ratio[ratio > 1e4].ravel()[0]:.4g} (must be <= 1e4)")
    if n_cells < 4 or n_cells % 2:
        raise UserError(f"models.fokker_planck.wer: n_cells = {n_cells} (must be an even integer >= 4)")
    if not step_tau > 0:
        raise UserError(f"models.fokker_planck.wer: step_tau = {step_tau} (must be > 0)")

"""Slow, obviously-correct references for the device kernels (plain math / numpy, no Numba).

Used only by tests/test_mtj.py, tests/test_fokker_planck.py and tests/test_llg.py.
"""

import math

import numpy as np

# ---- closed forms, one point at a time ----------------------------------------------------------


def wer_precessional(delta, i, t_ns, tau_d_ns):
    return -math.expm1(-(math.pi**2 * delta / 4) * math.exp(-2 * (i - 1) * t_ns / tau_d_ns))


def thermal_switching(delta, i, t_ns, tau0_ns, beta):
    tau_th = tau0_ns * math.exp(delta * (1 - i) ** beta)
    return -math.expm1(-t_ns / tau_th)


def retention(delta, t_ns, tau0_ns):
    return -math.expm1(-(t_ns / tau0_ns) * math.exp(-delta))


def current_ua(v, r_mtj, r_access):
    return v / (r_mtj + r_access) * 1e6


# ---- Fokker-Planck: the same finite-volume scheme, assembled as a dense matrix -------------------


def fp_generator(delta, i, n_cells):
    """Dense A with dM/dτ = A M (Scharfetter-Gummel fluxes on a grid uniform in θ) and M(0)."""
    theta = np.pi - np.pi * np.arange(n_cells + 1) / n_cells
    z_edge = np.cos(theta)
    z_mid = np.cos(0.5 * (theta[:-1] + theta[1:]))
    width = np.diff(z_edge)
    phi = delta * (2 * i * z_mid - z_mid**2)

    def bern(x):
        return 1.0 if x == 0 else x / math.expm1(x)

    a = np.zeros((n_cells, n_cells))
    for k in range(1, n_cells):
        left, right = k - 1, k
        d_edge = (1 - z_edge[k] ** 2) / (2 * delta)
        g = d_edge / (z_mid[right] - z_mid[left])
        # flux to the right = g [B(φR − φL) ρL − B(φL − φR) ρR], ρ = M / width
        up = g * bern(phi[right] - phi[left]) / width[left]
        down = g * bern(phi[left] - phi[right]) / width[right]
        a[right, left] += up
        a[left, left] -= up
        a[left, right] += down
        a[right, right] -= down
    m0 = np.zeros(n_cells)
    for j in range(n_cells // 2, n_cells):
        zs = np.linspace(z_edge[j], z_edge[j + 1], 201)  # composite Simpson
        f = np.exp(delta * (zs**2 - 1))
        m0[j] = (zs[1] - zs[0]) / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return a, m0 / m0.sum()


def fp_trbdf2(a, m0, tau_end, n_steps):
    """TR-BDF2 (γ = 2 − √2) with dense solves."""
    g = 2 - math.sqrt(2)
    h = tau_end / n_steps
    eye = np.eye(len(m0))
    lhs = eye - 0.5 * g * h * a
    m = m0.copy()
    for _ in range(n_steps):
        stage = np.linalg.solve(lhs, (eye + 0.5 * g * h * a) @ m)
        m = np.linalg.solve(lhs, (stage - (1 - g) ** 2 * m) / (g * (2 - g)))
    return m[len(m) // 2:].sum()


def fp_exact_in_time(a, m0, tau_end):
    """exp(A τ) M0 by eigen-decomposition (A is diagonalisable: detailed balance)."""
    values, vectors = np.linalg.eig(a)
    coeff = np.linalg.solve(vectors, m0)
    m = (vectors @ (np.exp(values * tau_end) * coeff)).real
    return m[len(m) // 2:].sum()


# ---- LLG: one trajectory with numpy cross products and a pure-Python RNG ----------------------

_MASK = (1 << 64) - 1


def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return x, z ^ (z >> 31)


class Xoshiro256:
    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x, out = _splitmix64(x)
            self.s.append(out)

    def uniform(self):
        s = self.s

        def rotl(v, k):
            return ((v << k) | (v >> (64 - k))) & _MASK

        result = (rotl((s[1] * 5) & _MASK, 7) * 9) & _MASK
        t = (s[1] << 17) & _MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return (result >> 11) / 2.0**53

    def normal_pair(self):
        while True:
            u = 2 * self.uniform() - 1
            v = 2 * self.uniform() - 1
            r2 = u * u + v * v
            if 0 < r2 < 1:
                f = math.sqrt(-2 * math.log(r2) / r2)
                return u * f, v * f


def llg_trajectory(delta, i, n_steps, dt, alpha, seed):
    rng = Xoshiro256(seed)
    while True:
        u = -math.log1p(-rng.uniform() * -math.expm1(-delta)) / delta
        if rng.uniform() < math.exp(-delta * u * (1 - u)):
            break
    phi = 2 * math.pi * rng.uniform()
    r = math.sqrt(u * (2 - u))
    m = np.array([r * math.cos(phi), r * math.sin(phi), 1 - u])
    p = np.array([0.0, 0.0, 1.0])
    sigma = math.sqrt(alpha / (delta * dt))

    def rhs(m, h_th):
        h = h_th + np.array([0.0, 0.0, m[2]])
        torque = -np.cross(m, h) - alpha * np.cross(m, np.cross(m, h))
        stt = alpha * i * (np.cross(m, np.cross(m, p)) - alpha * np.cross(m, p))
        return (torque + stt) / (1 + alpha**2)

    spare = None
    for _ in range(n_steps):
        # the kernel's order: a fresh pair for x and y, z from the spare of the previous pair
        gx, gy = rng.normal_pair()
        if spare is None:
            gz, spare = rng.normal_pair()
        else:
            gz, spare = spare, None
        h_th = sigma * np.array([gx, gy, gz])
        k1 = rhs(m, h_th)
        k2 = rhs(m + dt * k1, h_th)
        m = m + 0.5 * dt * (k1 + k2)
        m /= np.linalg.norm(m)
    return m[2]

"""Perpendicular STT-MTJ device model: parameters, closed-form probabilities, currents, energies.

Formulas (reference/device.md of the design notes, sources named per kernel):
- Δ = μ0 Ms Hk V / (2 kB T), so μ0 Hk = 2 kB T Δ / (Ms V); τD = (1 + α²)/(α γ μ0 Hk).
- Ic0 = 4 e α kB T Δ / (ħ η) (Sun, PRB 62, 570 (2000), perpendicular free layer).
- Thermal regime (Néel-Brown with a current-lowered barrier; β = 1: Koch et al., PRL 92, 088302
  (2004); β = 2: uniaxial macrospin, Taniguchi & Imamura): τ_th = τ0 exp(Δ (1 − i)^β),
  P_sw = 1 − exp(−t/τ_th).
- Precessional regime (Sun's thermal-initial-angle model, decay exponent as Butler et al.,
  IEEE TMAG 48, 4684 (2012)): WER = 1 − exp[−(π²Δ/4) exp(−2(i − 1) t/τD)].
- Read disturb: P_RD = 1 − exp(−(t_read/τ0) exp(−Δ (1 − i_read)^β)).
- Retention: P_ret = 1 − exp(−(t/τ0) e^(−Δ)).
Every probability is computed as −expm1(−x) (a survival as exp(−x)), so 1e-20 keeps its digits.

Validity of the closed forms (they are not monotone across Ic0, so each refuses points outside its
range; the kernels return NaN there and the Python functions raise UserError):
- thermal (switching and read disturb): 0 ≤ i ≤ 0.9 and barrier Δ(1 − i)^β ≥ 3.  The Arrhenius
  law needs a barrier well above kB T (the Fokker-Planck escape time matches the exact mean
  first-passage time to 0.2% at a barrier of 10, tests/test_fokker_planck.py), and within 10% of Ic0
  the switching time is set by τD, not τ0.
- precessional: i ≥ 1.1.  Sun's form leaves out thermal diffusion during the pulse: at i → 1 it
  predicts no switching at any pulse width.  Measured against models.fokker_planck (Δ = 60, pulses
  bringing the WER below 1e-2) it overestimates the WER by 1.6x at i = 3, 3.3-4.2x at i = 2,
  10-40x at i = 1.5 and 10²-10⁴x at i = 1.1-1.2 (the longer the pulse, the larger), and
  underestimates it by < 10% at i = 5-6 (benchmarks/bench_device.py prints the table).
"""

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numba import njit

from models import fokker_planck
from models.errors import UnknownKeyError, UserError
from models.yamlio import load_yaml_file
from models.names import DIRECTIONS
from models.package_data import data_dir

K_B = 1.380649e-23
Q_E = 1.602176634e-19
HBAR = 1.054571817e-34
GAMMA = 1.7609e11

I_THERMAL_MAX = 0.9
THERMAL_MIN_BARRIER = 3.0
I_PRECESSIONAL_MIN = 1.1
METHODS = ("fokker_planck", "closed_form")
CELL_SECTION = "cell"
DEFAULT_CONFIG = data_dir("configs") / "devices" / "mtj_default.yaml"

# key: (lower, lower inclusive, upper, what is accepted)
# Lower bounds keep every derived figure finite and every solver bounded (issue 13): below Δ = 5 a
# free layer is superparamagnetic (no memory), and a few µA/Ω/nm is far outside any junction made.
_RANGES = {
    "delta": (5.0, True, 200.0, "5 <= delta <= 200"),
    "ic0_p2ap_ua": (0.1, True, 1e4, "0.1 <= ic0_p2ap_ua <= 1e4"),
    "ic0_ap2p_ua": (0.1, True, 1e4, "0.1 <= ic0_ap2p_ua <= 1e4"),
    "r_p_ohm": (10.0, True, 1e9, "10 <= r_p_ohm <= 1e9"),
    "tmr": (0.01, True, 100.0, "0.01 <= tmr <= 100 (a ratio: 1.5 means 150%)"),
    "tau0_ns": (1e-3, True, 1e3, "1e-3 <= tau0_ns <= 1e3"),
    "alpha": (1e-4, True, 1.0, "1e-4 <= alpha <= 1"),
    "ms_a_per_m": (1e4, True, 1e7, "1e4 <= ms_a_per_m <= 1e7"),
    "diameter_nm": (1.0, True, 1e4, "1 <= diameter_nm <= 1e4"),
    "thickness_nm": (0.1, True, 1e3, "0.1 <= thickness_nm <= 1e3"),
    "temperature_k": (1.0, True, 1e3, "1 <= temperature_k <= 1000"),
    "r_access_ohm": (0.0, True, 1e9, "0 <= r_access_ohm <= 1e9"),
    "beta": (1.0, True, 2.0, "1 <= beta <= 2"),
}


@dataclass(frozen=True)
class MTJParams:
    """One perpendicular MTJ with its access transistor (SI-derived units in the field names).

    Values are range-checked on construction (UserError naming the field); from_dict also rejects
    unknown and missing keys and names the file or key path.

    read_direction is the write direction the read current pushes towards; only cells in the
    opposite state (P for "p2ap") can be disturbed, through R_P (or R_AP) plus r_access_ohm.
    """

    delta: float
    ic0_p2ap_ua: float
    ic0_ap2p_ua: float
    r_p_ohm: float
    tmr: float
    tau0_ns: float
    alpha: float
    ms_a_per_m: float
    diameter_nm: float
    thickness_nm: float
    temperature_k: float
    r_access_ohm: float
    beta: float = 1.0
    read_direction: str = "p2ap"

    @property
    def volume_m3(self):
        return math.pi * (0.5e-9 * self.diameter_nm) ** 2 * 1e-9 * self.thickness_nm

    @property
    def r_ap_ohm(self):
        return self.r_p_ohm * (1.0 + self.tmr)

    @property
    def mu0_hk_t(self):
        """Effective anisotropy field μ0 Hk = 2 kB T Δ / (Ms V), in tesla."""
        return 2.0 * K_B * self.temperature_k * self.delta / (self.ms_a_per_m * self.volume_m3)

    @property
    def tau_d_ns(self):
        """Characteristic time τD = (1 + α²)/(α γ μ0 Hk), in ns."""
        return 1e9 * (1.0 + self.alpha**2) / (self.alpha * GAMMA * self.mu0_hk_t)

    def ic0_ua(self, direction):
        _check_direction(direction, "direction")
        return self.ic0_p2ap_ua if direction == "p2ap" else self.ic0_ap2p_ua

    def start_resistance_ohm(self, direction):
        """MTJ resistance in the state a write in `direction` starts from (P for p2ap)."""
        _check_direction(direction, "direction")
        return self.r_p_ohm if direction == "p2ap" else self.r_ap_ohm

    @classmethod
    def from_dict(cls, d, where="mtj"):
        """Build from a mapping, rejecting unknown or missing keys and out-of-range values.

        `where` prefixes the messages, e.g. "configs/devices/mtj_default.yaml" or "memories.spm.mtj".
        """
        if not isinstance(d, dict):
            raise UserError(f"{where}: expected a mapping of MTJ parameters, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise UnknownKeyError(f"{where}: unknown key {unknown[0]!r} (accepted: {', '.join(names)})")
        required = [n for n in names if n not in ("beta", "read_direction")]
        missing = [n for n in required if n not in d]
        if missing:
            raise UserError(f"{where}: missing key {missing[0]!r}")
        values = {name: d[name] for name in names if name in d}
        _validate(values, where)
        return cls(**{k: (v if k == "read_direction" else float(v)) for k, v in values.items()})

    def __post_init__(self):
        _validate({f.name: getattr(self, f.name) for f in fields(self)}, "models.mtj.MTJParams")


def _validate(values, where):
    for name, value in values.items():
        if name == "read_direction":
            if value not in DIRECTIONS:
                raise UserError(f"{where}: read_direction = {value!r} (must be one of {', '.join(DIRECTIONS)})")
            continue
        low, inclusive, high, accepted = _RANGES[name]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value >= low if inclusive else value > low) and value <= high
        if not ok:
            raise UserError(f"{where}: {name} = {value!r} (must be a number, {accepted})")


def load_default(path=DEFAULT_CONFIG):
    """MTJParams from configs/devices/mtj_default.yaml (or another YAML file of the same shape)."""
    path = Path(path)
    data = load_yaml_file(path, "MTJ parameters")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != CELL_SECTION}  # the cell's keys: models.mtj_cell
    return MTJParams.from_dict(data, where=str(path))


def critical_current_ua(delta, alpha, temperature_k, eta):
    """Ic0 = 4 e α kB T Δ / (ħ η) in µA (Sun 2000, perpendicular free layer, no demagnetising term)."""
    return 1e6 * 4.0 * Q_E * alpha * K_B * temperature_k * delta / (HBAR * eta)


# ---- Numba kernels (1-D arrays in, 1-D array out) -------------------------------------------


@njit(cache=True)
def _wer_precessional_kernel(delta, i_over_ic0, t_over_tau_d):
    """Sun: WER = −expm1(−(π²Δ/4) exp(−2(i − 1) t/τD)); NaN where i < 1.1 (outside the model)."""
    out = np.empty(delta.size)
    for k in range(delta.size):
        i = i_over_ic0[k]
        if not i >= I_PRECESSIONAL_MIN:
            out[k] = np.nan
            continue
        x = 0.25 * math.pi**2 * delta[k] * math.exp(-2.0 * (i - 1.0) * t_over_tau_d[k])
        out[k] = -math.expm1(-x)
    return out


@njit(cache=True)
def _thermal_probability_kernel(delta, i_over_ic0, t_ns, tau0_ns, beta, survival):
    """Néel-Brown with x = (t/τ0) exp(−Δ(1 − i)^β): P_sw = −expm1(−x), or the survival
    exp(−x) (= the WER below Ic0) when `survival`; NaN outside 0 ≤ i ≤ 0.9, barrier ≥ 3.

    Used for thermally activated switching below Ic0 and for read disturb (same law)."""
    out = np.empty(delta.size)
    for k in range(delta.size):
        i = i_over_ic0[k]
        if not (i >= 0.0 and i <= I_THERMAL_MAX):
            out[k] = np.nan
            continue
        barrier = delta[k] * (1.0 - i) ** beta[k]
        if barrier < THERMAL_MIN_BARRIER:
            out[k] = np.nan
            continue
        x = math.exp(math.log(t_ns[k] / tau0_ns[k]) - barrier)
        out[k] = math.exp(-x) if survival else -math.expm1(-x)
    return out


@njit(cache=True)
def _retention_kernel(delta, t_ns, tau0_ns):
    """P_ret = −expm1(−(t/τ0) e^(−Δ)): probability of a thermal flip during a residence time t."""
    out = np.empty(delta.size)
    for k in range(delta.size):
        if t_ns[k] == 0.0:
            out[k] = 0.0
        else:
            out[k] = -math.expm1(-math.exp(math.log(t_ns[k] / tau0_ns[k]) - delta[k]))
    return out


@njit(cache=True)
def _series_current_kernel(v, r_mtj_ohm, r_access_ohm):
    """I = V / (R_MTJ + R_access) in µA (Ohm's law through the MTJ and its access transistor)."""
    out = np.empty(v.size)
    for k in range(v.size):
        out[k] = 1e6 * v[k] / (r_mtj_ohm[k] + r_access_ohm[k])
    return out


@njit(cache=True)
def _energy_kernel(v_or_r, current_ua, t_ns, joule):
    """Energy per bit in pJ: V·I·t (joule=False, v_or_r in V) or I²·R·t (joule=True, in Ω)."""
    out = np.empty(current_ua.size)
    for k in range(current_ua.size):
        i_a = 1e-6 * current_ua[k]
        p_w = i_a * i_a * v_or_r[k] if joule else v_or_r[k] * i_a
        out[k] = 1e12 * p_w * 1e-9 * t_ns[k]
    return out


# ---- Python API --------------------------------------------------------------------------------


def _flat(*arrays):
    b = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in arrays))
    return b[0].shape, [np.ascontiguousarray(a).ravel() for a in b]


def _shaped(out, shape):
    out = out.reshape(shape)
    return float(out) if out.ndim == 0 else out


def _check_positive(name, value, where):
    arr = np.asarray(value, dtype=float)
    ok = (arr > 0) & np.isfinite(arr)
    if not np.all(ok):
        raise UserError(f"{where}: {name} = {arr[~ok].ravel()[0]} (must be finite and > 0)")


def _check_direction(direction, name, where="models.mtj"):
    if direction not in DIRECTIONS:
        raise UserError(f"{where}: {name} = {direction!r} (must be one of {', '.join(DIRECTIONS)})")


def wer_precessional(delta, i_over_ic0, t_pw_ns, tau_d_ns):
    """Sun's closed-form WER (precessional regime), vectorised.  Raises UserError for i < 1.1."""
    where = "models.mtj.wer_precessional"
    for name, value in (("delta", delta), ("t_pw_ns", t_pw_ns), ("tau_d_ns", tau_d_ns)):
        _check_positive(name, value, where)
    shape, (d, i, t, td) = _flat(delta, i_over_ic0, t_pw_ns, tau_d_ns)
    out = _wer_precessional_kernel(d, i, t / td)
    bad = np.isnan(out)
    if bad.any():
        raise UserError(f"{where}: i_over_ic0 = {i[bad][0]:.4g} (Sun's closed form needs i_over_ic0 >= {I_PRECESSIONAL_MIN}; "
                        "use models.fokker_planck.wer near or below Ic0)")
    return _shaped(out, shape)


def thermal_switching_probability(delta, i_over_ic0, t_ns, tau0_ns, beta=1.0):
    """Thermally activated switching probability below Ic0, vectorised.  Raises UserError outside
    0 <= i <= 0.9 or where the barrier Δ(1 − i)^β < 3."""
    where = "models.mtj.thermal_switching_probability"
    for name, value in (("delta", delta), ("t_ns", t_ns), ("tau0_ns", tau0_ns), ("beta", beta)):
        _check_positive(name, value, where)
    shape, (d, i, t, t0, b) = _flat(delta, i_over_ic0, t_ns, tau0_ns, beta)
    out = _thermal_probability_kernel(d, i, t, t0, b, False)
    bad = np.isnan(out)
    if bad.any():
        k = np.flatnonzero(bad)[0]
        raise UserError(f"{where}: i_over_ic0 = {i[k]:.4g} with delta = {d[k]:.4g}, beta = {b[k]:.4g} "
                        f"(the thermal law needs 0 <= i_over_ic0 <= {I_THERMAL_MAX} and delta*(1-i)^beta >= {THERMAL_MIN_BARRIER})")
    return _shaped(out, shape)


def write_current_ua(params, v_write_v, direction):
    """Write current V/(R_start + R_access) in µA; R_start is R_P for p2ap, R_AP for ap2p."""
    _check_direction(direction, "direction", "models.mtj.write_current_ua")
    _check_positive("v_write_v", v_write_v, "models.mtj.write_current_ua")
    shape, (v, r, ra) = _flat(v_write_v, params.start_resistance_ohm(direction), params.r_access_ohm)
    return _shaped(_series_current_kernel(v, r, ra), shape)


def write_error_rate(params, v_write_v, pulse_ns, direction, method="fokker_planck"):
    """Probability that a write in `direction` leaves the bit unswitched after the pulse.

    method "fokker_planck" (default) is valid at any current; "closed_form" uses the thermal law
    (WER = exp(−t/τ_th)) for I/Ic0 <= 0.9 and Sun's form for I/Ic0 >= 1.1 and raises UserError
    between them.  The current is held at its start-state value for the whole pulse.
    """
    i = write_current_ua(params, v_write_v, direction) / params.ic0_ua(direction)
    return wer_at_current(params, i, pulse_ns, direction, method, v_write_v)


def wer_at_current(params, i, pulse_ns, direction, method="fokker_planck", v_write_v=None):
    """WER of a write in `direction` at I/Ic0 = `i` (held for the pulse); `v_write_v` only names
    the point in the closed form's range error."""
    where = "models.mtj.write_error_rate"
    if method not in METHODS:
        raise UserError(f"{where}: method = {method!r} (must be one of {', '.join(METHODS)})")
    _check_positive("pulse_ns", pulse_ns, where)
    if method == "fokker_planck":
        return fokker_planck.wer(params.delta, i, pulse_ns, params.tau_d_ns)
    shape, (ia, ta) = _flat(i, pulse_ns)
    n = ia.size
    out = np.full(n, np.nan)
    hi = ia >= I_PRECESSIONAL_MIN
    lo = ~hi
    if hi.any():
        out[hi] = _wer_precessional_kernel(np.full(hi.sum(), params.delta), ia[hi], ta[hi] / params.tau_d_ns)
    if lo.any():
        out[lo] = _thermal_probability_kernel(np.full(lo.sum(), params.delta), ia[lo], ta[lo],
                                              np.full(lo.sum(), params.tau0_ns), np.full(lo.sum(), params.beta), True)
    bad = np.isnan(out)
    if bad.any():
        k = np.flatnonzero(bad)[0]
        point = "" if v_write_v is None else f"v_write_v = {np.broadcast_to(v_write_v, shape).ravel()[k]} gives "
        raise UserError(f"{where}: {point}I/Ic0 = {ia[k]:.4g} "
                        f"({direction}), outside both closed forms (thermal: <= {I_THERMAL_MAX} with barrier >= "
                        f"{THERMAL_MIN_BARRIER}; precessional: >= {I_PRECESSIONAL_MIN}); use method='fokker_planck'")
    return _shaped(out, shape)


def write_energy_pj_per_bit(params, v_write_v, pulse_ns, direction):
    """Supply-side write energy V·I·t per bit in pJ (NVSim's convention; includes the access
    transistor's dissipation).  This is the figure the memory model should use.  I is the
    start-state current held for the whole pulse (the resistance change at switching is ignored)."""
    _check_positive("pulse_ns", pulse_ns, "models.mtj.write_energy_pj_per_bit")
    current = write_current_ua(params, v_write_v, direction)
    shape, (v, c, t) = _flat(v_write_v, current, pulse_ns)
    return _shaped(_energy_kernel(v, c, t, False), shape)


def write_energy_mtj_pj_per_bit(params, v_write_v, pulse_ns, direction):
    """Energy dissipated in the MTJ alone, I²·R_start·t per bit in pJ (device-level figure)."""
    _check_positive("pulse_ns", pulse_ns, "models.mtj.write_energy_mtj_pj_per_bit")
    current = write_current_ua(params, v_write_v, direction)
    shape, (c, r, t) = _flat(current, params.start_resistance_ohm(direction), pulse_ns)
    return _shaped(_energy_kernel(r, c, t, True), shape)


def joule_energy_pj(current_ua, resistance_ohm, t_ns):
    """I²·R·t in pJ for a given current (e.g. 3·Ic0 through R_AP), vectorised."""
    shape, (c, r, t) = _flat(current_ua, resistance_ohm, t_ns)
    return _shaped(_energy_kernel(r, c, t, True), shape)


def read_current_ua(params, v_read_v, state):
    """Read current V/(R_state + R_access) in µA for a cell storing "p" or "ap"."""
    if state not in ("p", "ap"):
        raise UserError(f"models.mtj.read_current_ua: state = {state!r} (must be 'p' or 'ap')")
    _check_positive("v_read_v", v_read_v, "models.mtj.read_current_ua")
    r = params.r_p_ohm if state == "p" else params.r_ap_ohm
    shape, (v, rr, ra) = _flat(v_read_v, r, params.r_access_ohm)
    return _shaped(_series_current_kernel(v, rr, ra), shape)


def read_energy_pj_per_bit(params, v_read_v, t_read_ns):
    """Supply-side read energy V·Ī·t per bit in pJ, Ī the mean of the P and AP read currents
    (stored bits equally likely); sense-amplifier and bitline energy belong to the array model."""
    _check_positive("t_read_ns", t_read_ns, "models.mtj.read_energy_pj_per_bit")
    mean = 0.5 * (read_current_ua(params, v_read_v, "p") + read_current_ua(params, v_read_v, "ap"))
    shape, (v, c, t) = _flat(v_read_v, mean, t_read_ns)
    return _shaped(_energy_kernel(v, c, t, False), shape)


def read_disturb_probability(params, v_read_v, t_read_ns):
    """P_RD for one read of duration t_read_ns of a cell in the state the read current can flip
    (P when read_direction is p2ap), at I_read/Ic0(read_direction), with the parameter β."""
    where = "models.mtj.read_disturb_probability"
    _check_positive("t_read_ns", t_read_ns, where)
    state = "p" if params.read_direction == "p2ap" else "ap"
    i = read_current_ua(params, v_read_v, state) / params.ic0_ua(params.read_direction)
    shape, (ia, t) = _flat(i, t_read_ns)
    n = ia.size
    out = _thermal_probability_kernel(np.full(n, params.delta), ia, t, np.full(n, params.tau0_ns), np.full(n, params.beta), False)
    bad = np.isnan(out)
    if bad.any():
        k = np.flatnonzero(bad)[0]
        raise UserError(f"{where}: v_read_v = {np.broadcast_to(v_read_v, shape).ravel()[k]} gives I_read/Ic0 = {ia[k]:.4g} "
                        f"(the read-disturb law needs <= {I_THERMAL_MAX} and a barrier delta*(1-i)^beta >= {THERMAL_MIN_BARRIER})")
    return _shaped(out, shape)


def retention_failure_probability(params, residence_ns):
    """P_ret for a residence time (scalar or numpy array, ns, >= 0)."""
    arr = np.asarray(residence_ns, dtype=float)
    ok = (arr >= 0) & np.isfinite(arr)
    if not np.all(ok):
        raise UserError(f"models.mtj.retention_failure_probability: residence_ns = {arr[~ok].ravel()[0]} (must be finite and >= 0)")
    shape, (d, t, t0) = _flat(params.delta, arr, params.tau0_ns)
    return _shaped(_retention_kernel(d, t, t0), shape)

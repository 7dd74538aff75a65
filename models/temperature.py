"""Temperature scaling of CMOS leakage: the calibrated periphery is NVSim's, at 350 K.

Subthreshold current I ∝ T² exp(−q Vth(T) / (n kB T)) (the standard subthreshold law, e.g. Taur &
Ning, Fundamentals of Modern VLSI Devices, ch. 3), with Vth = 0.30 V at 300 K, dVth/dT = −0.8 mV/K and
slope factor n = 1.5 (typical bulk-CMOS values, same source): a factor ~10 between 300 and 350 K,
i.e. leakage doubling about every 15 K. Every memory's leakage is scaled by
``leakage_scale(temperature_k)`` relative to the calibration temperature.
"""

from __future__ import annotations

import math

CALIBRATION_K = 350.0  # NVSim's runs (models/technologies/calibration.py)
VTH_300K_V = 0.30
DVTH_DT_V_PER_K = -0.8e-3
SLOPE_N = 1.5
K_B_OVER_Q = 8.617333262e-5  # V/K


def _subthreshold(t_k: float) -> float:
    vth = VTH_300K_V + DVTH_DT_V_PER_K * (t_k - 300.0)
    return t_k**2 * math.exp(-vth / (SLOPE_N * K_B_OVER_Q * t_k))


def leakage_scale(temperature_k: float) -> float:
    """Leakage at ``temperature_k`` over leakage at the calibration temperature (350 K)."""
    return _subthreshold(temperature_k) / _subthreshold(CALIBRATION_K)

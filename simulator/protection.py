"""A memory's figures with its ECC, write-verify and temperature applied (config keys ``ecc``,
``write_verify``, top-level ``temperature_k``; the models are `models.ecc` and `models.temperature`).

- ECC: the stored word is the codeword (n = k + r bits): area, leakage and per-access array energy
  scale by n/k; encode energy and latency are added to a write, decode to a read.
- write-verify with N > 1: a write becomes E attempts (`models.ecc.expected_attempts`, switching bits
  = switch fraction x n), each a write and a verify read: write occupancy, latency and energy are E x
  (write + read); the per-bit write error rates become WER^N.
- temperature: leakage x `models.temperature.leakage_scale` (the calibration is at 350 K).
"""

from __future__ import annotations

from models import ecc
from models.temperature import leakage_scale


def protect(base: dict, extra: dict, word_bits: int, code_name: str, write_verify: int, switch_fraction: float,
            temperature_k: float) -> tuple[dict, dict, float]:
    """(figures, extra fields, expected write attempts) of one memory; ``base``/``extra`` as in config."""
    code = ecc.code_for(code_name, word_bits)
    b, x = dict(base), dict(extra)
    s = code.overhead
    for k in ("area_mm2", "leakage_mw", "read_energy_pj", "write_energy_pj"):
        b[k] *= s
    x["write_energy_pj_fixed"] = x["write_energy_pj_fixed"] * s + code.encode_pj
    b["write_energy_pj"] += code.encode_pj
    b["read_energy_pj"] += code.decode_pj
    b["write_latency_ns"] += code.encode_ns
    b["read_latency_ns"] += code.decode_ns
    b["leakage_mw"] *= leakage_scale(temperature_k)
    attempts = 1.0
    if write_verify > 1:
        wer = 0.5 * (x["p_write_p2ap"] + x["p_write_ap2p"])
        attempts = ecc.expected_attempts(wer, switch_fraction * code.n, write_verify)
        for k, r in (("write_occupancy_ns", "read_occupancy_ns"), ("write_latency_ns", "read_latency_ns"),
                     ("write_energy_pj", "read_energy_pj")):
            b[k] = attempts * (b[k] + b[r])
        x["write_energy_pj_fixed"] = attempts * (x["write_energy_pj_fixed"] + b["read_energy_pj"])
        x["write_energy_pj_per_switched_bit"] *= attempts
        for k in ("p_write_p2ap", "p_write_ap2p"):
            x[k] = float(ecc.wer_after_verify(x[k], write_verify))
    return b, x, attempts


def operating_point(spec, keys: tuple[str, ...]) -> dict:
    """The write/read point a technology's figures are at (empty for one without)."""
    point = {k: float(getattr(spec, k)) for k in keys if getattr(spec, k, None) is not None}
    if hasattr(spec, "pulse_ns") and spec.nvsim_file is None:
        point["write_pulse_ns"] = float(spec.pulse_ns())
    return point


def p_residual(mem, bits_written: float, bits_read: float, p_retention: float, switch_fraction: float) -> float:
    """Probability that a stored bit reads back wrong after ECC and write-verify (the /errors field).

    Raw per-bit probability of the stored value: write error on the bits that switch (mean of the
    two directions, after write-verify), retention over the residence, and read disturb for each
    of the bits_read / bits_written reads of the value; then `models.ecc.residual_per_bit` for the
    memory's code. 0 for an error-free technology.
    """
    reads = bits_read / bits_written if bits_written else 0.0
    raw = switch_fraction * 0.5 * (mem.p_write_p2ap + mem.p_write_ap2p) + p_retention + reads * mem.p_read_disturb
    return float(ecc.residual_per_bit(min(raw, 1.0), mem.code)) if raw > 0 else 0.0

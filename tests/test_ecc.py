"""ECC residual errors against a brute-force Monte Carlo with a real decoder; write-verify statistics."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from scipy import stats

from models import ecc
from simulator import run
from simulator.config import load_config
from tests.conftest import make_config


def _hamming_13_8():
    """Extended Hamming (13,8): positions 1..12 (parity at 1, 2, 4, 8), overall parity at 0."""
    data_pos = [p for p in range(1, 13) if p & (p - 1)]
    return data_pos


def _encode(data):
    n_words = data.shape[0]
    word = np.zeros((n_words, 13), dtype=np.uint8)
    data_pos = _hamming_13_8()
    word[:, data_pos] = data
    for b in range(4):
        covered = [p for p in range(1, 13) if p & (1 << b) and p != 1 << b]
        word[:, 1 << b] = word[:, covered].sum(axis=1) % 2
    word[:, 0] = word[:, 1:].sum(axis=1) % 2
    return word


def _decode(received):
    """Syndrome decoding: correct a single error, leave a detected double error alone."""
    pos = np.arange(1, 13)
    syndrome = np.zeros(received.shape[0], dtype=np.int64)
    for b in range(4):
        syndrome |= (received[:, 1:][:, (pos & (1 << b)) > 0].sum(axis=1) % 2).astype(np.int64) << b
    parity_bad = received.sum(axis=1) % 2 == 1
    out = received.copy()
    single = parity_bad & (syndrome <= 12)  # odd weight: correct at the syndrome (0 = the overall parity bit)
    rows = np.flatnonzero(single)
    out[rows, syndrome[rows]] ^= 1
    return out


def _interval(k, n, z=4.0):
    p = k / n
    half = z * np.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_check_bits_of_the_codes():
    assert ecc.code_for("secded", 64).n == 72 and ecc.code_for("secded", 8).n == 13
    assert ecc.code_for("secded", 256).check_bits == 10
    assert ecc.code_for("bch2", 64).check_bits == 14 and ecc.code_for("bch2", 64).t == 2
    assert ecc.code_for("none", 64).overhead == 1.0


def test_decoder_corrects_every_single_error():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 2, (13, 8), dtype=np.uint8)
    word = _encode(data)
    flips = np.eye(13, dtype=np.uint8)
    assert np.array_equal(_decode(word ^ flips), word)
    double = word ^ flips ^ np.roll(flips, 1, axis=1)
    assert not np.any(np.all(_decode(double) == word, axis=1))


@pytest.mark.parametrize("p", [0.004, 0.02])
def test_secded_residual_matches_monte_carlo(p):
    rng = np.random.default_rng(7)
    n_words = 400_000
    data = rng.integers(0, 2, (n_words, 8), dtype=np.uint8)
    sent = _encode(data)
    errors = (rng.random((n_words, 13)) < p).astype(np.uint8)
    decoded = _decode(sent ^ errors)
    code = ecc.code_for("secded", 8)
    bad_words = int(np.any(decoded != sent, axis=1).sum())
    lo, hi = _interval(bad_words, n_words)
    assert lo <= float(ecc.word_uncorrectable(p, code)) <= hi
    # per-bit residual (decoded bits left wrong); the formula leaves out miscorrection (< (n-2)p/3)
    wrong_bits = int((decoded != sent).sum())
    lo, hi = _interval(wrong_bits, n_words * 13)
    predicted = float(ecc.residual_per_bit(p, code))
    assert lo <= predicted * (1 + 11 * p / 3) and predicted <= hi
    assert predicted <= 12 * p * p  # union bound on P(Bin(12, p) >= 1)


def test_residual_closed_form_and_monotone():
    code = ecc.code_for("secded", 64)
    p = 1e-6
    direct = sum(stats.binom.pmf(j, 72, p) * j / 72 for j in range(2, 73))
    assert float(ecc.residual_per_bit(p, code)) == pytest.approx(direct, rel=1e-9)
    assert float(ecc.residual_per_bit(p, code)) == pytest.approx(71 * p * p, rel=1e-3)
    bch = ecc.code_for("bch2", 64)
    assert float(ecc.residual_per_bit(p, bch)) < float(ecc.residual_per_bit(p, code)) / 1e4


def test_write_verify_statistics_match_a_direct_simulation():
    rng = np.random.default_rng(3)
    wer, s, n_max, words = 0.03, 32, 3, 200_000
    pending = np.ones((words, s), dtype=bool)  # bits still to be switched
    attempts = np.zeros(words)
    for _ in range(n_max):
        active = pending.any(axis=1)
        attempts += active
        fail = rng.random((words, s)) < wer
        pending &= fail
    assert attempts.mean() == pytest.approx(ecc.expected_attempts(wer, s, n_max), rel=4 * attempts.std() / attempts.mean() / np.sqrt(words))
    k = int(pending.sum())
    lo, hi = _interval(k, words * s)
    assert lo <= float(ecc.wer_after_verify(wer, n_max)) <= hi


def _mram_config(tmp_path, **mem):
    path = make_config(tmp_path, "m.yaml", accumulator=None)
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["spm_act"] = {"technology": "stt_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64,
                                  "write_voltage_v": 0.9, "write_pulse_ns": 10.0, **mem}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_ecc_and_write_verify_change_the_memory_as_documented(tmp_path):
    plain = load_config(_mram_config(tmp_path)).memories["spm_act"]
    sec = load_config(_mram_config(tmp_path, ecc="secded")).memories["spm_act"]
    code = ecc.code_for("secded", 64)
    assert sec.area_mm2 == pytest.approx(plain.area_mm2 * 72 / 64)
    assert sec.read_latency_ns == pytest.approx(plain.read_latency_ns + code.decode_ns)
    assert sec.write_energy_pj == pytest.approx(plain.write_energy_pj * 72 / 64 + code.encode_pj)
    wv = load_config(_mram_config(tmp_path, write_verify=3)).memories["spm_act"]
    e = ecc.expected_attempts(0.5 * (plain.p_write_p2ap + plain.p_write_ap2p), 32, 3)
    assert 1 < wv.write_attempts == pytest.approx(e)
    assert wv.write_occupancy_ns == pytest.approx(e * (plain.write_occupancy_ns + plain.read_occupancy_ns))
    assert wv.p_write_p2ap == pytest.approx(plain.p_write_p2ap**3)
    with pytest.raises(Exception, match=r"memories\.spm_act\.ecc = 'hamming' \(accepted: none, secded, bch2\)"):
        load_config(_mram_config(tmp_path, ecc="hamming"))


def test_errors_ledger_p_residual(tmp_path):
    res = {k: run(load_config(_mram_config(tmp_path, ecc=k)), "tiny_mlp", write=False) for k in ("none", "secded")}
    err = res["none"].errors
    names = err["memory"].astype(str)
    sram = names != "spm_act"
    assert np.all(err["p_residual"][sram] == 0.0)
    reads = err["bits_read"] / np.maximum(err["bits_written"], 1)
    raw = (err["switch_fraction"] * 0.5 * (err["p_write_p2ap"] + err["p_write_ap2p"]) + err["p_retention"]
           + reads * err["p_read_disturb"])
    mram = ~sram & (err["bits_written"] > 0)
    assert mram.any()
    assert err["p_residual"][mram] == pytest.approx(raw[mram], rel=1e-12)
    sec = res["secded"].errors
    # leading order of the binomial tail for SECDED (72,64): (n - 1) p^2, p ~ 2e-4 here
    assert sec["p_residual"][mram] == pytest.approx(71 * raw[mram] ** 2, rel=0.05)

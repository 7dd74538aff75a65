"""Error-correcting codes per memory word and write-verify: check bits, overheads, residual errors.

Codes (``ecc:`` per memory), one codeword per memory word of k = word_bits data bits:
- ``none``: t = 0.
- ``secded``: extended Hamming (Hsiao-style SEC-DED), r check bits the least with 2^(r−1) ≥ k + r
  ((72,64), (13,8), (266,256)); t = 1, double errors detected.
- ``bch2``: binary BCH with t = 2 over GF(2^m), m the least with k + 2m ≤ 2^m − 1, 2m check bits
  ((78,64), (274,256)).

Residual per-bit error after correction, for raw per-bit probability p over n = k + r bits
(independent errors): P(word uncorrectable) = P(more than t errors) = Σ_{j>t} C(n,j) p^j (1−p)^(n−j).
Per bit: an uncorrectable word keeps its j errors (a bounded-distance decoder corrects nothing it
cannot); a bit is wrong with probability Σ_{j>t} C(n,j) p^j (1−p)^(n−j) j/n = p · P(Bin(n−1, p) ≥ t).
Miscorrection (SECDED on odd j ≥ 3 adds one wrong bit) is left out: a relative error below (n−2)p/3.

Encode/decode cost (estimates): XOR trees over the parity-check matrix's rows. Energy 1 fJ per
2-input XOR evaluated (Horowitz, ISSCC 2014: an 8-bit add costs 0.03 pJ at 45 nm, ~16 XOR-equivalents,
2 fJ each, halved at 22 nm) and 20 ps per tree level (two FO4 of ~10 ps at 22 nm HP). Encoding
evaluates r parity trees of ~n/2 inputs each; decoding evaluates the syndrome plus correction
(SECDED: one AND per bit; BCH t = 2: a Chien-style locator, m² gates per bit position).

Write-verify (``write_verify: N``): after each write the word is read back and rewritten if any of
its switching bits failed, at most N attempts. A bit already in its target state cannot fail a
rewrite, so a bit is still wrong after a attempts with probability WER^a (independent attempts) and
fails all N with WER^N; a word with s switching bits needs attempt a + 1 with probability
1 − (1 − WER^a)^s, so the expected attempts are Σ_{a=0}^{N−1} [1 − (1 − WER^a)^s], each a write
plus a verify read (the rewrite is charged as a full word write).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CODES = ("none", "secded", "bch2")
XOR_PJ = 1e-3
LEVEL_NS = 0.02


@dataclass(frozen=True)
class Code:
    name: str
    data_bits: int
    check_bits: int
    t: int
    encode_pj: float
    decode_pj: float
    encode_ns: float
    decode_ns: float

    @property
    def n(self) -> int:
        return self.data_bits + self.check_bits

    @property
    def overhead(self) -> float:
        return self.n / self.data_bits


def secded_check_bits(k: int) -> int:
    r = 2
    while 2 ** (r - 1) < k + r:
        r += 1
    return r


def bch2_m(k: int) -> int:
    m = 3
    while k + 2 * m > 2**m - 1:
        m += 1
    return m


def code_for(name: str, data_bits: int) -> Code:
    """The code ``name`` over ``data_bits`` data bits with its cost estimates (module doc)."""
    k = data_bits
    if name == "none":
        return Code("none", k, 0, 0, 0.0, 0.0, 0.0, 0.0)
    if name == "secded":
        r = secded_check_bits(k)
        row = (k + r) / 2  # inputs per parity tree (Hsiao rows carry about half the bits)
        depth = math.ceil(math.log2(row))
        enc_xor = r * row
        dec_gates = enc_xor + (k + r) + k  # syndrome, one decode AND per bit, correction XORs
        return Code("secded", k, r, 1, enc_xor * XOR_PJ, dec_gates * XOR_PJ, depth * LEVEL_NS,
                    (depth + math.ceil(math.log2(r)) + 1) * LEVEL_NS)
    if name == "bch2":
        m = bch2_m(k)
        r = 2 * m
        row = (k + r) / 2
        depth = math.ceil(math.log2(row))
        enc_xor = r * row
        dec_gates = enc_xor + (k + r) * m * m + k
        return Code("bch2", k, r, 2, enc_xor * XOR_PJ, dec_gates * XOR_PJ, depth * LEVEL_NS,
                    (depth + 4 * math.ceil(math.log2(m)) + 2) * LEVEL_NS)
    raise ValueError(name)


def word_uncorrectable(p, code: Code):
    """P(more than t errors among the n bits of a codeword) at raw per-bit probability ``p``."""
    from scipy import stats  # imported on use: it costs a run's start-up ~0.2 s

    return stats.binom.sf(code.t, code.n, np.asarray(p, dtype=float))


def residual_per_bit(p, code: Code):
    """Per-bit probability of a wrong bit after decoding: p · P(Bin(n−1, p) ≥ t) (module doc)."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if code.t == 0:
        return p
    from scipy import stats

    return p * stats.binom.sf(code.t - 1, code.n - 1, p)


def expected_attempts(wer_bit: float, switching_bits: float, max_attempts: int) -> float:
    """Σ_{a=0}^{N−1} [1 − (1 − WER^a)^s]: attempt a + 1 happens when a bit is still wrong after a."""
    total = 0.0
    for a in range(max_attempts):
        pending = min(wer_bit, 1.0) ** a
        total += 1.0 if a == 0 else -math.expm1(switching_bits * math.log1p(-min(pending, 1.0 - 1e-16)))
    return total


def wer_after_verify(wer_bit, max_attempts: int):
    """Per-bit WER after at most N write attempts: WER^N."""
    return np.asarray(wer_bit, dtype=float) ** max_attempts

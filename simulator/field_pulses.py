"""Per-field write pulses of an MRAM memory: config key ``memories.<name>.field_write_pulse_ns``.

``field_write_pulse_ns: {sign: NS, exponent: NS, mantissa: NS}`` writes each field of the run's
storage format (``array.precision``) with its own pulse; a field left out takes the memory's
``write_pulse_ns``. Fields: bf16 1/8/7, fp16 1/5/10, fp32 1/8/23 bits (sign/exponent/mantissa);
int8 (a per-tensor-scaled integer) has a sign and a 7-bit magnitude, named ``mantissa`` (the replay's
int8 ``magnitude`` field reads the ``mantissa`` rate), and no exponent, which is refused.

What the memory's figures become (`figures_with_fields`):

- write energy: each field's bits at the per-bit write energy of its own pulse (bitline charge plus
  the cell's V I t, from the technology's device and circuit model at that pulse); a word of
  ``word_bits`` bits holds ``word_bits x width / element bits`` bits of each field, so the per-word
  energy is the fixed part plus the sum over fields of those bits x their per-bit energy. ECC check
  bits belong to no field: `simulator.protection` scales the word as today, so they cost the word's
  bit-weighted mean per-bit energy.
- occupancy and latency: a word's bits are written in parallel, so a write holds its bank (and its
  latency runs) for the longest field pulse: the figures at that pulse.
- error rates: each field's WER at its pulse (per switching direction); the memory-level WER (what
  write-verify's expected attempts use) is the bit-weighted mean, exact to first order in the WER.
  `/errors` then holds one row per field (`field_rows`) with that field's bits and rates, and
  `p_residual` per field: the field's raw rate, left wrong when at least ``t`` of the codeword's other
  bits are wrong too, those at the word's mean raw rate (`models.ecc`, as `simulator.protection`).

Every memory's tensors are taken to be in ``array.precision``; the accumulator (fp32 partial sums)
is refused unless the precision is fp32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from models import ecc

KEY = "field_write_pulse_ns"
FIELD_NAMES = ("sign", "exponent", "mantissa")
# (field, bits) of each array.precision, most significant first (IEEE 754 / bfloat16 layouts)
FIELD_BITS = {
    "bf16": (("sign", 1), ("exponent", 8), ("mantissa", 7)),
    "fp16": (("sign", 1), ("exponent", 5), ("mantissa", 10)),
    "fp32": (("sign", 1), ("exponent", 8), ("mantissa", 23)),
    "int8": (("sign", 1), ("mantissa", 7)),
}
MAX_PULSE_NS = 1000.0  # as long as any write pulse the device models are used for


@dataclass(frozen=True)
class FieldWrite:
    """One field of a memory's words: its share of the bits, pulse, per-bit write energy and WERs."""

    name: str
    bits_fraction: float
    pulse_ns: float
    write_energy_pj_per_bit: float
    p_write_p2ap: float
    p_write_ap2p: float


def parse(value, path: str, precision: str, fail) -> dict[str, float]:
    """The validated ``{field: pulse ns}`` of ``memories.<name>.field_write_pulse_ns``; ``fail(key, value,
    accepted)`` raises the config's one-line error."""
    key = f"{path}.{KEY}"
    fields = tuple(f for f, _ in FIELD_BITS[precision])
    if not isinstance(value, dict) or not value:
        fail(key, value, f"must be a mapping of fields of {precision} ({', '.join(fields)}) to pulses in ns")
    out = {}
    for name, ns in value.items():
        if name not in fields:
            fail(f"{key}.{name}", ns, f"{precision} has the fields {', '.join(fields)}"
                 + (" (int8 has no exponent)" if name == "exponent" and precision == "int8" else ""))
        if isinstance(ns, bool) or not isinstance(ns, (int, float)) or not 0 < ns <= MAX_PULSE_NS:
            fail(f"{key}.{name}", ns, f"must be a pulse in ns in (0, {MAX_PULSE_NS:g}]")
        out[name] = float(ns)
    return out


def is_mram(spec) -> bool:
    """Whether the technology has a write pulse this key can set (the MRAM technologies)."""
    return hasattr(spec, "pulse_ns") and hasattr(spec, "write_errors")


def field_writes(spec, pulses: dict[str, float], precision: str) -> tuple[tuple[FieldWrite, ...], object]:
    """(the fields of ``precision`` at their pulses, the figures at the longest pulse) for ``spec``
    (a circuit-model MRAM spec); omitted fields at the spec's own pulse."""
    own = spec.pulse_ns()
    widths = FIELD_BITS[precision]
    total = sum(w for _, w in widths)
    cache: dict[float, object] = {}

    def figures_at(ns: float):
        if ns not in cache:
            cache[ns] = spec.figures() if ns == own else replace(spec, write_pulse_ns=ns).figures()
        return cache[ns]

    out = []
    for name, width in widths:
        ns = pulses.get(name, own)
        f = figures_at(ns)
        out.append(FieldWrite(name, width / total, ns, f.write_energy_pj_per_switched_bit, f.p_write_p2ap,
                              f.p_write_ap2p))
    return tuple(out), figures_at(max(w.pulse_ns for w in out))


def figures_with_fields(base: dict, extra: dict, writes: tuple[FieldWrite, ...], longest, word_bits: int,
                        own_pulse_ns: float):
    """The memory's (figures, extra fields) dicts (as `simulator.config` builds them from the
    figures at its own pulse) with the per-field write energy, occupancy, latency and mean WER."""
    b, x = dict(base), dict(extra)
    if all(w.pulse_ns == own_pulse_ns for w in writes):
        return b, x  # every field at the memory's own pulse: its figures as they are
    per_bit = _mean([w.write_energy_pj_per_bit for w in writes], writes)
    x["write_energy_pj_per_switched_bit"] = per_bit
    b["write_energy_pj"] = x["write_energy_pj_fixed"] + word_bits * per_bit  # as periphery.to_figures
    b["write_occupancy_ns"] = longest.write_occupancy_ns
    b["write_latency_ns"] = longest.write_latency_ns
    for k in ("p_write_p2ap", "p_write_ap2p"):
        x[k] = _mean([getattr(w, k) for w in writes], writes)
    return b, x


def _mean(values: list[float], writes) -> float:
    """Bit-weighted mean over the fields (the value itself when every field has it)."""
    if len(set(values)) == 1:
        return values[0]
    return float(sum(w.bits_fraction * v for w, v in zip(writes, values)))


def after_verify(writes: tuple[FieldWrite, ...], write_verify: int) -> tuple[FieldWrite, ...]:
    """Each field's WER after write-verify with up to ``write_verify`` attempts (`models.ecc`)."""
    if write_verify <= 1:
        return writes
    return tuple(replace(w, p_write_p2ap=float(ecc.wer_after_verify(w.p_write_p2ap, write_verify)),
                         p_write_ap2p=float(ecc.wer_after_verify(w.p_write_ap2p, write_verify))) for w in writes)


def raw_rates(writes, reads_per_bit: float, p_read_disturb: float, p_retention: float,
              switch_fraction: float) -> np.ndarray:
    """Each field's raw per-bit probability of a wrong stored bit (as `simulator.protection.p_residual`)."""
    return np.array([switch_fraction * 0.5 * (w.p_write_p2ap + w.p_write_ap2p) + p_retention
                     + reads_per_bit * p_read_disturb for w in writes])


def residual_rates(raw: np.ndarray, fractions: np.ndarray, code) -> np.ndarray:
    """Each field's probability of a wrong bit after decoding: its raw rate times the probability that
    at least ``t`` of the other ``n - 1`` codeword bits are wrong, those at the word's mean raw rate."""
    raw = np.clip(raw, 0.0, 1.0)
    if code.t == 0:
        return raw
    mean = float(np.dot(fractions, raw))
    from scipy import stats as sps  # imported on use (start-up)

    return raw * sps.binom.sf(code.t - 1, code.n - 1, mean)


def field_rows(mem, written: float, read: float, p_retention: float, switch_fraction: float):
    """[(field, bits written, bits read, p_write_p2ap, p_write_ap2p, p_residual)] of one ledger key."""
    writes = mem.field_writes
    reads = read / written if written else 0.0
    raw = raw_rates(writes, reads, mem.p_read_disturb, p_retention, switch_fraction)
    fractions = np.array([w.bits_fraction for w in writes])
    residual = residual_rates(raw, fractions, mem.code) if raw.max() > 0 else np.zeros(len(writes))
    return [(w.name, round(written * w.bits_fraction), round(read * w.bits_fraction), w.p_write_p2ap,
             w.p_write_ap2p, float(r)) for w, r in zip(writes, residual)]


def check_not_accumulator(memories: dict, accumulator: str | None, precision: str, fail) -> None:
    """The accumulator holds fp32 partial sums: per-field pulses there only when fp32 is the precision."""
    mem = memories.get(accumulator) if accumulator else None
    if mem is not None and mem.field_writes and precision != "fp32":
        fail(f"memories.{accumulator}.{KEY}", {w.name: w.pulse_ns for w in mem.field_writes},
             f"not on the accumulator: its fp32 partial sums do not have {precision}'s fields")

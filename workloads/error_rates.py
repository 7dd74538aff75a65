"""Per-bit error rates of a run's ``/errors`` ledger, as the training replay injects them (`workloads.faults`).

One row per layer, tensor class and memory (one per field where the memory used per-field write pulses).
Each row gives the probability that a bit of that layer's tensor class, held in that memory, is wrong
when it is read back. Three independent mechanisms can flip a stored bit:

- write: only bits that switch can fail to be written (a write that leaves a bit's value unchanged
  drives no current through the MTJ). A fraction ``switch_fraction`` of written bits switch; on data
  with no bias, half of them go P->AP and half AP->P, so
  ``p_w = switch_fraction * (p_write_p2ap + p_write_ap2p) / 2``.
- read disturb: ``p_read_disturb`` per read. A stored bit is read ``n = bits_read / bits_written``
  times (1 if the row reads bits it did not write); the value used is taken to have seen all ``n``
  reads, an upper bound for the earlier reads.
- retention: ``p_retention``, per bit over the mean residence time.

A bit is wrong when an odd number of these flips hit it; for independent events with probabilities
``p_i`` that is ``(1 - prod(1 - 2 p_i)) / 2`` (which is ``sum p_i`` for small ``p_i``, and never
exceeds 1/2). When a layer's tensor class has rows in several memories (partial sums in an
accumulator, then the activation scratchpad), the data passes through each in turn and the rows
combine the same way. SRAM rows carry zero probabilities, so SRAM-held data is error-free.

A row with ``p_residual`` (the probability a stored bit reads back wrong after ECC and write-verify)
uses it instead of the derived probability. A row with a ``field`` (``sign``, ``exponent``,
``mantissa``; ``all`` or no field: every bit) holds that field's bits only, written at its own pulse:
the replay applies each field's rate to the stored format's matching field (`workloads.formats`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from models.errors import UserError
from workloads.formats import LEDGER_FIELDS

if TYPE_CHECKING:
    from workloads.formats import Rates, StorageFormat

INJECT_CLASSES = ("activation", "weight", "error", "weight_gradient", "optimizer_state")
RECORD_FIELDS = ("layer", "tensor_class", "bits_written", "bits_read", "switch_fraction",
                 "p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention")


def odd_flip_probability(probabilities: Iterable[float]) -> float:
    """Probability that an odd number of independent flips, each with its own probability, hit a bit."""
    keep = 1.0
    for p in probabilities:
        keep *= 1.0 - 2.0 * p
    return 0.5 * (1.0 - keep)


def record_bit_error_probability(record: Mapping[str, float]) -> float:
    """Probability that a bit of one ``/errors`` row is wrong when read back (module docstring)."""
    if record.get("p_residual") is not None:
        return float(record["p_residual"])
    written, read = float(record["bits_written"]), float(record["bits_read"])
    reads_per_bit = read / written if written > 0 else (1.0 if read > 0 else 0.0)
    p_write = record["switch_fraction"] * 0.5 * (record["p_write_p2ap"] + record["p_write_ap2p"])
    p_read = 0.5 * (1.0 - (1.0 - 2.0 * record["p_read_disturb"]) ** reads_per_bit)
    return odd_flip_probability((p_write, p_read, record["p_retention"]))


def _check_record(record: Mapping, where: str) -> None:
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise UserError(f"{where}: missing field {missing[0]!r} (needs {', '.join(RECORD_FIELDS)})")
    for key in ("switch_fraction", "p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention", "p_residual"):
        if key not in record or (key == "p_residual" and record[key] is None):
            continue
        value = float(record[key])
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{where}: {key} = {value} (must be a probability in [0, 1])")
    for key in ("bits_written", "bits_read"):
        if float(record[key]) < 0:
            raise UserError(f"{where}: {key} = {record[key]} (must be >= 0)")
    if str(record.get("field", "all")) not in LEDGER_FIELDS:
        raise UserError(f"{where}: field = {str(record['field'])[:40]!r} (accepted: {', '.join(LEDGER_FIELDS)})")


def bit_error_probabilities(records: Iterable[Mapping], source: str = "/errors") -> dict[tuple[str, str], float]:
    """{(layer name, tensor class): probability that a stored bit is wrong when read back}.

    ``records`` are plain mappings with the fields `RECORD_FIELDS` (``layer`` is the layer's name);
    rows of one layer and class in several memories combine as flips in series. Rows with a field
    other than ``all`` are refused here: `field_error_probabilities` keeps them apart.
    """
    out = {}
    for key, rates in field_error_probabilities(records, source).items():
        if set(rates) != {"all"}:
            raise UserError(f"{source}: {key[0]} {key[1]} has per-field rows (use field_error_probabilities)")
        out[key] = rates["all"]
    return out


def field_error_probabilities(records: Iterable[Mapping], source: str = "/errors") -> dict[tuple[str, str], dict[str, float]]:
    """{(layer name, tensor class): {ledger field: per-bit probability}}: rows without a ``field``
    count as ``all``; rows of one key and field in several memories combine in series."""
    per_key: dict[tuple[str, str], dict[str, list[float]]] = {}
    for i, record in enumerate(records):
        _check_record(record, f"{source} row {i}")
        key = (str(record["layer"]), str(record["tensor_class"]))
        per_key.setdefault(key, {}).setdefault(str(record.get("field", "all")), []).append(
            record_bit_error_probability(record))
    return {key: {f: odd_flip_probability(ps) for f, ps in fields.items()} for key, fields in per_key.items()}


def parse_classes(text: str) -> tuple[str, ...]:
    """``activation,weight`` -> ('activation', 'weight'); an unknown name is a UserError."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UserError(f"--inject {text!r}: no tensor class given (accepted: {', '.join(INJECT_CLASSES)})")
    for name in names:
        if name not in INJECT_CLASSES:
            raise UserError(f"--inject {text}: unknown tensor class {name!r} (accepted: {', '.join(INJECT_CLASSES)})")
    return names


def parse_ber(items: Iterable[str]) -> dict[str, float]:
    """[``weight=1e-5``, ...] -> {'weight': 1e-5}: per-class bit error rates that override the ledger."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in INJECT_CLASSES:
            raise UserError(f"--ber {item}: expected CLASS=P with CLASS one of {', '.join(INJECT_CLASSES)}")
        try:
            p = float(value)
        except ValueError:
            p = math.nan
        if not 0.0 <= p <= 1.0:
            raise UserError(f"--ber {item}: P = {value!r} (must be a probability in [0, 1])")
        out[name] = p
    return out


def resolve_probabilities(ledger: Mapping[tuple[str, str], Rates], layers: Iterable[str],
                          inject: Iterable[str], overrides: Mapping[str, float]) -> dict[tuple[str, str], Rates]:
    """The non-zero rates to inject: the ledger's for the classes in ``inject`` (a probability or one
    per ledger field), except that a class in ``overrides`` gets its override at every one of ``layers``."""
    inject = tuple(inject)
    for cls in overrides:
        if cls not in inject:
            raise UserError(f"--ber {cls}={overrides[cls]}: {cls} is not in --inject ({','.join(inject)})")
    out = {}
    for layer in layers:
        for cls in inject:
            p = overrides[cls] if cls in overrides else ledger.get((layer, cls), 0.0)
            if (max(p.values(), default=0.0) if isinstance(p, Mapping) else p) > 0:
                out[(layer, cls)] = p
    return out


def scale_rates(rates: Rates, factor: float) -> Rates:
    """``rates`` times ``factor``, each kept at most 1/2 (a bit read at random)."""
    if isinstance(rates, Mapping):
        return {f: min(p * factor, 0.5) for f, p in rates.items()}
    return min(rates * factor, 0.5)


def simulated_flips_per_step(records: Iterable[Mapping], fmt: StorageFormat, protect: Iterable[str],
                             inject: Iterable[str]) -> dict[str, tuple[float, float]]:
    """{class: (bits written, expected wrong bits)} of one simulated step over the ledger's rows: each
    row's bits times its per-bit probability; a row of a field the format protects (or lacks) counts
    none, a row of every bit (``all``) the format's unprotected share."""
    protect, inject = frozenset(protect), tuple(inject)
    unprotected = sum(f.width for f in fmt.fields if f.name not in protect) / fmt.bits
    out: dict[str, list[float]] = {}
    for record in records:
        cls = str(record["tensor_class"])
        if cls not in inject:
            continue
        field = str(record.get("field", "all"))
        share = unprotected if field == "all" else float(any(f.ledger == field and f.name not in protect
                                                              for f in fmt.fields))
        bits = float(record["bits_written"])
        acc = out.setdefault(cls, [0.0, 0.0])
        acc[0] += bits
        acc[1] += bits * share * record_bit_error_probability(record)
    return {cls: (b, n) for cls, (b, n) in out.items()}

"""Number formats the accelerator stores values in, their bit fields, and sparse bit-flip sampling.

Bit ``b`` of an element is bit ``b`` of its code, 0 the least significant. Fields, most significant
first (``--protect`` names them; the ``/errors`` field whose rate applies is in brackets):

- ``bf16``: sign 15, exponent 14..7, mantissa 6..0.
- ``fp16``: sign 15, exponent 14..10, mantissa 9..0.
- ``fp32``: sign 31, exponent 30..23, mantissa 22..0.
- ``int8``: symmetric two's complement with one scale per tensor (max|x| / 127, held error-free):
  sign 7 [sign], magnitude 6..0 (the low seven bits of the code) [mantissa].
- ``fx16``: signed Q3.12 fixed point, two's complement, value = code / 2**12, range [-8, 8) in
  steps of 2.4e-4 (values outside saturate): sign 15 [sign], integer 14..12 [exponent], fraction
  11..0 [mantissa].

Flips: the bits are split into groups of equal per-bit probability ``p`` (a protected field has
none); each group's bits over the successive stores form one Bernoulli(p) stream whose flips are
drawn as geometric gaps (`FlipSampler`), so a store without a flip costs no random draw.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from models.errors import UserError

# the field names a run's /errors may carry per row; "all" applies to every bit
LEDGER_FIELDS = ("sign", "exponent", "mantissa", "all")
Rates = float | Mapping[str, float]  # one per-bit probability, or one per ledger field
Groups = tuple[tuple[np.ndarray, float], ...]  # (bit indices, per-bit probability)
_FEW_FLIPS = 32


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    width: int
    ledger: str

    @property
    def bit_indices(self) -> np.ndarray:
        return np.arange(self.low, self.low + self.width, dtype=np.int64)


@dataclass(frozen=True)
class FlipPlan:
    """Flips for one stored tensor: distinct element indices and, per element, the XOR mask of its code."""

    elements: np.ndarray
    masks: np.ndarray
    count: int


def _odd(ps: Iterable[float]) -> float:
    keep = 1.0
    for p in ps:
        keep *= 1.0 - 2.0 * p
    return 0.5 * (1.0 - keep)


class StorageFormat(ABC):
    """A number format values are stored in: `store` rounds fp32 values to it and applies flips."""

    name = ""
    bits = 0
    fields: tuple[Field, ...] = ()
    _code_np: type = np.int32
    _mask_np: type = np.uint32

    @property
    def identity(self) -> bool:
        """True if storing without flips returns the tensor itself."""
        return False

    @abstractmethod
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        """(codes as an integer tensor of the format's width, scale)."""

    @abstractmethod
    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        """float32 values of ``codes``."""

    def flip_codes(self, codes: torch.Tensor, plan: FlipPlan) -> torch.Tensor:
        """``codes`` (contiguous) with the bits of ``plan`` flipped, in place."""
        flat = codes.view(-1).numpy()  # numpy indexing: a few elements cost far less than torch's
        flat[plan.elements] ^= plan.masks.astype(self._mask_np).view(self._code_np)
        return codes

    def store(self, x: torch.Tensor, plan: FlipPlan | None) -> torch.Tensor:
        """``x`` (float32) as stored in this format, with the bits of ``plan`` flipped; a new tensor
        unless the format is the identity and there is nothing to flip."""
        if plan is None and self.identity:
            return x
        codes, scale = self.encode(x if plan is None else x.contiguous())
        if plan is not None:
            self.flip_codes(codes, plan)
        return self.decode(codes, scale)

    # True if an element's code does not depend on the rest of the tensor (no per-tensor scale)
    elementwise = True

    def flip_values(self, values: np.ndarray, plan: FlipPlan) -> np.ndarray:
        """``values`` (float32, already of this format: the elements ``plan`` names, in its order)
        with their bits of ``plan`` flipped, in numpy (torch's per-call cost dwarfs a few elements)."""
        codes, scale = self.encode(torch.from_numpy(values))
        local = FlipPlan(np.arange(len(plan.elements), dtype=np.int64), plan.masks, plan.count)
        return self.decode(self.flip_codes(codes, local), scale).numpy()

    def store_rounded(self, x: torch.Tensor, plan: FlipPlan) -> torch.Tensor:
        """`store` for ``x`` that already holds values of this format: a copy in which only the
        flipped elements are encoded, flipped and decoded (the same values, without two passes over
        the whole tensor)."""
        if not self.elementwise:
            return self.store(x, plan)
        out = x.clone(memory_format=torch.contiguous_format)
        flat = out.view(-1).numpy()
        flat[plan.elements] = self.flip_values(flat[plan.elements], plan)
        return out

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def check_protect(self, names: Iterable[str]) -> frozenset[str]:
        names = frozenset(names)
        for name in sorted(names):
            if name not in self.field_names():
                raise UserError(f"--protect {name}: {self.name} has no field {name!r} "
                                f"(fields: {', '.join(self.field_names())})")
        return names

    def bit_groups(self, rates: Rates, protect: Iterable[str] = ()) -> Groups:
        """The format's unprotected bits grouped by per-bit probability (zero-probability bits left out).
        ``rates`` is one probability for every bit or one per ledger field (``all`` applies to every
        field, in series with the field's own)."""
        protect = self.check_protect(protect)
        by_p: dict[float, list[np.ndarray]] = {}
        for f in self.fields:
            if f.name in protect:
                continue
            if isinstance(rates, Mapping):
                p = _odd(rates[k] for k in ("all", f.ledger) if k in rates)
            else:
                p = float(rates)
            if p > 0:
                by_p.setdefault(p, []).append(f.bit_indices)
        return tuple((np.sort(np.concatenate(parts)), p) for p, parts in by_p.items())

    def mean_rate(self, groups: Groups) -> float:
        """The per-bit probability averaged over all the format's bits."""
        return sum(len(bits) * p for bits, p in groups) / self.bits


def _fields(bits: int, *named: tuple[str, int, str]) -> tuple[Field, ...]:
    """Fields from most significant down: (name, width, ledger field)."""
    out, top = [], bits
    for name, width, ledger in named:
        top -= width
        out.append(Field(name, top, width, ledger))
    assert top == 0
    return tuple(out)


class _Float(StorageFormat):
    def __init__(self, name: str, bits: int, exponent_bits: int, dtype: torch.dtype, code_dtype: torch.dtype,
                 code_np, mask_np):
        self.name, self.bits, self._dtype, self._code_dtype = name, bits, dtype, code_dtype
        self._code_np, self._mask_np = code_np, mask_np
        self.fields = _fields(bits, ("sign", 1, "sign"), ("exponent", exponent_bits, "exponent"),
                              ("mantissa", bits - 1 - exponent_bits, "mantissa"))

    @property
    def identity(self) -> bool:
        return self._dtype == torch.float32

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        stored = x.clone(memory_format=torch.contiguous_format) if self.identity else x.to(self._dtype)
        return stored.view(self._code_dtype), 1.0

    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        return codes.view(self._dtype).to(torch.float32)

    def flip_values(self, values: np.ndarray, plan: FlipPlan) -> np.ndarray:
        values = np.ascontiguousarray(values, dtype=np.float32)
        if self._dtype == torch.bfloat16:  # a bf16 value's code is the top half of its fp32 bits
            return (values.view(np.uint32) ^ (plan.masks.astype(np.uint32) << np.uint32(16))).view(np.float32)
        if self._dtype == torch.float32:
            return (values.view(np.uint32) ^ plan.masks.astype(np.uint32)).view(np.float32)
        return (values.astype(np.float16).view(np.uint16) ^ plan.masks.astype(np.uint16)).view(np.float16).astype(
            np.float32)


class _Integer(StorageFormat):
    """Two's-complement codes; a tensor holding Inf/NaN has no code and is kept, so divergence shows."""

    def store(self, x: torch.Tensor, plan: FlipPlan | None) -> torch.Tensor:
        if x.numel() and not math.isfinite(float(x.abs().amax())):
            return x.clone()
        return super().store(x, plan)

    def store_rounded(self, x: torch.Tensor, plan: FlipPlan) -> torch.Tensor:
        if x.numel() and not math.isfinite(float(x.abs().amax())):
            return x.clone()
        return super().store_rounded(x, plan)

    def flip_values(self, values: np.ndarray, plan: FlipPlan) -> np.ndarray:
        if not np.all(np.isfinite(values)):
            return values  # a non-finite value has no code: kept, so the divergence shows
        return super().flip_values(values, plan)


class _Int8(_Integer):
    """Symmetric int8 with one scale per tensor, max|x| / 127 (the scale is held error-free)."""

    name, bits, _code_np, _mask_np = "int8", 8, np.int8, np.uint8
    fields = _fields(8, ("sign", 1, "sign"), ("magnitude", 7, "mantissa"))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        amax = float(x.abs().amax()) if x.numel() else 0.0
        scale = amax / 127.0 if amax > 0 else 1.0
        return torch.round(x / scale).clamp_(-127, 127).to(torch.int8), scale

    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        return codes.to(torch.float32) * scale

    elementwise = False  # the scale is the whole tensor's


class _Fixed(_Integer):
    """Signed Q(integer).(fraction) fixed point in 16 bits, saturating."""

    bits, _code_np, _mask_np = 16, np.int16, np.uint16

    def __init__(self, name: str, integer_bits: int):
        self.name = name
        self.frac_bits = self.bits - 1 - integer_bits
        self.fields = _fields(16, ("sign", 1, "sign"), ("integer", integer_bits, "exponent"),
                              ("fraction", self.frac_bits, "mantissa"))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        scale = 2.0 ** -self.frac_bits
        return torch.round(x / scale).clamp_(-(1 << 15), (1 << 15) - 1).to(torch.int16), scale

    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        return codes.to(torch.float32) * scale


FORMATS: dict[str, StorageFormat] = {
    "bf16": _Float("bf16", 16, 8, torch.bfloat16, torch.int16, np.int16, np.uint16),
    "fp16": _Float("fp16", 16, 5, torch.float16, torch.int16, np.int16, np.uint16),
    "fp32": _Float("fp32", 32, 8, torch.float32, torch.int32, np.int32, np.uint32),
    "int8": _Int8(),
    "fx16": _Fixed("fx16", 3),
}


def storage_format(name: str) -> StorageFormat:
    if name not in FORMATS:
        raise UserError(f"--format {name}: unknown number format (accepted: {', '.join(FORMATS)})")
    return FORMATS[name]


def parse_protect(text: str | None, fmt: StorageFormat) -> frozenset[str]:
    """``sign,exponent`` -> the fields of ``fmt`` to keep error-free; an unknown field is a UserError."""
    if not text:
        return frozenset()
    return fmt.check_protect(n.strip() for n in text.split(",") if n.strip())


class FlipSampler:
    """Flips of a stream of stored values whose bits in each group flip independently with the group's
    probability. Each group's bits, over all the tensors stored in turn, form one Bernoulli(p) stream;
    the sampler draws the gaps between its flips (geometric, by inversion, in float64), so a store
    that holds no flip costs a comparison and no random draw."""

    def __init__(self, groups: Groups, bits: int, rng: np.random.Generator):
        self.bits, self.rng = bits, rng
        self.groups = [(bit_set, p, math.log1p(-p) if p < 1.0 else -math.inf) for bit_set, p in groups if p > 0]
        # position (within the group's stream, counted from the next store) of each group's next flip
        self._next = [float(self._gaps(log_q, 1)[0]) - 1.0 for _, _, log_q in self.groups]
        self._single_width = len(self.groups[0][0]) if len(self.groups) == 1 else 0

    def _gaps(self, log_q: float, k: int) -> np.ndarray:
        """``k`` geometric gaps (trials to the next flip, >= 1)."""
        with np.errstate(divide="ignore"):
            return np.maximum(np.ceil(np.log1p(-self.rng.random(k)) / log_q), 1.0)

    def _take(self, g: int, n: int) -> list[int] | np.ndarray | None:
        """Flip positions in the group's next ``n`` bits (sorted, distinct)."""
        pos = self._next[g]
        if pos >= n:
            self._next[g] = pos - n
            return None
        _, p, log_q = self.groups[g]
        if (n - pos) * p < _FEW_FLIPS:  # a few flips: scalar draws beat array set-up
            found = []
            rand = self.rng.random
            while pos < n:
                found.append(int(pos))
                pos += max(math.ceil(math.log1p(-rand()) / log_q), 1)
            self._next[g] = pos - n
            return found
        parts = []
        while True:
            cs = pos + np.cumsum(np.concatenate(([0.0], self._gaps(log_q, int((n - pos) * p * 1.25) + 4))))
            j = int(np.searchsorted(cs, n))
            parts.append(cs[:j])
            if j < len(cs):
                self._next[g] = float(cs[j]) - n
                break
            pos = float(cs[-1] + self._gaps(log_q, 1)[0])
            if pos >= n:
                self._next[g] = pos - n
                break
        return np.concatenate(parts).astype(np.int64)

    def plan(self, numel: int) -> FlipPlan | None:
        """Flips for the next stored tensor of ``numel`` values; None if there are none."""
        if self._single_width:  # the common case, without the merging below
            n = numel * self._single_width
            if self._next[0] >= n:  # no flip in this store: the test every store pays, kept short
                self._next[0] -= n
                return None
            bit_set = self.groups[0][0]
            positions = self._take(0, numel * len(bit_set))
            if positions is None:
                return None
            found = [(positions, bit_set)]
        else:
            found = [(pos, bit_set) for g, (bit_set, _, _) in enumerate(self.groups)
                     if (pos := self._take(g, numel * len(bit_set))) is not None]
            if not found:
                return None
        if all(isinstance(pos, list) for pos, _ in found):
            masks: dict[int, int] = {}
            for positions, bit_set in found:
                width = len(bit_set)
                for q in positions:
                    e, k = divmod(q, width)
                    masks[e] = masks.get(e, 0) | (1 << int(bit_set[k]))
            count = sum(len(pos) for pos, _ in found)
            elements = sorted(masks)
            return FlipPlan(np.array(elements, dtype=np.int64),
                            np.array([masks[e] for e in elements], dtype=np.uint64), count)
        elements, bit_indices = [], []
        for positions, bit_set in found:
            element, k = np.divmod(np.asarray(positions, dtype=np.int64), len(bit_set))
            elements.append(element)
            bit_indices.append(bit_set[k])
        element = np.concatenate(elements)
        mask = np.left_shift(np.uint64(1), np.concatenate(bit_indices).astype(np.uint64))
        order = np.argsort(element, kind="stable")
        element, mask = element[order], mask[order]
        unique, first = np.unique(element, return_index=True)
        return FlipPlan(unique.astype(np.int64), np.bitwise_or.reduceat(mask, first), len(element))


def sample_flips(rng: np.random.Generator, numel: int, bits: int, p: float) -> FlipPlan | None:
    """Flips for one tensor of ``numel`` values of ``bits`` bits, each bit flipped with probability
    ``p`` (independently, so the count is Binomial(numel * bits, p)). None if there are none."""
    if p <= 0.0 or numel * bits == 0:
        return None
    return FlipSampler(((np.arange(bits, dtype=np.int64), p),), bits, rng).plan(numel)

"""Bit errors of a run's memories, replayed into PyTorch training.

Error model (from a run's ``/errors`` ledger, one row per layer, tensor class and memory)
---------------------------------------------------------------------------------------
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

Injection
---------
The accelerator stores numbers in one format (`FORMATS`: bf16, fp16, fp32, int8 with a per-tensor
scale kept error-free). Every store rounds to that format in both the baseline and the injected run,
so a zero probability gives bit-identical runs; the injected run also flips bits. A stored tensor of
``numel`` values has ``numel * bits`` bits: the number of flips is drawn from
Binomial(numel * bits, p) and only then are that many distinct bit positions drawn, so a tiny
probability costs one binomial draw per tensor. Stores, with their layer attribution (layer names are
module names; ``loss``, the extractor's softmax/cross-entropy layer, has no module and no store):

- ``activation``: the output of layer L as L writes it (forward hook), and each floating-point
  activation L saves for its backward pass (``saved_tensors_hooks``; parameters, integer indices,
  batch-norm statistics are skipped; a tensor saved twice is stored once).
- ``error``: the gradient with respect to L's output, as L's backward reads it (a tensor hook).
- ``weight_gradient``: L's parameter gradients after the backward pass.
- ``weight``: L's parameters after each optimizer step; flips persist, as in real memory.
- ``optimizer_state``: L's optimizer state (momentum, Adam moments) after each step.

Gradients pass straight through a store (its flips are data errors, not part of the function).
"""

from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from models.errors import UserError

INJECT_CLASSES = ("activation", "weight", "error", "weight_gradient", "optimizer_state")
RECORD_FIELDS = ("layer", "tensor_class", "bits_written", "bits_read", "switch_fraction",
                 "p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention")
LAYERS_WITHOUT_MODULE = ("loss",)
PASS_THROUGH_MODULES = (nn.Flatten, nn.Dropout, nn.Identity)
# A flipped value this large (or non-finite) is logged: it is what makes a run diverge.
EXTREME_MAGNITUDE = 1e30


def odd_flip_probability(probabilities: Iterable[float]) -> float:
    """Probability that an odd number of independent flips, each with its own probability, hit a bit."""
    keep = 1.0
    for p in probabilities:
        keep *= 1.0 - 2.0 * p
    return 0.5 * (1.0 - keep)


def record_bit_error_probability(record: Mapping[str, float]) -> float:
    """Probability that a bit of one ``/errors`` row is wrong when read back (module docstring)."""
    written, read = float(record["bits_written"]), float(record["bits_read"])
    reads_per_bit = read / written if written > 0 else (1.0 if read > 0 else 0.0)
    p_write = record["switch_fraction"] * 0.5 * (record["p_write_p2ap"] + record["p_write_ap2p"])
    p_read = 0.5 * (1.0 - (1.0 - 2.0 * record["p_read_disturb"]) ** reads_per_bit)
    return odd_flip_probability((p_write, p_read, record["p_retention"]))


def _check_record(record: Mapping, where: str) -> None:
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise UserError(f"{where}: missing field {missing[0]!r} (needs {', '.join(RECORD_FIELDS)})")
    for key in ("switch_fraction", "p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention"):
        value = float(record[key])
        if not 0.0 <= value <= 1.0:
            raise UserError(f"{where}: {key} = {value} (must be a probability in [0, 1])")
    for key in ("bits_written", "bits_read"):
        if float(record[key]) < 0:
            raise UserError(f"{where}: {key} = {record[key]} (must be >= 0)")


def bit_error_probabilities(records: Iterable[Mapping], source: str = "/errors") -> dict[tuple[str, str], float]:
    """{(layer name, tensor class): probability that a stored bit is wrong when read back}.

    ``records`` are plain mappings with the fields `RECORD_FIELDS` (``layer`` is the layer's name);
    rows of one layer and class in several memories combine as flips in series.
    """
    per_key: dict[tuple[str, str], list[float]] = {}
    for i, record in enumerate(records):
        _check_record(record, f"{source} row {i}")
        key = (str(record["layer"]), str(record["tensor_class"]))
        per_key.setdefault(key, []).append(record_bit_error_probability(record))
    return {key: odd_flip_probability(ps) for key, ps in per_key.items()}


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


def resolve_probabilities(ledger: Mapping[tuple[str, str], float], layers: Iterable[str],
                          inject: Iterable[str], overrides: Mapping[str, float]) -> dict[tuple[str, str], float]:
    """The non-zero probabilities to inject: the ledger's for the classes in ``inject``, except that a
    class in ``overrides`` gets its override at every one of ``layers``."""
    inject = tuple(inject)
    for cls in overrides:
        if cls not in inject:
            raise UserError(f"--ber {cls}={overrides[cls]}: {cls} is not in --inject ({','.join(inject)})")
    out = {}
    for layer in layers:
        for cls in inject:
            p = overrides[cls] if cls in overrides else ledger.get((layer, cls), 0.0)
            if p > 0:
                out[(layer, cls)] = p
    return out


# ---------------------------------------------------------------- number formats


@dataclass(frozen=True)
class FlipPlan:
    """Flips for one stored tensor: distinct element indices and, per element, the XOR mask of its code."""

    elements: np.ndarray
    masks: np.ndarray
    count: int


class StorageFormat(ABC):
    """A number format values are stored in: `store` rounds fp32 values to it and applies flips.

    Bit ``b`` of an element is bit ``b`` of its code, 0 the least significant (a float's mantissa
    LSB) and ``bits - 1`` the sign.
    """

    name = ""
    bits = 0
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

    def store(self, x: torch.Tensor, plan: FlipPlan | None) -> torch.Tensor:
        """``x`` (float32) as stored in this format, with the bits of ``plan`` flipped; a new tensor
        unless the format is the identity and there is nothing to flip."""
        if plan is None and self.identity:
            return x
        codes, scale = self.encode(x if plan is None else x.contiguous())
        if plan is not None:
            flat = codes.view(-1)
            idx = torch.from_numpy(plan.elements)
            masks = torch.from_numpy(plan.masks.astype(self._mask_np).view(self._code_np))
            flat[idx] = flat[idx] ^ masks
        return self.decode(codes, scale)


class _Float(StorageFormat):
    def __init__(self, name: str, bits: int, dtype: torch.dtype, code_dtype: torch.dtype, code_np, mask_np):
        self.name, self.bits, self._dtype, self._code_dtype = name, bits, dtype, code_dtype
        self._code_np, self._mask_np = code_np, mask_np

    @property
    def identity(self) -> bool:
        return self._dtype == torch.float32

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        stored = x.clone(memory_format=torch.contiguous_format) if self.identity else x.to(self._dtype)
        return stored.view(self._code_dtype), 1.0

    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        return codes.view(self._dtype).to(torch.float32)


class _Int8(StorageFormat):
    """Symmetric int8 with one scale per tensor, max|x| / 127 (the scale is held error-free)."""

    name, bits, _code_np, _mask_np = "int8", 8, np.int8, np.uint8

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        amax = float(x.abs().amax()) if x.numel() else 0.0
        scale = amax / 127.0 if amax > 0 else 1.0
        return torch.round(x / scale).clamp_(-127, 127).to(torch.int8), scale

    def decode(self, codes: torch.Tensor, scale: float) -> torch.Tensor:
        return codes.to(torch.float32) * scale

    def store(self, x: torch.Tensor, plan: FlipPlan | None) -> torch.Tensor:
        if x.numel() and not math.isfinite(float(x.abs().amax())):
            return x.clone()  # a diverged tensor has no int8 code: keep it so the divergence shows
        return super().store(x, plan)


FORMATS: dict[str, StorageFormat] = {
    "bf16": _Float("bf16", 16, torch.bfloat16, torch.int16, np.int16, np.uint16),
    "fp16": _Float("fp16", 16, torch.float16, torch.int16, np.int16, np.uint16),
    "fp32": _Float("fp32", 32, torch.float32, torch.int32, np.int32, np.uint32),
    "int8": _Int8(),
}


def storage_format(name: str) -> StorageFormat:
    if name not in FORMATS:
        raise UserError(f"--format {name}: unknown number format (accepted: {', '.join(FORMATS)})")
    return FORMATS[name]


def sample_flips(rng: np.random.Generator, numel: int, bits: int, p: float) -> FlipPlan | None:
    """Flips for a tensor of ``numel`` values of ``bits`` bits, each bit flipped with probability ``p``:
    a Binomial(numel * bits, p) count, then that many distinct positions. None if there are none."""
    total_bits = numel * bits
    if p <= 0.0 or total_bits == 0:
        return None
    count = int(rng.binomial(total_bits, p))
    if count == 0:
        return None
    positions = np.sort(rng.choice(total_bits, size=count, replace=False))
    elements, bit_indices = np.divmod(positions, bits)
    masks = np.left_shift(np.ones_like(bit_indices, dtype=np.uint64), bit_indices.astype(np.uint64))
    unique, first = np.unique(elements, return_index=True)
    return FlipPlan(unique.astype(np.int64), np.bitwise_or.reduceat(masks, first), count)


# ---------------------------------------------------------------- injection into a model


class _Stored(torch.autograd.Function):
    """A module's output replaced by its stored copy; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, x, fmt, plan):
        return fmt.store(x, plan)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


def storage_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The modules whose outputs are stored: leaves that are not pass-through (flatten, dropout)."""
    return {name: m for name, m in model.named_modules()
            if name and not any(True for _ in m.children()) and not isinstance(m, PASS_THROUGH_MODULES)}


def parameter_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(owning module's name, parameter) for every parameter."""
    return [(name.rpartition(".")[0], p) for name, p in model.named_parameters()]


@dataclass(frozen=True)
class ExtremeFlip:
    """A flip that produced a non-finite or huge value (what makes a run diverge)."""

    step: int
    tensor_class: str
    layer: str


class Injector:
    """Stores a model's tensors in a format with bit flips at the given per-(layer, class) rates.

    Counts flips per class in ``flips`` and keeps the first and latest `ExtremeFlip`.
    """

    def __init__(self, fmt: StorageFormat, probabilities: Mapping[tuple[str, str], float],
                 rng: np.random.Generator):
        self.fmt = fmt
        self.p = {key: float(v) for key, v in probabilities.items() if v > 0}
        self.rng = rng
        self.flips: Counter[str] = Counter()
        self.extreme: list[ExtremeFlip] = []
        self.step = 0
        self._stack: list[str] = []
        self._stash: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fixed_ptrs: set[int] = set()
        self._input_ptr = -1
        self._stash_classes = any(cls == "activation" for _, cls in self.p)

    def plan(self, numel: int, layer: str, cls: str) -> FlipPlan | None:
        p = self.p.get((layer, cls), 0.0)
        plan = sample_flips(self.rng, numel, self.fmt.bits, p) if p > 0 else None
        if plan is not None:
            self.flips[cls] += plan.count
        return plan

    def _note(self, stored: torch.Tensor, plan: FlipPlan | None, layer: str, cls: str) -> None:
        if plan is None:
            return
        values = stored.reshape(-1)[torch.from_numpy(plan.elements)].numpy()
        with np.errstate(invalid="ignore"):
            extreme = not np.all(np.abs(values) <= EXTREME_MAGNITUDE)  # NaN compares False
        if extreme:
            self.extreme.append(ExtremeFlip(self.step, cls, layer))
            del self.extreme[1:-1]

    def store(self, x: torch.Tensor, layer: str, cls: str, rounded: bool = False) -> torch.Tensor:
        """``x`` as stored: rounded to the format, with flips at the rate of (layer, cls); ``x`` itself
        if that changes nothing (``rounded``: ``x`` is known to hold values of the format already)."""
        plan = self.plan(x.numel(), layer, cls)
        if plan is None and (rounded or self.fmt.identity):
            return x
        with torch.no_grad():
            stored = self.fmt.store(x.detach(), plan)
        self._note(stored, plan, layer, cls)
        return stored

    # ---- forward, backward and stash hooks

    @contextlib.contextmanager
    def attached(self, model: nn.Module) -> Iterator[None]:
        """Module and tensor hooks on ``model`` for activations and errors, while the block runs."""
        handles = [model.register_forward_pre_hook(self._root_pre)]
        for name, module in storage_modules(model).items():
            handles.append(module.register_forward_pre_hook(partial(self._pre, name)))
            handles.append(module.register_forward_hook(partial(self._post, name)))
        self._fixed_ptrs = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            self._stack.clear()

    def stashing(self):
        """The context for a training forward pass: stores saved activations (a no-op if none flip)."""
        if not self._stash_classes:
            return contextlib.nullcontext()
        return torch.autograd.graph.saved_tensors_hooks(self._pack, _unpack)

    def _root_pre(self, module, args):
        if args and isinstance(args[0], torch.Tensor):
            self._input_ptr = args[0].untyped_storage().data_ptr()

    def _pre(self, name: str, module, args):
        self._stack.append(name)

    def _post(self, name: str, module, args, out):
        self._stack.pop()
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return None
        plan = self.plan(out.numel(), name, "activation")
        if plan is None and self.fmt.identity:
            stored = out
        else:
            stored = _Stored.apply(out, self.fmt, plan)
            self._note(stored.detach(), plan, name, "activation")
        if stored.requires_grad and (not self.fmt.identity or (name, "error") in self.p):
            stored.register_hook(partial(self.store, layer=name, cls="error"))
        return None if stored is out else stored

    def _pack(self, t: torch.Tensor):
        if not self._stack or not t.is_floating_point():
            return t
        layer = self._stack[-1]
        if (layer, "activation") not in self.p:
            return t
        ptr = t.untyped_storage().data_ptr()
        if ptr in self._fixed_ptrs or not (t.requires_grad or ptr == self._input_ptr):
            return t
        key = (ptr, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t._version)
        if key not in self._stash:
            # saved activations are module outputs or the input, already in the format.
            # Holding the original keeps its address from being reused by another tensor this step.
            self._stash[key] = (t, self.store(t, layer, "activation", rounded=True))
        return self._stash[key][1]

    # ---- per-step stores of parameters, gradients and optimizer state

    def store_weight_gradients(self, params: list[tuple[str, nn.Parameter]]) -> None:
        self._store_each(((layer, p.grad) for layer, p in params if p.grad is not None), "weight_gradient")

    def store_weights(self, params: list[tuple[str, nn.Parameter]]) -> None:
        self._store_each(((layer, p.data) for layer, p in params), "weight")

    def store_optimizer_state(self, params: list[tuple[str, nn.Parameter]], optimizer: torch.optim.Optimizer) -> None:
        pairs = ((layer, v) for layer, p in params for v in optimizer.state.get(p, {}).values()
                 if isinstance(v, torch.Tensor) and v.is_floating_point() and v.shape == p.shape)
        self._store_each(pairs, "optimizer_state")

    def _store_each(self, pairs: Iterable[tuple[str, torch.Tensor]], cls: str) -> None:
        with torch.no_grad():
            for layer, t in pairs:
                stored = self.store(t, layer, cls)
                if stored is not t:
                    t.copy_(stored)

    def end_step(self) -> None:
        self._stash.clear()
        self.step += 1


def _unpack(t: torch.Tensor) -> torch.Tensor:
    return t

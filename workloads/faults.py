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

A row with ``p_residual`` (the probability a stored bit reads back wrong after ECC and write-verify)
uses it instead of the derived probability. A row with a ``field`` (``sign``, ``exponent``,
``mantissa``; ``all`` or no field: every bit) holds that field's bits only, written at its own pulse:
the replay applies each field's rate to the stored format's matching field (`workloads.formats`).

Injection
---------
The accelerator stores numbers in one format (`workloads.formats`: bf16, fp16, fp32, int8 with a
per-tensor scale kept error-free, fx16 fixed point). Every store rounds to that format in both the
baseline and the injected run, so a zero probability gives bit-identical runs; the injected run also
flips bits, each field at its own rate (protected fields at none). A stored tensor of ``numel``
values has ``numel * bits`` bits, each flipping independently; the flips of one (layer, class) are
drawn as geometric gaps along the stream of its stores (`workloads.formats.FlipSampler`), so a store
without a flip costs no random draw. Stores, with their layer attribution (layer names are
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
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from models.errors import UserError
from workloads.formats import (FORMATS, LEDGER_FIELDS, FlipPlan, Groups, Rates, StorageFormat,  # noqa: F401
                               FlipSampler, sample_flips, storage_format)

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

    ``probabilities`` maps (layer, class) to one per-bit probability or one per ledger field; the
    fields in ``protect`` never flip. Counts flips per class in ``flips``, the bits stored per
    (layer, class) that could flip in ``bits_stored``, and keeps the first and latest `ExtremeFlip`.
    """

    def __init__(self, fmt: StorageFormat, probabilities: Mapping[tuple[str, str], Rates],
                 rng: np.random.Generator, protect: Iterable[str] = ()):
        self.fmt = fmt
        groups = {key: fmt.bit_groups(v, protect) for key, v in probabilities.items()}
        self.p: dict[tuple[str, str], Groups] = {key: g for key, g in groups.items() if g}
        self.rng = rng
        self.flips: Counter[str] = Counter()
        self.bits_stored: Counter[tuple[str, str]] = Counter()
        self._samplers: dict[tuple[str, str], FlipSampler] = {}
        self.extreme: list[ExtremeFlip] = []
        self.step = 0
        self._stack: list[str] = []
        self._stash: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fixed_ptrs: set[int] = set()
        self._input_ptr = -1
        self._stash_classes = any(cls == "activation" for _, cls in self.p)

    def plan(self, numel: int, layer: str, cls: str) -> FlipPlan | None:
        groups = self.p.get((layer, cls))
        if groups is None:
            return None
        key = (layer, cls)
        self.bits_stored[key] += numel * self.fmt.bits
        sampler = self._samplers.get(key)
        if sampler is None:
            sampler = self._samplers[key] = FlipSampler(groups, self.fmt.bits, self.rng)
        plan = sampler.plan(numel)
        if plan is not None:
            self.flips[cls] += plan.count
        return plan

    def _note(self, stored: torch.Tensor, plan: FlipPlan | None, layer: str, cls: str) -> None:
        if plan is not None:
            self._note_values(stored.detach().contiguous().numpy().reshape(-1)[plan.elements], layer, cls)

    def _note_values(self, values: np.ndarray, layer: str, cls: str) -> None:
        """Log an `ExtremeFlip` if any of the flipped ``values`` is non-finite or huge."""
        if not (np.abs(values) <= EXTREME_MAGNITUDE).all():  # NaN compares False
            self.extreme.append(ExtremeFlip(self.step, cls, layer))
            del self.extreme[1:-1]

    def store(self, x: torch.Tensor, layer: str, cls: str, rounded: bool = False) -> torch.Tensor:
        """``x`` as stored: rounded to the format, with flips at the rate of (layer, cls); ``x`` itself
        if that changes nothing (``rounded``: ``x`` is known to hold values of the format already)."""
        plan = self.plan(x.numel(), layer, cls)
        if plan is None and (rounded or self.fmt.identity):
            return x
        with torch.no_grad():
            if plan is not None and (rounded or self.fmt.identity):
                stored = self.fmt.store_rounded(x.detach(), plan)
            else:
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
        self._fixed_ptrs = {t.data_ptr() for t in (*model.parameters(), *model.buffers())}
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
            self._input_ptr = args[0].data_ptr()

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
        ptr = t.data_ptr()
        if ptr in self._fixed_ptrs or not (t.requires_grad or ptr == self._input_ptr):
            return t
        key = (ptr, t.shape, t.stride(), t._version)
        if key not in self._stash:
            # saved activations are module outputs or the input, already in the format.
            # Holding the original keeps its address from being reused by another tensor this step.
            if ptr == self._input_ptr or not self.fmt.elementwise:
                self._stash[key] = (t, self.store(t, layer, "activation", rounded=True))
            else:
                plan = self.plan(t.numel(), layer, "activation")
                self._stash[key] = (t, t if plan is None else _Deferred(self, t, plan, layer))
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


class _Deferred:
    """A saved activation whose flips are applied when the backward pass first reads it, in place:
    by then the forward pass, which read the value as written, is over, and every later reader of
    the stash sees the same wrong bits. Written through a numpy view of the storage, so autograd's
    version counter (which guards against changes by the model itself) is left alone; only formats
    whose codes are element-wise (no per-tensor scale) and module outputs (never the caller's input
    batch) take this path."""

    __slots__ = ("injector", "tensor", "plan", "layer")

    def __init__(self, injector: Injector, tensor: torch.Tensor, plan: FlipPlan, layer: str):
        self.injector, self.tensor, self.plan, self.layer = injector, tensor, plan, layer

    def resolve(self) -> torch.Tensor:
        if self.plan is not None:
            view = self.tensor.detach().numpy()
            where = np.unravel_index(self.plan.elements, view.shape)
            values = self.injector.fmt.flip_values(view[where], self.plan)
            view[where] = values
            self.injector._note_values(values, self.layer, "activation")
            self.plan = None
        return self.tensor


def _unpack(t):
    return t.resolve() if isinstance(t, _Deferred) else t

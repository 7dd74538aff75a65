"""Bit errors of a run's memories, replayed into PyTorch training: the injection.

The per-(layer, tensor class) rates come from the ledger (`workloads.error_rates`, re-exported here).

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
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import nn

from workloads.error_rates import (INJECT_CLASSES, RECORD_FIELDS, bit_error_probabilities,  # noqa: F401
                                   field_error_probabilities, odd_flip_probability, parse_ber, parse_classes,
                                   record_bit_error_probability, resolve_probabilities, scale_rates,
                                   simulated_flips_per_step)
from workloads.formats import (FORMATS, LEDGER_FIELDS, FlipPlan, Groups, Rates, StorageFormat,  # noqa: F401
                               FlipSampler, sample_flips, storage_format)

LAYERS_WITHOUT_MODULE = ("loss",)
PASS_THROUGH_MODULES = (nn.Flatten, nn.Dropout, nn.Identity)
# A flipped value this large (or non-finite) is logged: it is what makes a run diverge.
EXTREME_MAGNITUDE = 1e30


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
        self._activation_layers = frozenset(layer for layer, cls in self.p if cls == "activation")
        self._stash_classes = bool(self._activation_layers)

    def plan(self, numel: int, layer: str, cls: str) -> FlipPlan | None:
        key = (layer, cls)
        sampler = self._samplers.get(key)
        if sampler is None:
            if key not in self.p:
                return None
            sampler = self._samplers[key] = FlipSampler(self.p[key], self.fmt.bits, self.rng)
        self.bits_stored[key] += numel * self.fmt.bits
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
        if not self._stack or self._stack[-1] not in self._activation_layers or not t.is_floating_point():
            return t
        layer = self._stack[-1]
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

"""Training replay: train a zoo network error-free and with a run's bit errors, same seed, side by side.

`replay` trains the baseline (every tensor stored in the accelerator's number format, no flips) and
the injected run (the same stores with bit flips at the per-(layer, tensor class) probabilities of
`workloads.faults`), then returns per-epoch loss and accuracy of both. Both runs draw the initial
weights, the batch order and dropout from the same seed; flips come from their own generator, so a
zero probability gives a bit-identical run. Evaluation runs on the same hardware: the test forward
passes store activations with flips too, on the weights as stored. Both runs flush subnormals to
zero (`subnormals_flushed`), as bf16 datapaths do.

A run whose training loss or weights turn non-finite has diverged (an exponent flip gave Inf/NaN or a value
that overflowed): it stops there and reports the epoch, the step and the latest flip that produced a
non-finite or huge value (its tensor class and layer).

Inputs are plain Python: a `workloads.data.Dataset` and a dict {(layer, tensor class): p}.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.errors import UserError
from workloads import optimizers, zoo
from workloads.data import Dataset
from workloads.faults import (INJECT_CLASSES, LAYERS_WITHOUT_MODULE, Injector, parameter_layers, storage_format,
                              storage_modules)
from workloads.formats import Rates

# (width, input size) per model when not given: small enough to train in minutes on two CPU cores.
DEFAULT_SHAPES = {"resnet18": (0.125, 32), "vgg16": (0.125, 32), "alexnet": (0.125, 64),
                  "mobilenet_v2": (0.25, 32), "tiny_cnn": (1.0, 8), "tiny_resnet": (1.0, 8), "tiny_mlp": (1.0, 8)}
_FLIP_SEED = 0x5EED
_EVAL_BATCH = 256

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainSettings:
    model: str
    width: float | None = None
    input_size: int | None = None
    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.02
    weight_decay: float = 5e-4
    optimizer: str = "sgd_momentum"
    fmt: str = "bf16"
    seed: int = 0
    max_batches: int | None = None

    def resolved(self) -> TrainSettings:
        """These settings with the model's default width and input size filled in, checked."""
        width, size = DEFAULT_SHAPES.get(self.model, (1.0, 32))
        out = replace(self, width=width if self.width is None else self.width,
                      input_size=size if self.input_size is None else self.input_size)
        checks = (("--epochs", out.epochs, out.epochs >= 1, "must be >= 1"),
                  ("--batch-size", out.batch_size, out.batch_size >= 1, "must be >= 1"),
                  ("--lr", out.lr, out.lr > 0, "must be > 0"),
                  ("--max-batches", out.max_batches, out.max_batches is None or out.max_batches >= 1, "must be >= 1"),
                  ("--optimizer", out.optimizer, out.optimizer in optimizers.names(), f"accepted: {', '.join(optimizers.names())}"))
        for arg, value, ok, accepted in checks:
            if not ok:
                raise UserError(f"{arg} {value} ({accepted})")
        storage_format(out.fmt)
        return out


@dataclass(frozen=True)
class EpochResult:
    """Mean training loss and accuracy over the epoch's batches, test loss and accuracy after it, and
    the flips injected per tensor class during the epoch (training and its evaluation)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    flips: dict[str, int]


@dataclass(frozen=True)
class Divergence:
    epoch: int
    step: int
    tensor_class: str | None
    layer: str | None

    def describe(self) -> str:
        cause = (f"latest flip to a non-finite or huge value: {self.tensor_class} of {self.layer}"
                 if self.tensor_class else "no flip to a non-finite or huge value on record")
        return f"diverged in epoch {self.epoch}, step {self.step} (loss or weights not finite); {cause}"


@dataclass(frozen=True)
class RunResult:
    """One training run. ``test_accuracy``/``test_loss`` are of the model the run left (after its last
    epoch, or where it diverged: non-finite outputs count as wrong), over ``test_images``;
    ``train_loss`` is the last epoch's mean (NaN if it diverged); ``train_flips`` counts the flips of
    its ``train_steps`` training steps (evaluation left out)."""

    label: str
    epochs: list[EpochResult]
    diverged: Divergence | None
    step_time_s: float
    flips: dict[str, int] = field(default_factory=dict)
    test_accuracy: float = math.nan
    test_loss: float = math.nan
    train_loss: float = math.nan
    test_images: int = 0
    train_steps: int = 0
    train_flips: int = 0


@dataclass(frozen=True)
class Replay:
    settings: TrainSettings
    dataset: str
    baseline: RunResult
    injected: RunResult

    @property
    def overhead(self) -> float:
        return self.injected.step_time_s / self.baseline.step_time_s


def build_model(settings: TrainSettings, dataset: Dataset, generator: torch.Generator | None = None) -> nn.Module:
    """The zoo model at the settings' width and input size for ``dataset``'s channels and classes."""
    if settings.model == "bert_encoder":
        raise UserError("--model bert_encoder: the replay trains image classifiers "
                        f"(accepted: {', '.join(m for m in zoo.MODELS if m != 'bert_encoder')})")
    return zoo.build(settings.model, generator=generator, width=settings.width, input_size=settings.input_size,
                     num_classes=dataset.num_classes, in_channels=dataset.in_channels)


def model_layers(model: nn.Module) -> set[str]:
    """Names a ledger's layers can take on ``model``: its storing modules and parameter owners."""
    return set(storage_modules(model)) | {layer for layer, _ in parameter_layers(model)}


def check_layers(ledger_layers: Iterable[str], model: nn.Module, model_name: str, source: str) -> None:
    """Every ledger layer must be a module of the model: a clear error names the first that is not."""
    known = model_layers(model) | set(LAYERS_WITHOUT_MODULE)
    missing = sorted(set(ledger_layers) - known)
    if missing:
        sample = ", ".join(sorted(known - set(LAYERS_WITHOUT_MODULE))[:6])
        raise UserError(f"{source}: layer {missing[0]!r} ({len(missing)} in all) is not a module of {model_name} "
                        f"(its modules include {sample}; pick the run's network with --model)")


def dataset_tensors(dataset: Dataset, input_size: int) -> tuple[torch.Tensor, ...]:
    def resize(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x)
        if t.shape[-1] != input_size or t.shape[-2] != input_size:
            t = F.interpolate(t, size=(input_size, input_size), mode="bilinear", align_corners=False)
        return t.contiguous()
    return (resize(dataset.x_train), torch.from_numpy(dataset.y_train),
            resize(dataset.x_test), torch.from_numpy(dataset.y_test))


def _optimizer(settings: TrainSettings, model: nn.Module) -> torch.optim.Optimizer:
    return optimizers.get(settings.optimizer, "--optimizer").build(model.parameters(), settings.lr,
                                                                    settings.weight_decay)


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss over samples with a finite loss, accuracy); a sample with non-finite logits is wrong."""
    model.eval()
    loss_sum, finite, correct = 0.0, 0, 0
    with torch.no_grad():
        for start in range(0, len(y), _EVAL_BATCH):
            logits = model(x[start:start + _EVAL_BATCH])
            target = y[start:start + _EVAL_BATCH]
            losses = F.cross_entropy(logits, target, reduction="none")
            ok = torch.isfinite(losses)
            loss_sum += float(losses[ok].sum())
            finite += int(ok.sum())
            good_rows = torch.isfinite(logits).all(dim=1)
            correct += int(((logits.argmax(dim=1) == target) & good_rows).sum())
    return (loss_sum / finite if finite else float("nan")), correct / len(y)


@contextlib.contextmanager
def subnormals_flushed():
    """Subnormal floats read and written as zero (x86 DAZ/FTZ on the calling thread; the replay trains
    on one intra-op thread) for both runs of a replay: bf16 accelerator datapaths commonly do so
    (Intel's AVX-512 BF16 dot product neither consumes nor produces subnormals), and an exponent flip
    that scales a gradient towards 1e-38 would otherwise make every later CPU operation on it many
    times slower, changing only values below 1.2e-38."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        torch.set_flush_denormal(False)


def train_step(model: nn.Module, injector: Injector, params: list[tuple[str, nn.Parameter]],
               optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """One training step with every store through ``injector`` (attached to ``model``): (loss, logits).
    A non-finite loss is returned without a backward pass or an update."""
    try:
        with injector.stashing():
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        value = float(loss.detach())
        if math.isfinite(value):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            injector.store_weight_gradients(params)
            optimizer.step()
            injector.store_weights(params)
            injector.store_optimizer_state(params, optimizer)
        return value, logits.detach()
    finally:
        injector.end_step()


def _divergence(injector: Injector, epoch: int, step: int) -> Divergence:
    last = injector.extreme[-1] if injector.extreme else None
    return Divergence(epoch, step, last.tensor_class if last else None, last.layer if last else None)


def _flip_rng(seed: int, fold: int) -> np.random.Generator:
    return np.random.default_rng([seed, _FLIP_SEED] if fold == 0 else [seed, _FLIP_SEED, fold])


def train_run(settings: TrainSettings, dataset: Dataset, probabilities: Mapping[tuple[str, str], Rates],
              label: str, progress: Progress | None = None, protect: Iterable[str] = (), fold: int = 0) -> RunResult:
    """One training run storing tensors in ``settings.fmt`` with flips at ``probabilities`` (fields in
    ``protect`` error-free); ``fold`` (of a cross-validation) gives the flips their own stream."""
    settings = settings.resolved()
    fmt = storage_format(settings.fmt)
    x_train, y_train, x_test, y_test = dataset_tensors(dataset, settings.input_size)
    # the input images sit in the activation memory too, in the stored format
    x_train, x_test = fmt.store(x_train, None), fmt.store(x_test, None)
    n = len(y_train)
    batches = -(-n // settings.batch_size)
    if settings.max_batches is not None:
        batches = min(batches, settings.max_batches)
    total = batches * settings.epochs
    # dropout draws from torch's global generator: fork it so the caller's state is left alone
    with torch.random.fork_rng(devices=[]), subnormals_flushed():
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        model = build_model(settings, dataset, generator)
        params = parameter_layers(model)
        optimizer = _optimizer(settings, model)
        injector = Injector(fmt, probabilities, _flip_rng(settings.seed, fold), protect)
        with torch.no_grad():
            for _, p in params:
                p.copy_(fmt.store(p.detach(), None))
        epochs: list[EpochResult] = []
        step_times: list[float] = []
        diverged = None
        done, train_flips = 0, 0
        with injector.attached(model):
            for epoch in range(1, settings.epochs + 1):
                model.train()
                order = torch.randperm(n, generator=generator)
                loss_sum, correct, seen = 0.0, 0, 0
                flips_before = dict(injector.flips)
                for step in range(batches):
                    idx = order[step * settings.batch_size:(step + 1) * settings.batch_size]
                    t0 = time.perf_counter()
                    before = sum(injector.flips.values())
                    loss_value, logits = train_step(model, injector, params, optimizer, x_train[idx], y_train[idx])
                    train_flips += sum(injector.flips.values()) - before
                    if not math.isfinite(loss_value):
                        diverged = _divergence(injector, epoch, step + 1)
                        break
                    step_times.append(time.perf_counter() - t0)
                    loss_sum += loss_value * len(idx)
                    correct += int((logits.argmax(dim=1) == y_train[idx]).sum())
                    seen += len(idx)
                    done += 1
                    if progress is not None:
                        progress(label, done, total)
                if diverged is None and not all(bool(torch.isfinite(p).all()) for _, p in params):
                    # the last update of the epoch left non-finite weights: no later loss would show it
                    diverged = _divergence(injector, epoch, batches)
                if diverged is not None:
                    break
                test_loss, test_accuracy = _evaluate(model, x_test, y_test)
                flips = {cls: injector.flips.get(cls, 0) - flips_before.get(cls, 0) for cls in INJECT_CLASSES}
                epochs.append(EpochResult(epoch, loss_sum / seen, correct / seen, test_loss, test_accuracy, flips))
            if diverged is not None:  # the model the run left, evaluated as any other
                test_loss, test_accuracy = _evaluate(model, x_test, y_test)
    timed = step_times[1:] or step_times
    return RunResult(label, epochs, diverged, statistics.median(timed) if timed else float("nan"),
                     {cls: injector.flips.get(cls, 0) for cls in INJECT_CLASSES},
                     test_accuracy=epochs[-1].test_accuracy if diverged is None else test_accuracy,
                     test_loss=epochs[-1].test_loss if diverged is None else test_loss,
                     train_loss=epochs[-1].train_loss if diverged is None else math.nan,
                     test_images=len(y_test), train_steps=len(step_times), train_flips=train_flips)


def stored_bits_per_step(settings: TrainSettings, dataset: Dataset, probabilities: Mapping[tuple[str, str], Rates],
                         protect: Iterable[str] = ()) -> Injector:
    """One (untimed) training step of a fresh model on the first batch: the returned injector's
    ``bits_stored`` holds the bits stored per (layer, class) of ``probabilities`` and its ``p`` the
    per-bit rates, so their product is the flips a step expects."""
    settings = settings.resolved()
    fmt = storage_format(settings.fmt)
    x_train, y_train, _, _ = dataset_tensors(dataset, settings.input_size)
    x, y = fmt.store(x_train[:settings.batch_size], None), y_train[:settings.batch_size]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = build_model(settings, dataset, torch.Generator().manual_seed(settings.seed))
        params = parameter_layers(model)
        injector = Injector(fmt, probabilities, np.random.default_rng(0), protect)
        with injector.attached(model):
            model.train()
            train_step(model, injector, params, _optimizer(settings, model), x, y)
    return injector


def replay(settings: TrainSettings, dataset: Dataset, probabilities: Mapping[tuple[str, str], Rates],
           progress: Progress | None = None, protect: Iterable[str] = (), fold: int = 0) -> Replay:
    """The error-free baseline and the injected run, same seed and format."""
    settings = settings.resolved()
    baseline = train_run(settings, dataset, {}, "baseline", progress, fold=fold)
    injected = train_run(settings, dataset, probabilities, "injected", progress, protect, fold)
    return Replay(settings, dataset.name, baseline, injected)

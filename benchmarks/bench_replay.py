"""Cost of bit-error injection in the training replay: baseline step vs injected step.

Times `workloads.train.train_step` on the same batch for the baseline (the storage format, no
flips) and for runs with every layer and tensor class at a bit error probability P. Each iteration
times one step of every setup, in an order rotated from one iteration to the next, so that load from
other processes and cache state hit all alike. Before every step the parameters and optimizer state
are reset (untimed), so accumulated flips cannot change the work. Step times are CPU seconds of this
process (``time.process_time``: load from other processes on a shared machine does not count), on
one intra-op thread as every replay job trains (``--threads``), with subnormals flushed as the
replay trains (`workloads.train.subnormals_flushed`; ``--keep-subnormals`` times without).

The figure to quote is the median over iterations of the ratio of a setup's step to the baseline
step of the same iteration (robust to load that drifts), with its interquartile range; the ratio of
the medians is printed too. Steps whose loss turned non-finite skip the backward pass and are left
out. A plain PyTorch step (no hooks, fp32) is the reference for what the storage format itself costs.

    python benchmarks/bench_replay.py [--model resnet18] [--steps 60] [--format bf16] [--p 1e-9 1e-7 1e-6]
                                      [--threads 1] [--keep-subnormals]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from workloads import data, faults, train


def _setup(settings: train.TrainSettings, dataset: data.Dataset, p: float):
    generator = torch.Generator().manual_seed(settings.seed)
    model = train.build_model(settings, dataset, generator)
    params = faults.parameter_layers(model)
    optimizer = train._optimizer(settings, model)
    probs = {(layer, cls): p for layer in train.model_layers(model) for cls in faults.INJECT_CLASSES} if p else {}
    injector = faults.Injector(faults.storage_format(settings.fmt), probs, np.random.default_rng(1))
    pristine = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    return model, params, optimizer, injector, pristine


def _timed_steps(setups: dict, x: torch.Tensor, y: torch.Tensor, steps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in setups}
    skipped: dict[str, list[float]] = {k: [] for k in setups}
    paired: dict[str, list[float]] = {k: [] for k in setups}  # per iteration, NaN where left out
    keys = list(setups)
    for i in range(steps):
        for key in keys[i % len(keys):] + keys[:i % len(keys)]:
            model, params, optimizer, injector, pristine = setups[key]
            if key == "plain":
                t0 = time.process_time()
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                times[key].append(time.process_time() - t0)
                paired[key].append(times[key][-1])
                continue
            model.load_state_dict(pristine[0])
            optimizer.load_state_dict(pristine[1])
            with injector.attached(model):
                t0 = time.process_time()
                loss, _ = train.train_step(model, injector, params, optimizer, x, y)
                elapsed = time.process_time() - t0
            # a non-finite loss skips the backward pass: such a step is not comparable
            (times[key] if math.isfinite(loss) else skipped[key]).append(elapsed)
            paired[key].append(elapsed if math.isfinite(loss) else math.nan)
    return times, {k: len(v) for k, v in skipped.items()}, paired


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--format", dest="fmt", default="bf16")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--p", type=float, nargs="+", default=[1e-9, 1e-7, 1e-6])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep-subnormals", action="store_true", help="time without flushing subnormals")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dataset = data.load_digits()
    settings = train.TrainSettings(model=args.model, fmt=args.fmt).resolved()
    x, y, _, _ = train.dataset_tensors(dataset, settings.input_size)
    x, y = faults.storage_format(args.fmt).store(x[:args.batch_size], None), y[:args.batch_size]
    setups = {"plain": _setup(replace(settings, fmt="fp32"), dataset, 0.0), "baseline": _setup(settings, dataset, 0.0)}
    for p in args.p:
        setups[f"p={p:g}"] = _setup(settings, dataset, p)
    with contextlib.nullcontext() if args.keep_subnormals else train.subnormals_flushed():
        _timed_steps(setups, x, y, 3)  # warm-up
        times, skipped, paired = _timed_steps(setups, x, y, args.steps)
    base = statistics.median(times["baseline"])
    print(f"{args.model} width {settings.width:g} input {settings.input_size} batch {args.batch_size}, "
          f"{args.fmt}, {args.steps} steps, {torch.get_num_threads()} threads, "
          f"subnormals {'kept' if args.keep_subnormals else 'flushed'}")
    for key, t in times.items():
        med = statistics.median(t) if t else math.nan
        flips = sum(setups[key][3].flips.values()) / (args.steps + 3)
        # the ratio to the baseline step of the same iteration: load that drifts hits both alike
        ratios = [a / b for a, b in zip(paired[key], paired["baseline"]) if math.isfinite(a)]
        q1, pair, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (math.nan,) * 3
        print(f"  {key:10s} paired x{pair:5.2f} (IQR {q1:4.2f}-{q3:4.2f})  median {med * 1e3:7.2f} ms CPU  "
              f"x{med / base:5.2f} of baseline  "
              f"{flips:8.1f} flips/step  {skipped[key]} steps with a non-finite loss left out")


if __name__ == "__main__":
    main()

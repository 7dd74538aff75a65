"""Paired (baseline, injected) trainings over many seeds, in parallel processes, and their statistics.

A seed fixes the weights, the batch order, dropout, the flips and (for the digits' cross-validation)
the folds. One job is one seed and fold: its baseline and injected run. Jobs run in worker processes
(forked, as PyTorch's data-loader workers are: a spawned worker re-imports torch, seconds per
process) or in this process for one worker; every job trains on one intra-op thread, so results do
not depend on the number of workers. A seed's accuracy is its correct
test predictions pooled over its folds; its loss the mean of its folds' final training losses; it
diverged if any of its runs did.
"""

from __future__ import annotations

import math
import multiprocessing
import queue as queue_module
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace

import torch

from models.errors import UserError
from workloads import data, stats, train
from workloads.formats import Rates

# (seed, steps done, steps in all) for the seed's bar
SeedProgress = Callable[[int, int, int], None]
_worker_queue = None


@dataclass(frozen=True)
class Job:
    settings: train.TrainSettings
    data_path: str | None
    folds: int
    fold: int
    probabilities: Mapping[tuple[str, str], Rates]
    protect: frozenset[str]


@dataclass(frozen=True)
class SeedResult:
    seed: int
    baseline: list[train.RunResult]  # one per fold
    injected: list[train.RunResult]

    @staticmethod
    def _accuracy(runs: Sequence[train.RunResult]) -> float:
        return sum(r.test_accuracy * r.test_images for r in runs) / sum(r.test_images for r in runs)

    def accuracy(self, label: str) -> float:
        return self._accuracy(getattr(self, label))

    def loss(self, label: str) -> float:
        losses = [r.train_loss for r in getattr(self, label)]
        return math.fsum(losses) / len(losses)

    def diverged(self, label: str) -> bool:
        return any(r.diverged is not None for r in getattr(self, label))


@dataclass(frozen=True)
class Summary:
    seeds: list[SeedResult]
    baseline: stats.Interval
    injected: stats.Interval
    difference: stats.Interval

    def diverged_fraction(self, label: str) -> float:
        return sum(s.diverged(label) for s in self.seeds) / len(self.seeds)


def parse_seeds(text: str, first: int = 0) -> list[int]:
    """``5`` -> five seeds from ``first``; ``3,7,11`` -> those seeds."""
    try:
        if "," in text:
            seeds = [int(v) for v in text.split(",") if v.strip()]
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = list(range(first, first + count))
    except ValueError:
        raise UserError(f"--seeds {text[:40]}: expected a count >= 1 or a comma list of seeds") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds {text[:40]}: expected a count >= 1 or a comma list of distinct seeds >= 0")
    return seeds


def steps_per_run(settings: train.TrainSettings, train_images: int) -> int:
    batches = -(-train_images // settings.batch_size)
    if settings.max_batches is not None:
        batches = min(batches, settings.max_batches)
    return batches * settings.epochs


def run_job(job: Job, progress: Callable[[int], None] | None = None) -> tuple[train.RunResult, train.RunResult]:
    """One seed and fold: (baseline, injected). ``progress`` gets the steps done by both runs so far."""
    dataset = data.load_splits(job.data_path, job.folds, job.settings.seed)[job.fold]
    done = {"baseline": 0, "injected": 0}

    def step(label: str, n: int, total: int) -> None:
        done[label] = n
        if progress is not None:
            progress(done["baseline"] + done["injected"])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        base = train.train_run(job.settings, dataset, {}, "baseline", step, fold=job.fold)
        injected = train.train_run(job.settings, dataset, job.probabilities, "injected", step, job.protect, job.fold)
    finally:
        torch.set_num_threads(threads)
    return base, injected


def _init_worker(q) -> None:
    global _worker_queue
    _worker_queue = q


def _run_in_worker(key: tuple[int, int], job: Job):
    def progress(done: int) -> None:
        _worker_queue.put((key, done))
    return run_job(job, progress)


def run_seeds(settings: train.TrainSettings, data_path: str | None, folds: int, seeds: Iterable[int],
              probabilities: Mapping[tuple[str, str], Rates], protect: Iterable[str] = (), workers: int = 1,
              progress: SeedProgress | None = None, train_images: int | None = None) -> Summary:
    """Every seed's paired runs (``workers`` processes at a time) and the intervals over seeds."""
    seeds = list(seeds)
    if workers < 1:
        raise UserError(f"--workers {workers} (must be >= 1)")
    settings = settings.resolved()
    jobs = {(seed, fold): Job(replace(settings, seed=seed), data_path, folds, fold, dict(probabilities),
                              frozenset(protect))
            for seed in seeds for fold in range(folds)}
    if train_images is None:
        train_images = len(data.load_splits(data_path, folds, seeds[0])[0].y_train)
    per_seed_total = 2 * folds * steps_per_run(settings, train_images)
    done: dict[tuple[int, int], int] = {}

    def report(key: tuple[int, int], n: int) -> None:
        done[key] = n
        if progress is not None:
            seed = key[0]
            progress(seed, sum(v for k, v in done.items() if k[0] == seed), per_seed_total)

    results: dict[tuple[int, int], tuple[train.RunResult, train.RunResult]] = {}
    if workers == 1 or len(jobs) == 1:
        for key, job in jobs.items():
            results[key] = run_job(job, lambda n, key=key: report(key, n))
    else:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        q = ctx.Queue()
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx, initializer=_init_worker,
                                 initargs=(q,)) as pool:
            futures: dict[Future, tuple[int, int]] = {pool.submit(_run_in_worker, key, job): key
                                                      for key, job in jobs.items()}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(q, report)
                for fut in finished:
                    results[futures[fut]] = fut.result()
            _drain(q, report)
    per_seed = [SeedResult(seed, [results[(seed, f)][0] for f in range(folds)],
                           [results[(seed, f)][1] for f in range(folds)]) for seed in seeds]
    return summarise(per_seed)


def _drain(q, report) -> None:
    while True:
        try:
            key, n = q.get_nowait()
        except queue_module.Empty:
            return
        report(key, n)


def summarise(per_seed: list[SeedResult]) -> Summary:
    base = [s.accuracy("baseline") for s in per_seed]
    injected = [s.accuracy("injected") for s in per_seed]
    return Summary(per_seed, stats.t_interval(base), stats.t_interval(injected),
                   stats.paired_difference(injected, base))

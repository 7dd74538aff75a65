"""Runs for the command line: several configs of one workload in parallel processes, and a real
progress bar (ops done of all ops) for each run while it goes.

Each config runs in its own worker process (``concurrent.futures.ProcessPoolExecutor``); a run is a
pure function of its config, workload and seed, so the results equal those of serial runs. Workers
report progress through a queue the parent drains into one rich progress bar per config.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
from concurrent.futures import ProcessPoolExecutor, wait

_QUEUE = None  # the worker's progress queue


def _init_worker(q) -> None:
    global _QUEUE
    _QUEUE = q


def _run_one(index: int, cfg, trace, kwargs: dict):
    from simulator.api import run

    def report(done: int, total: int) -> None:
        _QUEUE.put((index, done, total))

    return run(cfg, trace, progress=report if _QUEUE is not None else None, **kwargs)


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _bar(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("ops"),
                    TimeElapsedColumn(), console=console, transient=True)


def run_with_progress(label: str, cfg, trace, **kwargs):
    """One run in this process, with a progress bar on a terminal."""
    from simulator.api import run

    console = _console()
    if not console.is_terminal:
        return run(cfg, trace, **kwargs)
    with _bar(console) as bar:
        task = bar.add_task(label, total=None)
        return run(cfg, trace, progress=lambda done, total: bar.update(task, completed=done, total=total), **kwargs)


def run_configs(configs: list, trace, labels: list[str], jobs: int | None = None, **kwargs) -> list:
    """Run ``trace`` on every config; ``jobs`` processes at once (default: one per CPU core, at most
    one per config; 1 runs them here, one after another). Results in the order of ``configs``."""
    jobs = min(len(configs), jobs or os.cpu_count() or 1)
    if jobs <= 1:
        return [run_with_progress(label, cfg, trace, **kwargs) for cfg, label in zip(configs, labels)]
    console = _console()
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    q = ctx.Queue() if console.is_terminal else None
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as pool:
        futures = [pool.submit(_run_one, i, cfg, trace, kwargs) for i, cfg in enumerate(configs)]
        if q is not None:
            with _bar(console) as bar:
                tasks = [bar.add_task(label, total=None) for label in labels]
                pending = set(futures)
                while pending:
                    _, pending = wait(pending, timeout=0.1)
                    _drain(q, bar, tasks)
                _drain(q, bar, tasks)
        return [f.result() for f in futures]


def _drain(q, bar, tasks) -> None:
    while True:
        try:
            i, done, total = q.get_nowait()
        except queue_mod.Empty:
            return
        bar.update(tasks[i], completed=done, total=total)

"""Fan the uncached points of a study out on Dask (``dask.distributed``) with a progress bar.

By default a `LocalCluster` of one single-threaded worker process per core (``workers`` to choose);
``scheduler="tcp://HOST:PORT"`` uses an existing cluster instead. Each point is a pure function of its
config and workload, so both give identical results. Finished points are cached as they arrive.
"""

from __future__ import annotations

import logging
import os
import time

from models.errors import UserError
from simulator.study.cache import PointCache
from simulator.study.points import Point, version_tag
from simulator.study.runner import run_point

_POLL_S = 0.5


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _client(scheduler: str | None, workers: int | None, n_todo: int):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({' '.join(str(exc).split())[:120]}; "
                            "accepted: the address of a running `dask scheduler`, e.g. tcp://127.0.0.1:8786)") from None
    n = max(1, min(workers or default_workers(), n_todo))
    # The scheduler always serves HTTP (health checks); a free loopback port, never a fixed or public one.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def compute(points: list[Point], out_dir, *, scheduler: str | None = None, workers: int | None = None,
            progress: bool = True, console=None) -> dict[str, dict]:
    """Outcome ``{"row", "error", "run_seconds", "cached"}`` of every point, by point key."""
    from simulator.workload_source import resolve

    cache = PointCache(out_dir)
    outcomes: dict[str, dict] = {}
    todo: dict[str, Point] = {}
    for p in points:
        if p.load_error is not None:
            outcomes[p.key] = {"row": None, "error": p.load_error, "run_seconds": 0.0, "cached": False}
        elif p.key not in outcomes and p.key not in todo:
            hit = cache.get(p.key)
            if hit is not None:
                outcomes[p.key] = {**hit, "cached": True}
            else:
                todo[p.key] = p
    if not todo:
        return outcomes
    traces = {w: resolve(w) for w in {p.workload for p in todo.values()}}
    version = version_tag()
    client, cluster = _client(scheduler, workers, len(todo))
    try:
        futures = {client.submit(run_point, p.config, traces[p.workload], key=f"mramsim-study-{k}", pure=False): k
                   for k, p in todo.items()}
        with _Progress(len(outcomes) + len(todo), len(outcomes), progress, console) as bar:
            bar.failed = sum(1 for o in outcomes.values() if o["error"])
            pending = set(futures)
            while pending:
                done = [f for f in pending if f.done()]
                for f in done:
                    pending.discard(f)
                    key = futures[f]
                    outcome = _outcome(f)
                    if outcome.pop("deterministic"):
                        cache.put(key, todo[key], outcome, version)
                    outcomes[key] = {**outcome, "cached": False}
                    bar.finished(bool(outcome["error"]))
                if pending:
                    bar.running = _running(client, {f.key for f in pending})
                    bar.refresh()
                    time.sleep(_POLL_S if not done else 0.05)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes


def _outcome(future) -> dict:
    if future.status == "finished":
        return dict(future.result())
    exc = future.exception()
    return {"row": None, "error": f"worker failed: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}",
            "run_seconds": 0.0, "deterministic": False}


def _running(client, keys: set) -> int:
    try:
        processing = client.processing()
    except Exception:  # the count is cosmetic; a slow scheduler must not stop the study
        return 0
    return sum(1 for tasks in processing.values() for k in tasks if k in keys)


class _Progress:
    """Points done (of all, cached included), running, failed and the ETA, on stderr."""

    def __init__(self, total: int, done: int, enabled: bool, console):
        self.total, self.done, self.running, self.failed = total, done, 0, 0
        self.enabled = enabled
        self.console = console

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.progress = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=self.console or Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task("points", total=self.total, completed=self.done, running=0, failed=0)
        return self

    def finished(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.enabled:
            self.progress.update(self.task, advance=1, failed=self.failed)

    def refresh(self) -> None:
        if self.enabled:
            self.progress.update(self.task, running=self.running, failed=self.failed)

    def __exit__(self, *exc):
        if self.enabled:
            self.progress.update(self.task, running=0, failed=self.failed)
            self.progress.stop()
        return False

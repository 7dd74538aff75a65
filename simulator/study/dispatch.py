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


class Cluster:
    """The Dask client of one study, started when the first task needs it and shared by the
    simulation and replay stages."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None, more_stages: bool = False):
        self.scheduler, self.workers = scheduler, workers
        self.more_stages = more_stages  # later stages may need every worker: do not size to the first's tasks
        self.client = self.cluster = None

    def get(self, n_todo: int):
        if self.client is None:
            self.client, self.cluster = _client(self.scheduler, self.workers,
                                                n_todo if not self.more_stages else 1 << 20)
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def run_tasks(cluster: Cluster, tasks: dict, on_done, *, total: int, done: int = 0, failed: int = 0,
              what: str = "points", progress: bool = True, console=None) -> None:
    """Submit ``tasks`` ({key: (function, args)}) and call ``on_done(key, outcome)`` as each one
    finishes; an outcome is the function's dict (with ``deterministic``) or a worker failure."""
    if not tasks:
        return
    client = cluster.get(len(tasks))
    futures = {client.submit(fn, *args, key=f"mramsim-{what}-{k}", pure=False): k for k, (fn, args) in tasks.items()}
    with _Progress(total, done, progress, console, what) as bar:
        bar.failed = failed
        pending = set(futures)
        while pending:
            finished = [f for f in pending if f.done()]
            for f in finished:
                pending.discard(f)
                outcome = _outcome(f)
                on_done(futures[f], outcome)
                bar.finished(bool(outcome.get("error")))
            if pending:
                bar.running = _running(client, {f.key for f in pending})
                bar.refresh()
                time.sleep(_POLL_S if not finished else 0.05)


def compute(points: list[Point], out_dir, *, scheduler: str | None = None, workers: int | None = None,
            progress: bool = True, console=None, cluster: Cluster | None = None) -> dict[str, dict]:
    """Outcome ``{"row", "error", "run_seconds", "cached"}`` of every point, by point key."""
    from simulator.workload_source import resolve

    cache = PointCache(out_dir)
    outcomes: dict[str, dict] = {}
    todo: dict[str, Point] = {}
    for p in points:
        if p.load_error is not None:
            outcomes[p.key] = {"row": None, "error": p.load_error, "error_kind": "config", "run_seconds": 0.0,
                               "cached": False}
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

    def done(key, outcome):
        if outcome.pop("deterministic"):
            cache.put(key, todo[key], outcome, version)
        outcomes[key] = {**outcome, "cached": False}

    own = cluster is None
    cluster = cluster or Cluster(scheduler, workers)
    try:
        run_tasks(cluster, {k: (run_point, (p.config, traces[p.workload])) for k, p in todo.items()}, done,
                  total=len(outcomes) + len(todo), done=len(outcomes),
                  failed=sum(1 for o in outcomes.values() if o["error"]), progress=progress, console=console)
    finally:
        if own:
            cluster.close()
    return outcomes


def _outcome(future) -> dict:
    if future.status == "finished":
        return dict(future.result())
    exc = future.exception()
    return {"row": None, "error": f"worker failed: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}",
            "error_kind": "crash", "run_seconds": 0.0, "deterministic": False}


def _running(client, keys: set) -> int:
    try:
        processing = client.processing()
    except Exception:  # the count is cosmetic; a slow scheduler must not stop the study
        return 0
    return sum(1 for tasks in processing.values() for k in tasks if k in keys)


class _Progress:
    """Tasks (points or replays) done (of all, cached included), running, failed and the ETA, on stderr."""

    def __init__(self, total: int, done: int, enabled: bool, console, what: str = "points"):
        self.total, self.done, self.running, self.failed = total, done, 0, 0
        self.what = what
        self.enabled = enabled
        self.console = console

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.progress = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("running {task.fields[running]}  failed {task.fields[failed]}"),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=self.console or Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task(self.what, total=self.total, completed=self.done, running=0, failed=0)
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

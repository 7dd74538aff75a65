"""Speed and memory of the engine: batch scaling of a ResNet-18 training step, and every built-in network.

Run by hand: ``python benchmarks/bench_engine.py [--config F] [--repeat 1] [--only scaling|workloads|startup]
[--no-fast-forward] [--coarse-timeline] [--against DIR]``; ``--coarse-timeline`` measures runs that
write one timeline row per op and stream (``run(timeline="op")``); ``--against DIR`` also runs every scenario with the checkout in DIR
(e.g. ``git worktree add /tmp/before main``) and prints its CPU seconds and peak memory alongside. Each scenario runs in a fresh process, so its peak memory (max RSS) is its own.
Times are CPU seconds of the run (user + system, HDF5 writing included), not wall time: the machine is
shared, and CPU time is what another process cannot inflate much. With ``--repeat`` > 1 the best repeat
is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINING = "fwd,bwd_data,bwd_weight,wu"
SCALING = [("resnet18", 8), ("resnet18", 32), ("resnet18", 128), ("resnet18", 256)]
WORKLOADS = ["resnet18", "vgg16", "alexnet", "mobilenet_v2", "bert_encoder"]
REPO = Path(__file__).resolve().parent.parent


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child(workload: str, config: str | None, batch: int, phases: str, fast_forward: bool, coarse: bool) -> None:
    from simulator import run
    from simulator.config import load_config

    cfg = load_config(config, [f"training.batch={batch}"])
    kwargs = {} if fast_forward else {"fast_forward": False}
    if coarse:
        kwargs["timeline"] = "op"
    with tempfile.TemporaryDirectory() as tmp:
        c0 = _cpu_seconds()
        res = run(cfg, workload, phases=tuple(phases.split(",")), out=f"{tmp}/bench.h5", **kwargs)
        cpu = _cpu_seconds() - c0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu_s": cpu, "cycles": res.total_cycles, "events": res.events, "tiles": res.tiles,
                      "replayed_ops": res.replayed_ops,
                      "timeline_rows": res.timeline_rows, "peak_rss_mib": peak_mib}))


def _measure(workload: str, batch: int, args, repo: Path = REPO) -> dict:
    best = None
    env = {**os.environ, "PYTHONPATH": str(repo)}
    for _ in range(args.repeat):
        cmd = [sys.executable, str(repo / "benchmarks" / "bench_engine.py"), "--workload", workload, "--batch",
               str(batch), "--child", TRAINING]
        if args.config:
            cmd += ["--config", args.config]
        if args.no_fast_forward:
            cmd.append("--no-fast-forward")
        if args.coarse_timeline:
            cmd.append("--coarse-timeline")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=repo, env=env).stdout
        r = json.loads(out.strip().splitlines()[-1])
        if best is None or r["cpu_s"] < best["cpu_s"]:
            best = r
    return best


HEADER = (f"{'workload':<14} {'batch':>5} {'CPU s':>7} {'peak MiB':>9} {'events':>9} {'ops replayed':>12} {'tiles':>9} "
          f"{'timeline rows':>14}")


AGAINST = f" {'before CPU s':>12} {'before MiB':>10}"


def _line(workload: str, batch: int, r: dict, before: dict | None = None) -> str:
    line = (f"{workload:<14} {batch:5d} {r['cpu_s']:7.2f} {r['peak_rss_mib']:9.0f} {r['events']:9,} "
            f"{r.get('replayed_ops', 0):12,} {r['tiles']:9,} {r['timeline_rows']:14,}")
    if before is not None:
        line += f" {before['cpu_s']:12.2f} {before['peak_rss_mib']:10.0f}"
    return line


def _both(workload: str, batch: int, args) -> tuple[dict, dict | None]:
    return _measure(workload, batch, args), _measure(workload, batch, args, Path(args.against)) if args.against else None


def _startup() -> None:
    print("start-up (wall s, best of 3):")
    for cmd in (["list"], ["--help"]):
        best = min(_timed([sys.executable, "-m", "simulator", *cmd]) for _ in range(3))
        print(f"  python -m simulator {' '.join(cmd):<8} {best:6.2f}")


def _timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, cwd=REPO)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", choices=["scaling", "workloads", "startup"])
    ap.add_argument("--no-fast-forward", action="store_true", help="measure the event-per-tile engine")
    ap.add_argument("--coarse-timeline", action="store_true", help="one timeline row per op and stream")
    ap.add_argument("--against", help="also measure the checkout in this folder (the 'before' columns)")
    ap.add_argument("--workload", default="resnet18", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.workload, args.config, args.batch, args.child, not args.no_fast_forward, args.coarse_timeline)
        return 0
    engine = "event-per-tile engine" if args.no_fast_forward else "fast-forward engine"
    if args.coarse_timeline:
        engine += ", coarse timeline"
    if args.only in (None, "scaling"):
        print(f"Batch scaling, training step ({engine}, CPU seconds):")
        print(HEADER + (AGAINST if args.against else ""))
        for workload, batch in SCALING:
            r, before = _both(workload, batch, args)
            print(_line(workload, batch, r, before), flush=True)
        print()
    if args.only in (None, "workloads"):
        print(f"Built-in networks, training step at batch 32 ({engine}, CPU seconds):")
        print(HEADER + (AGAINST if args.against else ""))
        total = total_before = 0.0
        for workload in WORKLOADS:
            r, before = _both(workload, 32, args)
            total += r["cpu_s"]
            total_before += before["cpu_s"] if before else 0.0
            print(_line(workload, 32, r, before), flush=True)
        print(f"{'total':<14} {'':>5} {total:7.2f}" + (f" {'':>9} {'':>9} {'':>12} {'':>9} {'':>14} {total_before:12.2f}"
                                                      if args.against else ""))
        print()
    if args.only in (None, "startup"):
        _startup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

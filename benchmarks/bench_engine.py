"""Speed and memory of the engine: the default ResNet-18 training step and its forward pass.

Run by hand: ``python benchmarks/bench_engine.py [--workload resnet18] [--config F] [--repeat 3]``.
Each scenario runs in a fresh process so its peak memory (max RSS) is its own; the figure reported
is the best wall time of the repeats (time to simulate, HDF5 writing included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

SCENARIOS = {"training step": "fwd,bwd_data,bwd_weight,wu", "forward only": "fwd"}


def _child(workload: str, config: str | None, phases: str) -> None:
    from simulator import run
    from simulator.config import load_config

    cfg = load_config(config)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = run(cfg, workload, phases=tuple(phases.split(",")), out=f"{tmp}/bench.h5")
        wall = time.perf_counter() - t
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "cycles": res.total_cycles, "events": res.events, "tiles": res.tiles,
                      "timeline_rows": len(res.timeline), "peak_rss_mib": peak_mib}))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="resnet18")
    ap.add_argument("--config")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.workload, args.config, args.child)
        return 0
    print(f"{'scenario':<15} {'wall s':>8} {'sim cycles':>14} {'events':>9} {'tiles':>8} {'peak MiB':>9}")
    for name, phases in SCENARIOS.items():
        best = None
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, "--workload", args.workload, "--child", phases]
            if args.config:
                cmd += ["--config", args.config]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if best is None or r["wall_s"] < best["wall_s"]:
                best = r
        print(f"{name:<15} {best['wall_s']:8.2f} {best['cycles']:14,} {best['events']:9,} {best['tiles']:8,} "
              f"{best['peak_rss_mib']:9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

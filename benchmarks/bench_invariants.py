"""Cost of the invariants every run is checked against (`simulator.invariants`), against the run.

Run by hand: ``python benchmarks/bench_invariants.py [--workload resnet18] [--config F] [--repeat 3]``.
Each repeat is one `simulator.run` writing its HDF5 file, as ``python -m simulator workload`` does; the
checks' own time is measured around `check_run` (plus the timeline tally's time as rows are written).
Times are CPU seconds of this process (the machine is shared); the target is below 2% of the run.
Exits 1 if the best repeat is over the target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

TARGET_FRACTION = 0.02


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="resnet18")
    ap.add_argument("--config")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from simulator import api, invariants
    from simulator.config import load_config

    spent = {"check": 0.0}
    real_check, real_add = api.check_run, invariants.TimelineTally.add

    def timed_check(*a):
        t = time.process_time()
        real_check(*a)
        spent["check"] += time.process_time() - t

    def timed_add(self, rows):
        t = time.process_time()
        real_add(self, rows)
        spent["check"] += time.process_time() - t

    api.check_run = timed_check
    invariants.TimelineTally.add = timed_add
    cfg = load_config(args.config)
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            spent["check"] = 0.0
            t = time.process_time()
            api.run(cfg, args.workload, out=Path(tmp) / f"r{k}.h5")
            total = time.process_time() - t
            frac = spent["check"] / total
            print(f"{args.workload}: run {total:.2f} CPU s, invariants {spent['check'] * 1e3:.1f} ms ({frac:.2%})")
            best = frac if best is None else min(best, frac)
    print(f"best: {best:.2%} of the run (target < {TARGET_FRACTION:.0%})")
    return 0 if best < TARGET_FRACTION else 1


if __name__ == "__main__":
    sys.exit(main())

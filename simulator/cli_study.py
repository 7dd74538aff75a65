"""``python -m simulator study NAME|FILE.yaml [--quick] [--out DIR] [--scheduler ADDRESS] [--workers N]``."""

from __future__ import annotations

import shlex
import sys

from models.errors import UserError


def add_parser(sub) -> None:
    from simulator.study.spec import builtin_studies

    p = sub.add_parser("study", help="run a study: many points fanned out on Dask, with tables, plots and a report")
    p.add_argument("name", help=f"built-in study ({', '.join(builtin_studies())}) or a study .yaml")
    p.add_argument("--quick", action="store_true", help="the study's small grid (its quick: section)")
    p.add_argument("--out", help="output folder (default: traces/studies/<name>, <name>-quick with --quick)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default: one per core)")


def run(args) -> int:
    from rich.console import Console

    from simulator.study import execute

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be a positive integer")
    if args.workers is not None and args.scheduler:
        raise UserError("--workers: not used with --scheduler (the existing cluster has its own workers)")
    if args.scheduler and "://" not in args.scheduler:
        raise UserError(f"--scheduler {args.scheduler}: expected an address like tcp://HOST:PORT")
    from simulator.outputs import check_out_dir
    from simulator.study import STUDIES_DIR

    # before Dask starts: the folder (default: one under STUDIES_DIR) can be created and written
    check_out_dir(args.out if args.out is not None else STUDIES_DIR, "--out")
    command = shlex.join(["python", "-m", "simulator"] + sys.argv[1:]) if sys.argv[1:2] == ["study"] else None
    err = Console(stderr=True)
    study = execute(args.name, quick=args.quick, out=args.out, scheduler=args.scheduler, workers=args.workers,
                    progress=True, console=err, command=command)
    failed = [r for r in study["rows"] if r["error"]]
    print(f"{study['name']}: {len(study['rows'])} points ({len(failed)} failed, {study['cached']} cached) "
          f"in {study['seconds']:.1f} s -> {study['out']}/index.html")
    for r in failed:
        label_end = list(r).index("technology")
        where = ", ".join(f"{k}={r[k]}" for k in list(r)[:label_end])
        print(f"failed: {where}: [{r['error_kind']}] {r['error']}", file=sys.stderr)
    return 1 if failed else 0

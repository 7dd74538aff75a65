"""``python -m simulator``: parses arguments, calls the library, renders reports.

Bad input prints one line on stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from models.errors import UserError
from simulator import schema

# Subcommands that live in their own modules, each with add_parser(subparsers) and run(args) -> int.
PLUGIN_COMMANDS = ("simulator.cli_device", "simulator.cli_train", "simulator.cli_trace")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UserError(f"{self.prog}: {message}")


def parse_phases(text: str) -> tuple[str, ...]:
    phases = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in phases if p not in schema.PHASES]
    if bad or not phases:
        raise UserError(f"--phases {text}: unknown phase {bad[0] if bad else '(empty)'!r} "
                        f"(accepted: a comma list of {', '.join(schema.PHASES)})")
    return tuple(p for p in schema.PHASES if p in phases)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key by its dotted path, e.g. memories.spm_act.banks=32")
    p.add_argument("--phases", default=",".join(schema.PHASES), help="comma list of phases to simulate")
    p.add_argument("--ideal-memory", action="store_true",
                   help="zero-latency memories with unlimited bandwidth and capacity, no DMA time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fast-forward", dest="fast_forward", action="store_false",
                   help="simulate every tile as events (the exact oracle of the default steady-state fast-forward)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m simulator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    w = sub.add_parser("workload", help="simulate one training step of a workload")
    w.add_argument("name", help="built-in workload name, a layer-trace .yaml or a SCALE-Sim topology .csv")
    w.add_argument("--config", help="YAML config (default: configs/default.yaml)")
    w.add_argument("--out", help="HDF5 output file (default: traces/runs/<workload>-<time>.h5)")
    w.add_argument("--dry-run", action="store_true", help="validate config and workload only")
    w.add_argument("--top", type=int, default=10, help="how many slowest layer ops to list")
    _add_run_options(w)

    c = sub.add_parser("compare", help="run one workload on two or more configs and compare them")
    c.add_argument("name")
    c.add_argument("configs", nargs="+", help="two or more YAML configs")
    _add_run_options(c)

    sub.add_parser("list", help="list built-in workloads and shipped configs")

    for modname in PLUGIN_COMMANDS:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                raise
            continue
        mod.add_parser(sub)
    return parser


def _cmd_workload(args) -> int:
    from simulator.api import run
    from simulator.config import load_config
    from simulator.report import render_run
    from simulator.workload_source import resolve

    phases = parse_phases(args.phases)
    cfg = load_config(args.config, args.overrides, ideal_memory=args.ideal_memory)
    trace = resolve(args.name)
    if args.out and not Path(args.out).parent.exists():
        raise UserError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")
    if args.dry_run:
        from simulator.placement import Planner
        from workloads.phases import expand

        ops = expand(trace, cfg.training.batch, cfg.array.precision, cfg.training.optimizer, phases)
        Planner(cfg, args.ideal_memory).plan(ops)
        print(f"ok: {cfg.source} and {trace.workload} ({len(trace.layers)} layers, {len(ops)} ops) are valid")
        return 0
    result = _with_progress(lambda: run(cfg, trace, phases=phases, ideal_memory=args.ideal_memory,
                                        out=args.out, seed=args.seed, fast_forward=args.fast_forward),
                            f"simulating {trace.workload}")
    render_run(result, top=args.top)
    return 0


def _cmd_compare(args) -> int:
    from simulator.api import run
    from simulator.config import load_config
    from simulator.report import render_compare
    from simulator.workload_source import resolve

    if len(args.configs) < 2:
        raise UserError("compare: give two or more configs")
    phases = parse_phases(args.phases)
    trace = resolve(args.name)
    configs = [load_config(c, args.overrides, ideal_memory=args.ideal_memory) for c in args.configs]
    results = [_with_progress(lambda cfg=cfg: run(cfg, trace, phases=phases, ideal_memory=args.ideal_memory,
                                                  write=False, timeline=False, seed=args.seed,
                                                  fast_forward=args.fast_forward),
                              f"simulating {trace.workload} on {cfg.source}") for cfg in configs]
    render_compare(results)
    return 0


def _cmd_list(args) -> int:
    from rich.table import Table

    from simulator.config import CONFIG_DIR
    from simulator.report import make_console
    from simulator.workload_source import LAYER_DIR, builtin_workloads
    from workloads.layers import load_trace

    console = make_console()
    t = Table(title="Built-in workloads (traces/layers/)", title_justify="left")
    for col in ("name", "layers", "GEMM layers", "parameters", "input"):
        t.add_column(col)
    for name in builtin_workloads():
        tr = load_trace(LAYER_DIR / f"{name}.yaml")
        t.add_row(name, str(len(tr.layers)), str(sum(1 for layer in tr.layers if layer.is_gemm)),
                  f"{sum(layer.weight_elems for layer in tr.layers) / 1e6:.2f} M", "x".join(map(str, tr.input_shape)))
    console.print(t)
    t = Table(title="Configs (configs/)", title_justify="left")
    t.add_column("file")
    t.add_column("description")
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0] if path.read_text() else ""
        t.add_row(str(path.relative_to(CONFIG_DIR.parent)), first.lstrip("# "))
    console.print(t)
    return 0


def _with_progress(fn, label: str):
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        return fn()
    with console.status(label):
        return fn()


COMMANDS = {"workload": _cmd_workload, "compare": _cmd_compare, "list": _cmd_list}


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        handler = COMMANDS.get(args.command)
        if handler is None:
            return importlib.import_module(f"simulator.cli_{args.command}").run(args)
        return handler(args)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``python -m simulator``: parses arguments, calls the library, renders reports.

Bad input prints one line on stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path

from models.errors import UserError
from models.package_data import data_dir

# Subcommands that live in their own modules, each with add_parser(subparsers) and run(args) -> int.
# command -> (module, its one-line help). `--help` lists them without importing them (a test keeps each
# help equal to the one its module's parser declares).
PLUGIN_COMMANDS = {
    "device": ("simulator.cli_device",
               "write voltage / pulse sweep of a memory's operating points (MRAM technologies)"),
    "train": ("simulator.cli_train", "train with a run's memory bit errors next to an error-free baseline"),
    "trace": ("simulator.cli_trace", "inspect a run file: show, export (Perfetto, DRAM traces), diff"),
    "study": ("simulator.cli_study", "run a study: many points fanned out on Dask, with tables, plots and a report"),
}
# `list` and `--help` must start fast: they import no numpy/h5py/simpy/numba (tests/test_startup.py),
# so these paths are found here rather than through simulator.config (which imports the schema).
REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = data_dir("configs")
LAYER_DIR = data_dir("layers")
PHASES_HELP = "comma list of phases to simulate (default: all, fwd,bwd_data,bwd_weight,wu)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UserError(f"{self.prog}: {message}")


SEED_MAX = 2**32 - 1  # numpy's legacy and scikit-learn's random_state take seeds below 2**32


def parse_seed(text: str) -> int:
    """``--seed`` of the commands that use random numbers (train, device): an integer in [0, 2**32)."""
    try:
        value = int(text.replace("_", ""), 10)
    except (ValueError, AttributeError):
        value = None
    if value is None or not 0 <= value <= SEED_MAX:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise argparse.ArgumentTypeError(f"{shown!r}: expected an integer from 0 to {SEED_MAX}")
    return value


class _RemovedSeed(argparse.Action):
    """`workload` and `compare` have no random numbers: a seed would change nothing (docs/outputs.md)."""

    def __call__(self, parser, namespace, values, option_string=None):
        raise UserError(f"{parser.prog}: --seed: this command uses no random numbers (a run is a function of its "
                        "config and workload), so it takes no seed; seeds belong to train and device --mc")


def parse_phases(text: str | None) -> tuple[str, ...]:
    from simulator import schema

    if text is None:
        return tuple(schema.PHASES)
    phases = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in phases if p not in schema.PHASES]
    if bad or not phases:
        raise UserError(f"--phases {text}: unknown phase {bad[0] if bad else '(empty)'!r} "
                        f"(accepted: a comma list of {', '.join(schema.PHASES)})")
    return tuple(p for p in schema.PHASES if p in phases)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key by its dotted path, e.g. memories.spm_act.banks=32")
    p.add_argument("--phases", help=PHASES_HELP)
    p.add_argument("--ideal-memory", action="store_true",
                   help="zero-latency memories with unlimited bandwidth and capacity, no DMA time")
    p.add_argument("--seed", action=_RemovedSeed, help=argparse.SUPPRESS)
    p.add_argument("--no-fast-forward", dest="fast_forward", action="store_false",
                   help="simulate every tile as events (the exact oracle of the default steady-state fast-forward)")


PLUGIN_MODULES: dict[str, str] = {}  # command -> module, filled by build_parser


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the plugin module of the command asked for is imported (the
    others get a stub with their help line, so ``--help`` lists them)."""
    parser = _Parser(prog="python -m simulator", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    w = sub.add_parser("workload", help="simulate one training step of a workload")
    w.add_argument("name", help="built-in workload name, a layer-trace .yaml or a SCALE-Sim topology .csv")
    w.add_argument("--config", help="YAML config (default: configs/default.yaml)")
    w.add_argument("--out", help="HDF5 output file (default: traces/runs/<workload>-<time>.h5)")
    w.add_argument("--dry-run", action="store_true", help="validate config and workload only")
    w.add_argument("--coarse-timeline", dest="timeline", action="store_const", const="op", default=True,
                   help="one timeline row per op and stream (hw unit, slot, tensor class, stall) instead of per slice")
    w.add_argument("--top", type=int, default=10, help="how many slowest layer ops to list")
    _add_run_options(w)

    c = sub.add_parser("compare", help="run one workload on two or more configs and compare them")
    c.add_argument("name")
    c.add_argument("configs", nargs="+", help="two or more YAML configs")
    _add_run_options(c)
    c.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="configs simulated at once, each in its own process (default: one per CPU core)")

    sub.add_parser("list", help="list built-in workloads and shipped configs")

    asked = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for command, (modname, help_text) in PLUGIN_COMMANDS.items():
        PLUGIN_MODULES[command] = modname
        if argv is not None and command != asked:
            sub.add_parser(command, help=help_text, add_help=False)
            continue
        importlib.import_module(modname).add_parser(sub)
    return parser


def run_inputs(args) -> dict[str, Path]:
    """The files a workload run reads (an output must not be one of them)."""
    name = Path(args.name)
    workload = name if name.suffix.lower() in (".csv", ".yaml", ".yml") else LAYER_DIR / f"{args.name}.yaml"
    return {"--config": Path(args.config) if args.config else CONFIG_DIR / "default.yaml", "NAME": workload}


def _cmd_workload(args) -> int:
    from simulator.config import load_config
    from simulator.report import render_run
    from simulator.runner import run_with_progress
    from simulator.workload_source import resolve

    from simulator.outputs import check_out

    if args.out is not None:
        check_out(args.out, "--out", run_inputs(args), accepted="a new or regular .h5 file path in a writable folder")
    phases = parse_phases(args.phases)
    cfg = load_config(args.config, args.overrides, ideal_memory=args.ideal_memory)
    trace = resolve(args.name)
    if args.dry_run:
        from simulator.placement import Planner
        from workloads.phases import expand

        ops = expand(trace, cfg.training.batch, cfg.array.precision, cfg.training.optimizer, phases)
        Planner(cfg, args.ideal_memory).plan(ops)
        print(f"ok: {cfg.source} and {trace.workload} ({len(trace.layers)} layers, {len(ops)} ops) are valid")
        return 0
    result = run_with_progress(f"simulating {trace.workload}", cfg, trace, phases=phases,
                               ideal_memory=args.ideal_memory, out=args.out, fast_forward=args.fast_forward,
                               timeline=args.timeline)
    render_run(result, top=args.top)
    return 0


def _cmd_compare(args) -> int:
    from simulator.config import load_config
    from simulator.report import render_compare
    from simulator.runner import run_configs
    from simulator.workload_source import resolve

    if len(args.configs) < 2:
        raise UserError("compare: give two or more configs")
    phases = parse_phases(args.phases)
    trace = resolve(args.name)
    configs = [load_config(c, args.overrides, ideal_memory=args.ideal_memory) for c in args.configs]
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"compare: --jobs {args.jobs} (must be at least 1)")
    results = run_configs(configs, trace, [str(cfg.source) for cfg in configs], args.jobs, phases=phases,
                          ideal_memory=args.ideal_memory, write=False, timeline=False,
                          fast_forward=args.fast_forward)
    render_compare(results)
    return 0


def _cmd_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from workloads.layers import load_trace

    console = Console()  # COLUMNS when set (also piped), else the terminal width, else 80
    t = Table(title="Built-in workloads (traces/layers/)", title_justify="left")
    for col in ("name", "layers", "GEMM layers", "parameters", "input"):
        t.add_column(col)
    for path in sorted(LAYER_DIR.glob("*.yaml")):
        tr = load_trace(path)
        t.add_row(path.stem, str(len(tr.layers)), str(sum(1 for layer in tr.layers if layer.is_gemm)),
                  f"{sum(layer.weight_elems for layer in tr.layers) / 1e6:.2f} M", "x".join(map(str, tr.input_shape)))
    console.print(t)
    t = Table(title="Configs (configs/)", title_justify="left")
    t.add_column("file", no_wrap=True)  # a path is never cut; the description wraps
    t.add_column("description")
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0] if path.read_text() else ""
        t.add_row(str(path.relative_to(CONFIG_DIR.parent)), first.lstrip("# "))
    console.print(t)
    return 0


COMMANDS = {"workload": _cmd_workload, "compare": _cmd_compare, "list": _cmd_list}


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 2 bad input (one line), 3 a broken invariant (a simulator bug, one line),
    130 / 143 interrupted by SIGINT / SIGTERM (no output left half-written), 1 a failed study point."""
    from simulator import outputs

    with outputs.signal_handling(restore=argv is not None):  # argv None: main is the program
        try:
            status = _dispatch(sys.argv[1:] if argv is None else argv)
        except UserError as exc:
            print(str(exc), file=sys.stderr)
            status = 2
        except (KeyboardInterrupt, outputs.Terminated):
            if outputs.pending_signal() is None:  # raised by code, not by a signal
                print("interrupted", file=sys.stderr)
            status = outputs.exit_status(outputs.pending_signal() or signal.SIGINT)
        except Exception as exc:
            from simulator.invariants import EXIT_STATUS, InvariantError

            if not isinstance(exc, InvariantError):
                raise
            print(str(exc), file=sys.stderr)
            status = EXIT_STATUS
        pending = outputs.pending_signal()
        if pending is not None:  # also a signal something swallowed (outputs' docstring)
            print("interrupted" if pending == signal.SIGINT else "terminated", file=sys.stderr)
            status = outputs.exit_status(pending)
    return status


def _dispatch(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = COMMANDS.get(args.command)
    if handler is None:
        return importlib.import_module(PLUGIN_MODULES[args.command]).run(args)
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())

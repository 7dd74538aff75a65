"""``python -m simulator train --from RUN.h5``: replay a run's memory errors in real training.

Reads the run's ``/errors`` ledger (and ``/layers`` for the layer names) with h5py, turns it into
per-(layer, tensor class) bit error probabilities (`workloads.faults`), trains the same network
family error-free and with those errors (`workloads.train`), prints loss and accuracy per epoch for
both and writes them to JSON or HDF5. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import yaml

from models.errors import UserError
from simulator.fileio import atomic_output
from simulator import schema
from workloads import optimizers

DEFAULT_FORMAT = "bf16"
# the classes workloads.faults injects (it imports torch, so it is not imported here)
INJECT_CLASSES = tuple(c for c in schema.TENSOR_CLASSES if c != "none")
EPOCH_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train with a run's memory bit errors next to an error-free baseline")
    p.add_argument("--from", dest="source", required=True, metavar="FILE.h5", help="a run file with /errors")
    p.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    p.add_argument("--inject", default=",".join(INJECT_CLASSES),
                   help=f"comma list of tensor classes to corrupt (default: all of {', '.join(INJECT_CLASSES)})")
    p.add_argument("--ber", action="append", default=[], metavar="CLASS=P",
                   help="bit error probability P for every layer's CLASS, instead of the ledger's (repeatable)")
    p.add_argument("--format", dest="fmt", choices=("bf16", "fp16", "fp32", "int8"),
                   help="number format of stored data (default: the run's array.precision, else bf16)")
    p.add_argument("--data", help="CIFAR-10 folder in its python format (default: scikit-learn's digits)")
    p.add_argument("--model", help="zoo model to train (default: the run's workload)")
    p.add_argument("--width", type=float, help="channel width multiplier (default: per model, e.g. 0.125)")
    p.add_argument("--input-size", type=int, help="image side the data is resized to (default: per model)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch (default: 64)")
    p.add_argument("--lr", type=float, default=0.02, help="learning rate (default: 0.02)")
    p.add_argument("--optimizer", default=None, choices=optimizers.names(),
                   help="default: the run's training.optimizer, so the replay trains as the run accounted")
    p.add_argument("--max-batches", type=int, help="train on at most this many batches per epoch")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, batch order and flips (default: 0)")
    p.add_argument("--out", help="results file, .json or .h5 (default: FILE.train.json beside the run)")
    return p


# ---------------------------------------------------------------- reading the ledger


def _decode(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_ledger(path: str | Path) -> tuple[str, dict, list[dict]]:
    """(workload, the run's resolved config ({} if absent), /errors rows as plain dicts with the layer's name)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--from {path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise UserError(f"--from {path}: not an HDF5 file") from None
    with f:
        for name in ("errors", "layers"):
            if name not in f:
                raise UserError(f"{path}: no /{name} table (not a run file from `python -m simulator workload`)")
        workload = _decode(f.attrs.get("workload", ""))
        config = _run_config(path, f.attrs.get("config_yaml"))
        layers = f["layers"][()]
        errors = f["errors"][()]
        missing = [c for c, _ in schema.ERRORS_FIELDS if c not in (errors.dtype.names or ())]
        if missing:
            raise UserError(f"{path}: /errors has no field {missing[0]!r}")
        codes = h5py.check_enum_dtype(f["errors"].dtype["tensor_class"])
        class_of = {code: name for name, code in codes.items()} if codes else dict(enumerate(schema.TENSOR_CLASSES))
    names = {int(lid): _decode(name) for lid, name in zip(layers["layer_id"], layers["layer"])}
    records = []
    for i, row in enumerate(errors):
        layer_id = int(row["layer_id"])
        if layer_id not in names:
            raise UserError(f"{path}: /errors row {i} has layer_id {layer_id}, which /layers does not name")
        rec = {c: row[c].item() for c, _ in schema.ERRORS_FIELDS if c not in ("tensor_class", "memory")}
        rec["layer"] = names[layer_id]
        rec["tensor_class"] = class_of.get(int(row["tensor_class"]), str(row["tensor_class"]))
        rec["memory"] = _decode(row["memory"])
        records.append(rec)
    return workload, config, records


def _run_config(path: Path, config_yaml) -> dict:
    if config_yaml is None:
        return {}
    try:
        cfg = yaml.safe_load(_decode(config_yaml))
    except yaml.YAMLError:
        raise UserError(f"{path}: root attribute config_yaml is not valid YAML") from None
    return cfg if isinstance(cfg, dict) else {}


def _config_value(config: dict, section: str, key: str) -> str | None:
    value = (config.get(section) or {}).get(key) if isinstance(config.get(section), dict) else None
    return None if value is None else str(value)


# ---------------------------------------------------------------- results


def _run_dict(run) -> dict:
    d = asdict(run)
    d["diverged_at"] = run.diverged.describe() if run.diverged else None
    return d


def results_dict(replay, meta: dict, probabilities: dict) -> dict:
    return {**meta,
            "settings": asdict(replay.settings),
            "dataset": replay.dataset,
            "overhead": replay.overhead,
            "probabilities": [{"layer": layer, "tensor_class": cls, "p_bit_error": p}
                              for (layer, cls), p in sorted(probabilities.items())],
            "baseline": _run_dict(replay.baseline),
            "injected": _run_dict(replay.injected)}


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _write_h5(tmp: str, results: dict) -> None:
    epoch_dt = [("epoch", "i4")] + [(f, "f8") for f in EPOCH_FIELDS] + [(f"flips_{c}", "i8") for c in INJECT_CLASSES]
    with h5py.File(tmp, "w") as f:
        for key in ("source", "workload", "model", "dataset", "format", "inject", "ber"):
            f.attrs[key] = str(results[key])
        f.attrs["seed"] = int(results["settings"]["seed"])
        f.attrs["overhead"] = float(results["overhead"])
        f.attrs["settings_json"] = json.dumps(results["settings"])
        for label in ("baseline", "injected"):
            run = results[label]
            rows = np.zeros(len(run["epochs"]), dtype=epoch_dt)
            for i, e in enumerate(run["epochs"]):
                rows[i] = (e["epoch"], *(e[k] for k in EPOCH_FIELDS), *(e["flips"].get(c, 0) for c in INJECT_CLASSES))
            g = f.create_group(label)
            g.create_dataset("epochs", data=rows)
            g.attrs["step_time_s"] = float(run["step_time_s"])
            g.attrs["diverged"] = run["diverged_at"] or ""
            for c in INJECT_CLASSES:
                g.attrs[f"flips_{c}"] = int(run["flips"].get(c, 0))
        probs = results["probabilities"]
        table = np.zeros(len(probs), dtype=[("layer", schema.NAME_DT), ("tensor_class", schema.CLASS_DT),
                                            ("p_bit_error", "f8")])
        codes = schema.enum_codes(schema.TENSOR_CLASSES)
        for i, row in enumerate(probs):
            table[i] = (row["layer"], codes[row["tensor_class"]], row["p_bit_error"])
        f.create_dataset("probabilities", data=table)


def check_out(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".json", ".h5", ".hdf5"):
        raise UserError(f"--out {path}: unknown file type {path.suffix or '(none)'!r} (accepted: .json, .h5, .hdf5)")
    if not path.parent.is_dir():
        raise UserError(f"--out {path}: folder {path.parent} does not exist")
    return path


def write_results(path: str | Path, results: dict) -> Path:
    """Write ``results`` as JSON (.json) or HDF5 (.h5, .hdf5), under a temporary name, then rename."""
    path = check_out(path)
    suffix = path.suffix.lower()
    with atomic_output(path) as tmp:
        if suffix == ".json":
            Path(tmp).write_text(json.dumps(_json_safe(results), indent=1) + "\n")
        else:
            _write_h5(tmp, results)
    return path


# ---------------------------------------------------------------- the command


def _render(console, replay, meta: dict) -> None:
    from rich.table import Table

    s = replay.settings
    console.print(f"{meta['model']} (width {s.width:g}, input {s.input_size}) on {replay.dataset}, "
                  f"{s.fmt} storage, seed {s.seed}; injecting {meta['inject']}"
                  + (f", overrides {meta['ber']}" if meta["ber"] else ""))
    t = Table(title="accuracy and loss per epoch", title_justify="left")
    for col in ("epoch", "baseline train loss", "baseline test acc", "injected train loss", "injected test acc",
                "flips"):
        t.add_column(col, justify="right")
    injected = {e.epoch: e for e in replay.injected.epochs}
    for e in replay.baseline.epochs:
        i = injected.get(e.epoch)
        t.add_row(str(e.epoch), f"{e.train_loss:.4f}", f"{e.test_accuracy:.2%}",
                  f"{i.train_loss:.4f}" if i else "diverged", f"{i.test_accuracy:.2%}" if i else "-",
                  str(sum(i.flips.values())) if i else "-")
    console.print(t)
    for run in (replay.baseline, replay.injected):
        if run.diverged:
            console.print(f"{run.label}: {run.diverged.describe()}")
    if math.isfinite(replay.overhead):
        console.print(f"median step time: baseline {replay.baseline.step_time_s * 1e3:.1f} ms, injected "
                      f"{replay.injected.step_time_s * 1e3:.1f} ms ({replay.overhead:.2f}x)")


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from workloads import data, faults, train

    inject = faults.parse_classes(args.inject)
    overrides = faults.parse_ber(args.ber)
    workload, run_config, records = read_ledger(args.source)
    precision = _config_value(run_config, "array", "precision")
    ledger = faults.bit_error_probabilities(records, source=f"{args.source}: /errors")
    model_name = args.model or workload
    if not model_name:
        raise UserError(f"{args.source}: no workload attribute; name the network with --model")
    fmt = args.fmt or precision or DEFAULT_FORMAT
    if fmt not in faults.FORMATS:
        raise UserError(f"{args.source}: array.precision = {fmt} (accepted: {', '.join(faults.FORMATS)})")
    out = check_out(args.out if args.out else Path(args.source).with_suffix(".train.json"))
    settings = train.TrainSettings(model=model_name, width=args.width, input_size=args.input_size,
                                   epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                   optimizer=args.optimizer or _config_value(run_config, "training", "optimizer")
                                   or train.TrainSettings.optimizer, fmt=fmt, seed=args.seed,
                                   max_batches=args.max_batches).resolved()
    dataset = data.load_dataset(args.data)
    model = train.build_model(settings, dataset)
    train.check_layers((layer for layer, _ in ledger), model, model_name, args.source)
    probabilities = faults.resolve_probabilities(ledger, sorted(train.model_layers(model)), inject, overrides)

    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"{label} training", total=total)
            bar.update(tasks[label], completed=done)

        replay = train.replay(settings, dataset, probabilities, progress)
    meta = {"source": str(args.source), "workload": workload, "model": model_name, "format": fmt,
            "inject": ",".join(inject), "ber": ",".join(f"{k}={v:g}" for k, v in overrides.items())}
    _render(console, replay, meta)
    write_results(out, results_dict(replay, meta, probabilities))
    console.print(f"results: {out}")
    return 0

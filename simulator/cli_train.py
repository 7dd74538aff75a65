"""``python -m simulator train --from RUN.h5``: replay a run's memory errors in real training.

Reads the run's ``/errors`` ledger (and ``/layers`` for the layer names) with h5py, turns it into
per-(layer, tensor class) bit error probabilities, per field where the ledger has a ``field`` column
(`workloads.faults`), trains the same network family error-free and with those errors over several
seeds (`workloads.seeds`), reports accuracy with 95% intervals and the paired difference
(`simulator.train_output`) and writes them to JSON or HDF5. torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py

from models.errors import UserError
from models.yamlio import parse_yaml
from simulator import schema
from simulator.cli import SEED_MAX, parse_seed
from simulator.train_output import INJECT_CLASSES, render, write_results
from workloads import optimizers

DEFAULT_FORMAT = "bf16"
# workloads.formats.FORMATS (it imports torch, so it is not imported here; a test keeps the two equal)
FORMAT_NAMES = ("bf16", "fp16", "fp32", "int8", "fx16")
DEFAULT_SEEDS = "3"
DEFAULT_DIGITS_FOLDS = 3
# optional /errors columns the replay reads when a run has them: ``field`` (sign, exponent, mantissa,
# all: rows per field of per-field write pulses, schema.ERRORS_FIELDS_PER_FIELD) and ``p_residual``
# (probability a stored bit reads back wrong after ECC and write-verify)
# Read when present: per-field rows, and p_residual (absent from files written before ECC was modelled).
OPTIONAL_ERRORS_FIELDS = ("field", "p_residual")
REQUIRED_ERRORS_FIELDS = tuple(c for c, _ in schema.ERRORS_FIELDS if c not in OPTIONAL_ERRORS_FIELDS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train with a run's memory bit errors next to an error-free baseline")
    p.add_argument("--from", dest="source", required=True, metavar="FILE.h5", help="a run file with /errors")
    p.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    p.add_argument("--inject", default=",".join(INJECT_CLASSES),
                   help=f"comma list of tensor classes to corrupt (default: all of {', '.join(INJECT_CLASSES)})")
    p.add_argument("--ber", action="append", default=[], metavar="CLASS=P",
                   help="bit error probability P for every layer's CLASS, instead of the ledger's (repeatable)")
    p.add_argument("--format", dest="fmt", choices=FORMAT_NAMES,
                   help="number format of stored data (default: the run's array.precision, else bf16)")
    p.add_argument("--protect", default="", metavar="FIELD,...",
                   help="fields of the format kept error-free, e.g. sign,exponent (bf16/fp16/fp32: sign, exponent, "
                        "mantissa; int8: sign, magnitude; fx16: sign, integer, fraction)")
    p.add_argument("--match", choices=("rate", "flips"), default="rate",
                   help="rate: inject the per-bit rate (default); flips: scale it per tensor class so the replay "
                        "sees as many flips per step as the simulated network")
    p.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="N|S1,S2,...",
                   help=f"N paired trainings with seeds --seed .. --seed+N-1, or a comma list (default: {DEFAULT_SEEDS})")
    p.add_argument("--workers", type=int, help="parallel processes (default: min(cores, seeds x folds))")
    p.add_argument("--folds", type=int,
                   help=f"digits: stratified k-fold cross-validation per seed, every image tested once "
                        f"(default: {DEFAULT_DIGITS_FOLDS}; 1: the fixed 80/20 split); CIFAR-10: 1")
    p.add_argument("--data", help="CIFAR-10 folder, binary or python format (default: scikit-learn's digits)")
    p.add_argument("--model", help="zoo model to train (default: the run's workload)")
    p.add_argument("--width", type=float, help="channel width multiplier (default: per model, e.g. 0.125)")
    p.add_argument("--input-size", type=int, help="image side the data is resized to (default: per model)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch (default: 64)")
    p.add_argument("--lr", type=float, default=0.02, help="learning rate (default: 0.02)")
    p.add_argument("--optimizer", default=None, choices=optimizers.names(),
                   help="default: the run's training.optimizer, so the replay trains as the run accounted")
    p.add_argument("--max-batches", type=int, help="train on at most this many batches per epoch")
    p.add_argument("--seed", type=parse_seed, default=0, help="first seed of weights, batch order and flips (default: 0)")
    p.add_argument("--out", help="results file, .json or .h5 (default: FILE.train.json beside the run)")
    return p


# ---------------------------------------------------------------- reading the ledger


def _decode(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def read_ledger(path: str | Path) -> tuple[str, dict, list[dict]]:
    """(workload, the run's resolved config ({} if absent), /errors rows as plain dicts with the layer's name).

    The file is checked by `simulator.h5read` (container, schema_version, fields, codes, sizes)."""
    from simulator import h5read

    path = Path(path)
    try:
        f = h5read.open_file(path)
    except UserError as exc:
        raise UserError(f"--from {exc}") from None
    with f:
        err_ds = h5read.dataset(f, path, "errors", schema.ERRORS_FIELDS, OPTIONAL_ERRORS_FIELDS)
        lay_ds = h5read.dataset(f, path, "layers", [c for c in schema.LAYERS_FIELDS if c[0] in ("layer", "layer_id")])
        h5read.check_version(f, path)
        workload = h5read.text_attr(f, path, "workload", required=False)
        config = _run_config(path, h5read.text_attr(f, path, "config_yaml", required=False) or None)
        layers = h5read.read_table(lay_ds, path, "layers")
        errors = h5read.read_table(err_ds, path, "errors")
        codes = h5py.check_enum_dtype(err_ds.dtype["tensor_class"])
        class_of = {code: name for name, code in codes.items()} if codes else dict(enumerate(schema.TENSOR_CLASSES))
        optional = [c for c in OPTIONAL_ERRORS_FIELDS if c in (errors.dtype.names or ())]
        field_codes = h5py.check_enum_dtype(err_ds.dtype["field"]) if "field" in optional else None
        field_of = {code: name for name, code in field_codes.items()} if field_codes else {}
    names = {int(lid): _decode(name) for lid, name in zip(layers["layer_id"], layers["layer"])}
    records = []
    for i, row in enumerate(errors):
        layer_id = int(row["layer_id"])
        if layer_id not in names:
            raise UserError(f"{path}: /errors row {i} has layer_id {layer_id}, which /layers does not name")
        rec = {c: row[c].item() for c in REQUIRED_ERRORS_FIELDS if c not in ("tensor_class", "memory")}
        rec["layer"] = names[layer_id]
        rec["tensor_class"] = class_of.get(int(row["tensor_class"]), str(row["tensor_class"]))
        rec["memory"] = _decode(row["memory"])
        if "field" in optional:
            value = row["field"]
            rec["field"] = field_of.get(int(value), str(value)) if field_codes else _decode(value)
        if "p_residual" in optional:
            rec["p_residual"] = float(row["p_residual"])
        records.append(rec)
    return workload, config, records


def _run_config(path: Path, config_yaml) -> dict:
    if config_yaml is None:
        return {}
    cfg = parse_yaml(_decode(config_yaml), f"{path}: root attribute config_yaml")
    return cfg if isinstance(cfg, dict) else {}


def _config_value(config: dict, section: str, key: str) -> str | None:
    value = (config.get(section) or {}).get(key) if isinstance(config.get(section), dict) else None
    return None if value is None else str(value)


def check_out(path: str | Path, inputs=()) -> Path:
    """The results file: .json/.h5/.hdf5, and safe to write (`simulator.outputs.check_out`)."""
    from simulator.outputs import check_out as check_output

    real = check_output(path, "--out", inputs, accepted="a new or regular .json/.h5 file path in a writable folder")
    if real.suffix.lower() not in (".json", ".h5", ".hdf5"):
        raise UserError(f"--out {path}: unknown file type {real.suffix or '(none)'!r} (accepted: .json, .h5, .hdf5)")
    return real


# ---------------------------------------------------------------- the command




def _flips_per_step(records: list[dict], probe, fmt, protect, inject, sim_bits_fn) -> dict:
    """Per tensor class: bits, mean per-bit rate and expected flips of one step, simulated vs replay."""
    simulated = sim_bits_fn(records, fmt, protect, inject)
    out = {}
    for cls in inject:
        keys = [k for k in probe.p if k[1] == cls]
        r_bits = float(sum(probe.bits_stored[k] for k in keys))
        r_flips = float(sum(probe.bits_stored[k] * fmt.mean_rate(probe.p[k]) for k in keys))
        s_bits, s_flips = simulated.get(cls, (0.0, 0.0))
        if s_bits or r_bits:
            out[cls] = {"simulated_bits": s_bits, "simulated_rate": s_flips / s_bits if s_bits else 0.0,
                        "simulated_flips": s_flips, "replay_bits": r_bits,
                        "replay_rate": r_flips / r_bits if r_bits else 0.0, "replay_flips": r_flips}
    return out


def run(args) -> int:
    import os

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from workloads import data, faults, formats, seeds, train

    out = check_out(args.out if args.out else Path(args.source).with_suffix(".train.json"),
                    {"--from": args.source, "--data": args.data})
    inject = faults.parse_classes(args.inject)
    overrides = faults.parse_ber(args.ber)
    if args.match == "flips" and overrides:
        raise UserError("--match flips scales the ledger's rates: it cannot be combined with --ber")
    seed_list = seeds.parse_seeds(args.seeds, args.seed)
    if max(seed_list) > SEED_MAX:
        raise UserError(f"--seeds {args.seeds[:40]}: seed {max(seed_list)} (with --seed {args.seed}) is above {SEED_MAX}")
    folds = args.folds if args.folds is not None else (1 if args.data else DEFAULT_DIGITS_FOLDS)
    if folds < 1:
        raise UserError(f"--folds {folds} (must be >= 1)")
    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, len(seed_list) * folds)
    if workers < 1:
        raise UserError(f"--workers {workers} (must be >= 1)")
    workload, run_config, records = read_ledger(args.source)
    precision = _config_value(run_config, "array", "precision")
    ledger = faults.field_error_probabilities(records, source=f"{args.source}: /errors")
    model_name = args.model or workload
    if not model_name:
        raise UserError(f"{args.source}: no workload attribute; name the network with --model")
    fmt_name = args.fmt or precision or DEFAULT_FORMAT
    if fmt_name not in formats.FORMATS:
        raise UserError(f"{args.source}: array.precision = {fmt_name} (accepted: {', '.join(formats.FORMATS)})")
    fmt = formats.FORMATS[fmt_name]
    protect = formats.parse_protect(args.protect, fmt)
    settings = train.TrainSettings(model=model_name, width=args.width, input_size=args.input_size,
                                   epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                   optimizer=args.optimizer or _config_value(run_config, "training", "optimizer")
                                   or train.TrainSettings.optimizer, fmt=fmt_name, seed=seed_list[0],
                                   max_batches=args.max_batches).resolved()
    splits = data.load_splits(args.data, folds, seed_list[0])
    dataset = splits[0]
    model = train.build_model(settings, dataset)
    train.check_layers((layer for layer, _ in ledger), model, model_name, args.source)
    rates = faults.resolve_probabilities(ledger, sorted(train.model_layers(model)), inject, overrides)
    probe = train.stored_bits_per_step(settings, dataset, rates, protect)
    flips = _flips_per_step(records, probe, fmt, protect, inject, faults.simulated_flips_per_step)
    if args.match == "flips":
        scale = {cls: r["simulated_flips"] / r["replay_flips"] for cls, r in flips.items() if r["replay_flips"] > 0}
        rates = {key: faults.scale_rates(r, scale.get(key[1], 1.0)) for key, r in rates.items()}
        probe = train.stored_bits_per_step(settings, dataset, rates, protect)
        flips = _flips_per_step(records, probe, fmt, protect, inject, faults.simulated_flips_per_step)
        for cls, r in flips.items():
            r["scale"] = scale.get(cls, 1.0)
    evaluation = ("digits, fixed 80/20 split (359 test images)" if args.data is None and folds == 1 else
                  f"digits, {folds}-fold stratified cross-validation per seed (all 1797 images tested)"
                  if args.data is None else f"CIFAR-10 ({len(dataset.y_test)} test images)")

    err = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[int, int] = {}

        def progress(seed: int, done: int, total: int) -> None:
            if seed not in tasks:
                tasks[seed] = bar.add_task(f"seed {seed}", total=total)
            bar.update(tasks[seed], completed=done)

        for seed in seed_list:
            progress(seed, 0, 2 * folds * seeds.steps_per_run(settings, len(dataset.y_train)))
        summary = seeds.run_seeds(settings, args.data, folds, seed_list, rates, protect, workers, progress,
                                  train_images=len(dataset.y_train))
    meta = {"source": str(args.source), "workload": workload, "model": model_name, "format": fmt_name,
            "inject": ",".join(inject), "ber": ",".join(f"{k}={v:g}" for k, v in overrides.items()),
            "protect": ",".join(sorted(protect)), "match": args.match, "dataset": dataset.name.split(" fold")[0],
            "evaluation": evaluation, "folds": folds, "workers": workers}
    probabilities = [{"layer": layer, "tensor_class": cls, "p_bit_error": fmt.mean_rate(probe.p[(layer, cls)]),
                      "fields": dict(r) if isinstance(r, dict) else {"all": r}}
                     for (layer, cls), r in sorted(rates.items()) if (layer, cls) in probe.p]
    from simulator.train_output import results_dict
    results = results_dict(summary, meta, settings, probabilities, flips)
    console = Console()
    render(console, results)
    write_results(out, results)
    console.print(f"results: {out}")
    return 0

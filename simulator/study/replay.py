"""Training replays of study points: each replayed point's ``/errors`` ledger trained into the zoo
network over several seeds (`workloads.train`, `workloads.seeds`), one accuracy interval per target.

A target is a set of tensor classes to corrupt (``all``: every class; or one class name). One seed
of one target is one task: the injected runs of its folds. The error-free baseline depends only on
the training settings and the seed, so it is one task per (settings, seed) shared by every point and
target; a target whose ledger carries no error for its classes gives a run bit-identical to the
baseline (`workloads.train`) and is not trained again. Tasks are pure functions of (ledger rows,
settings, seed, folds, format, protection, match, simulator version) and cached like points.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from models.errors import UserError
from simulator.train_output import INJECT_CLASSES

TARGET_ALL = "all"
REPLAY_KEYS = ("seeds", "folds", "targets", "format", "protect", "match", "epochs", "batch_size", "lr",
               "max_batches", "optimizer", "model", "width", "input_size", "points")
MATCH_MODES = ("rate", "flips")
# Fields of the replay's storage formats (workloads.formats; that module imports torch, the spec does not).
PROTECT_FIELDS = ("sign", "exponent", "mantissa", "magnitude", "integer", "fraction")
_RECORD_KEYS = ("layer", "tensor_class", "memory", "bits_written", "bits_read", "switch_fraction", "p_write_p2ap",
                "p_write_ap2p", "p_read_disturb", "p_retention", "p_residual", "field")


@dataclass(frozen=True)
class ReplaySpec:
    seeds: tuple[int, ...] = (0, 1, 2)
    folds: int = 1
    targets: tuple[str, ...] = (TARGET_ALL,)
    format: str | None = None  # default: the point's array.precision
    protect: tuple[str, ...] = ()
    match: str = "rate"
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.02
    max_batches: int | None = None
    optimizer: str | None = None  # default: the point's training.optimizer
    model: str | None = None  # default: the point's workload
    width: float | None = None
    input_size: int | None = None
    points: object = "all"  # "all", {"front": NAME} or {column: value, ...}


def replay_columns(spec: ReplaySpec) -> list[str]:
    cols = ["replayed", "accuracy_baseline", "accuracy_baseline_ci_low", "accuracy_baseline_ci_high"]
    for t in spec.targets:
        cols += [f"accuracy_{t}", f"accuracy_{t}_ci_low", f"accuracy_{t}_ci_high", f"accuracy_diff_{t}",
                 f"accuracy_diff_{t}_ci_low", f"accuracy_diff_{t}_ci_high", f"accuracy_diff_{t}_significant",
                 f"diverged_fraction_{t}"]
    return cols + ["replay_error"]


def headline_target(targets) -> str:
    """The target summaries and claims judge accuracy by: ``all`` when replayed, else the first."""
    return TARGET_ALL if TARGET_ALL in targets else targets[0]


def _int(v, key, where, lo, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        where.fail(key, v, f"an integer >= {lo}" + (" or null" if allow_none else ""))
    return v


def _pos(v, key, where, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        where.fail(key, v, "a number > 0" + (" or null" if allow_none else ""))
    return float(v)


def parse_replay(doc, quick_doc, where, quick: bool) -> ReplaySpec | None:
    """``replay:`` (with ``quick.replay:`` merged over it in quick mode) -> `ReplaySpec`."""
    from simulator.cli_train import FORMAT_NAMES
    from workloads import optimizers

    if doc is None:
        if quick_doc is not None:
            where.fail("quick.replay", quick_doc, "needs a replay: section to shorten")
        return None
    for name, d in (("replay", doc), ("quick.replay", quick_doc)):
        if d is None:
            continue
        where.mapping(name, d, REPLAY_KEYS)
    d = {**doc, **(quick_doc or {})} if quick else dict(doc)
    key = lambda k: f"{'quick.replay' if quick and quick_doc and k in quick_doc else 'replay'}.{k}"  # noqa: E731
    out = {}
    seeds = d.get("seeds", 3)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        out["seeds"] = tuple(range(seeds))
    elif (isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                     for s in seeds) and len(set(seeds)) == len(seeds)):
        out["seeds"] = tuple(seeds)
    else:
        where.fail(key("seeds"), seeds, "a count >= 1 or a list of distinct seeds >= 0")
    out["folds"] = _int(d.get("folds", 1), key("folds"), where, 1)
    targets = d.get("targets", [TARGET_ALL])
    accepted = (TARGET_ALL,) + tuple(INJECT_CLASSES)
    if (not isinstance(targets, list) or not targets or any(t not in accepted for t in targets)
            or len(set(targets)) < len(targets)):
        where.fail(key("targets"), targets, f"a list of distinct targets from {', '.join(accepted)}")
    out["targets"] = tuple(targets)
    fmt = d.get("format")
    if fmt is not None and fmt not in FORMAT_NAMES:
        where.fail(key("format"), fmt, f"accepted: {', '.join(FORMAT_NAMES)} (default: the config's array.precision)")
    out["format"] = fmt
    protect = d.get("protect", [])
    if not isinstance(protect, list) or any(p not in PROTECT_FIELDS for p in protect):
        where.fail(key("protect"), protect, f"a list of format fields from {', '.join(PROTECT_FIELDS)}")
    out["protect"] = tuple(protect)
    match = d.get("match", "rate")
    if match not in MATCH_MODES:
        where.fail(key("match"), match, f"accepted: {', '.join(MATCH_MODES)}")
    out["match"] = match
    out["epochs"] = _int(d.get("epochs", 3), key("epochs"), where, 1)
    out["batch_size"] = _int(d.get("batch_size", 64), key("batch_size"), where, 1)
    out["lr"] = _pos(d.get("lr", 0.02), key("lr"), where)
    out["max_batches"] = _int(d.get("max_batches"), key("max_batches"), where, 1, allow_none=True)
    opt = d.get("optimizer")
    if opt is not None and opt not in optimizers.names():
        where.fail(key("optimizer"), opt, f"accepted: {', '.join(optimizers.names())}")
    out["optimizer"] = opt
    model = d.get("model")
    if model is not None and not isinstance(model, str):
        where.fail(key("model"), model, "a zoo model name (default: the point's workload)")
    out["model"] = model
    out["width"] = _pos(d.get("width"), key("width"), where, allow_none=True)
    out["input_size"] = _int(d.get("input_size"), key("input_size"), where, 1, allow_none=True)
    pts = d.get("points", "all")
    if not (pts == "all" or (isinstance(pts, dict) and pts and not any(isinstance(v, (dict, list))
                                                                           for v in pts.values()))):
        where.fail(key("points"), pts, "all, {front: NAME} or a mapping of columns to the values replayed rows have")
    out["points"] = pts
    return ReplaySpec(**out)


# ---------------------------------------------------------------- ledger rows of a run


def ledger_records(result) -> list[dict]:
    """A run's ``/errors`` rows that can flip a bit, as plain dicts with the layer's name (what
    `workloads.faults` reads); rows with every probability zero (SRAM) are left out."""
    errors = result.errors
    names = dict(zip(result.layers["layer_id"].tolist(), (str(n) for n in result.layers["layer"])))
    from simulator import schema

    classes = dict(enumerate(schema.TENSOR_CLASSES))
    cols = errors.dtype.names or ()
    out = []
    for row in errors:
        probs = [float(row[c]) for c in ("p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention")
                 + (("p_residual",) if "p_residual" in cols else ())]
        if not any(p > 0 for p in probs):
            continue
        rec = {"layer": names.get(int(row["layer_id"]), str(int(row["layer_id"]))),
               "tensor_class": classes[int(row["tensor_class"])], "memory": _field_name(row["memory"])}
        for c in _RECORD_KEYS[3:]:
            if c in cols:
                rec[c] = _field_name(row[c]) if c == "field" else row[c].item()
        out.append(rec)
    return out


def _field_name(value) -> str:
    """A ``field`` column value (a name, or a code of `simulator.schema.ERROR_FIELD_NAMES`) as its name."""
    from simulator import schema

    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "item") and isinstance(value.item(), int):
        return schema.ERROR_FIELD_NAMES[value.item()]
    return str(value.item() if hasattr(value, "item") else value)


# ---------------------------------------------------------------- tasks (run on Dask workers)


def train_settings(spec: ReplaySpec, cfg, workload: str) -> dict:
    """The `workloads.train.TrainSettings` fields (seed aside) a point is replayed with."""
    return {"model": spec.model or workload, "width": spec.width, "input_size": spec.input_size,
            "epochs": spec.epochs, "batch_size": spec.batch_size, "lr": spec.lr,
            "optimizer": spec.optimizer or cfg.training.optimizer, "fmt": spec.format or cfg.array.precision,
            "max_batches": spec.max_batches}


def target_classes(target: str) -> tuple[str, ...]:
    return tuple(INJECT_CLASSES) if target == TARGET_ALL else (target,)


def _rates(records, settings, dataset, inject, protect, match, source):
    """The per-(layer, class) rates to inject, as `python -m simulator train --from` computes them."""
    from simulator.cli_train import _flips_per_step
    from workloads import faults, formats, train

    fmt = formats.FORMATS[settings.fmt]
    protect = formats.parse_protect(",".join(protect), fmt)
    ledger = faults.field_error_probabilities(records, source=source)
    model = train.build_model(settings, dataset)
    train.check_layers((layer for layer, _ in ledger), model, settings.model, source)
    rates = faults.resolve_probabilities(ledger, sorted(train.model_layers(model)), inject, {})
    if match == "flips" and rates:
        probe = train.stored_bits_per_step(settings, dataset, rates, protect)
        flips = _flips_per_step(records, probe, fmt, protect, inject, faults.simulated_flips_per_step)
        scale = {c: r["simulated_flips"] / r["replay_flips"] for c, r in flips.items() if r["replay_flips"] > 0}
        rates = {k: faults.scale_rates(r, scale.get(k[1], 1.0)) for k, r in rates.items()}
    return rates, protect


def replay_task(records, settings: dict, inject, seed: int, folds: int, protect, match: str) -> dict:
    """One seed: the runs of its folds, error-free (``inject`` None) or with ``records``' errors in
    the classes ``inject``. ``{"runs": [...], "no_errors": bool, "error": None | one line}``."""
    import torch

    from workloads import data, train

    try:
        s = train.TrainSettings(**settings, seed=seed).resolved()
        splits = data.load_splits(None, folds, seed)
        rates, prot = {}, frozenset()
        if inject is not None:
            rates, prot = _rates(records, s, splits[0], tuple(inject), protect, match, "replay")
            if not rates:
                return {"runs": None, "no_errors": True, "error": None, "deterministic": True}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            runs = [train.train_run(s, splits[f], rates, "baseline" if inject is None else "injected", None, prot, f)
                    for f in range(folds)]
        finally:
            torch.set_num_threads(threads)
    except UserError as exc:
        return {"runs": None, "no_errors": False, "error": str(exc).splitlines()[0], "deterministic": True}
    return {"runs": [_run_doc(r) for r in runs], "no_errors": False, "error": None, "deterministic": True}


def _run_doc(r) -> dict:
    d = r.diverged
    return {"test_accuracy": r.test_accuracy, "test_images": r.test_images,
            "train_loss": None if math.isnan(r.train_loss) else r.train_loss,
            "diverged": None if d is None else [d.epoch, d.step, d.tensor_class, d.layer]}


def _run_result(doc: dict, label: str):
    from workloads import train

    d = doc["diverged"]
    return train.RunResult(label, [], None if d is None else train.Divergence(*d), math.nan,
                           test_accuracy=doc["test_accuracy"], test_images=doc["test_images"],
                           train_loss=math.nan if doc["train_loss"] is None else doc["train_loss"])


def task_key(records, settings: dict, inject, seed: int, folds: int, protect, match: str, version: str) -> str:
    doc = {"records": None if inject is None else [r for r in records if r["tensor_class"] in inject],
           "settings": settings, "inject": inject, "seed": seed, "folds": folds,
           "protect": list(protect) if inject is not None else [], "match": match if inject is not None else "",
           "version": version}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


# ---------------------------------------------------------------- results -> row columns


def summary_columns(target: str, seeds, base: dict, injected: dict) -> dict:
    """Columns of one target from its seeds' task outcomes (``{seed: outcome}`` each)."""
    from workloads.seeds import SeedResult, summarise

    per_seed = []
    for seed in seeds:
        b = [_run_result(r, "baseline") for r in base[seed]["runs"]]
        o = injected[seed]
        i = b if o["no_errors"] else [_run_result(r, "injected") for r in o["runs"]]
        per_seed.append(SeedResult(seed, b, i))
    s = summarise(per_seed)

    def iv(prefix, interval, lo):
        # the t interval cut to the values an accuracy (lo = 0) or a difference (lo = -1) can take
        return {prefix: interval.mean, f"{prefix}_ci_low": _blank(interval.ci_low, lo),
                f"{prefix}_ci_high": _blank(interval.ci_high, lo)}

    sig = s.difference.significant
    return {**iv("accuracy_baseline", s.baseline, 0.0), **iv(f"accuracy_{target}", s.injected, 0.0),
            **iv(f"accuracy_diff_{target}", s.difference, -1.0),
            f"accuracy_diff_{target}_significant": "" if sig is None else bool(sig),
            f"diverged_fraction_{target}": s.diverged_fraction("injected")}


def _blank(v, lo: float):
    return "" if v is None else min(max(v, lo), 1.0)


# ---------------------------------------------------------------- the replay stage of a study


def selected(points_rule, row: dict) -> bool:
    if row.get("error"):
        return False
    if points_rule == "all":
        return True
    if set(points_rule) == {"front"}:
        return row.get(f"pareto_{points_rule['front']}") is True
    return all(str(row.get(k)) == str(v) for k, v in points_rule.items())


def run_replays(spec, points, outcomes: dict, rows: list[dict], out_dir, cluster, *, progress: bool = False,
                console=None) -> int:
    """Replays the selected rows' ledgers (cached under ``out_dir/cache/replays``) and fills their
    replay columns in place; returns how many tasks came from the cache."""
    from simulator.study.cache import ReplayCache
    from simulator.study.dispatch import run_tasks
    from simulator.study.points import version_tag

    rs: ReplaySpec = spec.replay
    cache, version = ReplayCache(out_dir), version_tag()
    results: dict[str, dict] = {}
    tasks: dict[str, tuple] = {}
    cached = 0

    def add(records, settings, inject, seed) -> str:
        nonlocal cached
        key = task_key(records, settings, inject, seed, rs.folds, rs.protect, rs.match, version)
        if key not in results and key not in tasks:
            hit = cache.get(key)
            if hit is not None:
                results[key] = hit
                cached += 1
            else:
                tasks[key] = (replay_task, (records if inject is not None else None, settings, inject, seed, rs.folds,
                                            rs.protect, rs.match))
        return key

    plan = {}
    for i, row in enumerate(rows):
        row["replayed"] = False
        if not selected(rs.points, row):
            continue
        p = points[i]
        records = outcomes[p.key].get("errors") or []
        settings = train_settings(rs, p.config, p.workload)
        base = {seed: add(None, settings, None, seed) for seed in rs.seeds}
        targets = {t: {seed: add(records, settings, target_classes(t), seed) for seed in rs.seeds}
                   for t in rs.targets}
        plan[i] = (base, targets)

    def done(key, outcome):
        if outcome.pop("deterministic", False):
            cache.put(key, outcome)
        results[key] = outcome

    run_tasks(cluster, tasks, done, total=len(tasks) + cached, done=cached, what="replays", progress=progress,
              console=console)
    for i, (base, targets) in plan.items():
        row = rows[i]
        errors = [results[k]["error"] for k in list(base.values()) + [k for t in targets.values() for k in t.values()]
                  if results[k].get("error")]
        row["replayed"] = True
        if errors:
            row["replay_error"] = errors[0]
            continue
        for t, keys in targets.items():
            row.update(summary_columns(t, rs.seeds, {s: results[k] for s, k in base.items()},
                                       {s: results[k] for s, k in keys.items()}))
    return cached

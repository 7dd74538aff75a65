"""Results of `python -m simulator train`: the JSON/HDF5 document and the console report.

The document's public fields (``seeds``; ``baseline`` and ``injected`` with ``accuracy``, ``mean``,
``ci_low``, ``ci_high``, ``diverged``; ``difference`` with ``mean``, ``ci_low``, ``ci_high``) are
described in docs/replay.md with the extensions kept here.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np

from simulator import schema
from simulator.outputs import atomic_output, deferred_signals

INJECT_CLASSES = tuple(c for c in schema.TENSOR_CLASSES if c != "none")
EPOCH_FIELDS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
METHOD = ("Student-t 95% interval over seeds (mean +- t(0.975, n-1) s/sqrt(n), scipy.stats.t); the difference is "
          "paired by seed (injected - baseline) and significant when its interval excludes 0")


def _interval(iv) -> dict:
    return {"mean": iv.mean, "ci_low": iv.ci_low, "ci_high": iv.ci_high}


def _divergence(run, fold: int) -> dict | None:
    if run.diverged is None:
        return None
    return {**asdict(run.diverged), "fold": fold, "describe": run.diverged.describe()}


def _label(summary, label: str) -> dict:
    seeds = summary.seeds
    runs = [getattr(s, label) for s in seeds]
    return {"accuracy": [s.accuracy(label) for s in seeds], **_interval(getattr(summary, label)),
            "diverged": [s.diverged(label) for s in seeds],
            "diverged_fraction": summary.diverged_fraction(label),
            "loss": [s.loss(label) for s in seeds],
            "test_loss": [statistics.fmean(r.test_loss for r in folds) for folds in runs],
            "divergence": [[_divergence(r, f) for f, r in enumerate(folds)] for folds in runs],
            "flips": {c: sum(r.flips.get(c, 0) for folds in runs for r in folds) for c in INJECT_CLASSES},
            "train_flips_per_step": [sum(r.train_flips for r in folds) / max(sum(r.train_steps for r in folds), 1)
                                     for folds in runs],
            "step_time_s": statistics.median(r.step_time_s for folds in runs for r in folds),
            "epochs": [[[asdict(e) for e in r.epochs] for r in folds] for folds in runs]}


def results_dict(summary, meta: dict, settings, probabilities: list[dict], flips_per_step: dict) -> dict:
    base, inj = _label(summary, "baseline"), _label(summary, "injected")
    overhead = inj["step_time_s"] / base["step_time_s"] if base["step_time_s"] > 0 else math.nan
    return {**meta, "method": METHOD, "settings": asdict(settings), "seeds": [s.seed for s in summary.seeds],
            "overhead": overhead, "probabilities": probabilities, "flips_per_step": flips_per_step,
            "baseline": base, "injected": inj,
            "difference": {**_interval(summary.difference), "significant": summary.difference.significant,
                           "accuracy": [i - b for i, b in zip(inj["accuracy"], base["accuracy"])]}}


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _none_nan(v) -> float:
    return math.nan if v is None else float(v)


def _write_h5(tmp: str, results: dict) -> None:
    epoch_dt = ([("seed", "i4"), ("fold", "i4"), ("epoch", "i4")] + [(f, "f8") for f in EPOCH_FIELDS])
    with h5py.File(tmp, "w") as f:
        for key in ("source", "workload", "model", "dataset", "evaluation", "format", "inject", "ber", "protect",
                    "match", "method"):
            f.attrs[key] = str(results[key])
        f.attrs["seeds"] = np.asarray(results["seeds"], dtype=np.int64)
        f.attrs["overhead"] = _none_nan(results["overhead"])
        f.attrs["settings_json"] = json.dumps(results["settings"])
        f.attrs["flips_per_step_json"] = json.dumps(_json_safe(results["flips_per_step"]))
        for label in ("baseline", "injected"):
            run = results[label]
            rows = [(seed, fold, e["epoch"], *(e[k] for k in EPOCH_FIELDS))
                    for seed, folds in zip(results["seeds"], run["epochs"]) for fold, epochs in enumerate(folds)
                    for e in epochs]
            g = f.create_group(label)
            g.create_dataset("epochs", data=np.array(rows, dtype=epoch_dt))
            g.create_dataset("accuracy", data=np.asarray(run["accuracy"], dtype=np.float64))
            g.create_dataset("loss", data=np.asarray(run["loss"], dtype=np.float64))
            g.create_dataset("diverged", data=np.asarray(run["diverged"], dtype=bool))
            for key in ("mean", "ci_low", "ci_high", "step_time_s", "diverged_fraction"):
                g.attrs[key] = _none_nan(run[key])
            g.attrs["divergence"] = "; ".join(d["describe"] for folds in run["divergence"] for d in folds if d)
            for c in INJECT_CLASSES:
                g.attrs[f"flips_{c}"] = int(run["flips"].get(c, 0))
        d = f.create_group("difference")
        for key in ("mean", "ci_low", "ci_high"):
            d.attrs[key] = _none_nan(results["difference"][key])
        d.create_dataset("accuracy", data=np.asarray(results["difference"]["accuracy"], dtype=np.float64))
        probs = results["probabilities"]
        table = np.zeros(len(probs), dtype=[("layer", schema.NAME_DT), ("tensor_class", schema.CLASS_DT),
                                            ("p_bit_error", "f8")])
        codes = schema.enum_codes(schema.TENSOR_CLASSES)
        for i, row in enumerate(probs):
            table[i] = (row["layer"], codes[row["tensor_class"]], row["p_bit_error"])
        f.create_dataset("probabilities", data=table)


def write_results(path: Path, results: dict) -> Path:
    """Write ``results`` as JSON (.json) or HDF5 (.h5, .hdf5), under a temporary name, then rename."""
    with atomic_output(path) as tmp:
        if path.suffix.lower() == ".json":
            Path(tmp).write_text(json.dumps(_json_safe(results), indent=1) + "\n")
        else:
            with deferred_signals():  # see simulator.h5out
                _write_h5(tmp, results)
    return path


# ---------------------------------------------------------------- console


def _pct(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.2%}"


def _points(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v * 100:+.2f}"


def significance_sentence(results: dict) -> str:
    d, n = results["difference"], len(results["seeds"])
    if d["ci_low"] is None:
        return (f"difference injected - baseline: {_points(d['mean'])} points over {n} seed(s); no interval "
                "(needs at least 2 seeds with finite accuracies): significance unknown")
    verdict = ("significant at 95%: injected is " + ("lower" if d["ci_high"] < 0 else "higher")
               if d["significant"] else "NOT significant at 95% (the interval contains 0)")
    return (f"difference injected - baseline: {_points(d['mean'])} points, 95% interval "
            f"[{_points(d['ci_low'])}, {_points(d['ci_high'])}] (paired Student-t over {n} seeds): {verdict}")


def render(console, results: dict) -> None:
    from rich.table import Table

    s = results["settings"]
    console.print(f"{results['model']} (width {s['width']:g}, input {s['input_size']}) on {results['evaluation']}, "
                  f"{results['format']} storage" + (f", protected {results['protect']}" if results["protect"] else "")
                  + f"; injecting {results['inject']}" + (f", overrides {results['ber']}" if results["ber"] else "")
                  + f"; --match {results['match']}")
    fl = Table(title="bit errors per training step: simulated network vs replay model", title_justify="left")
    for col in ("class", "sim bits", "sim rate/bit", "sim flips", "replay bits", "replay rate/bit", "replay flips"):
        fl.add_column(col, justify="right")
    for cls, r in results["flips_per_step"].items():
        fl.add_row(cls, f"{r['simulated_bits']:.3g}", f"{r['simulated_rate']:.3g}", f"{r['simulated_flips']:.3g}",
                   f"{r['replay_bits']:.3g}", f"{r['replay_rate']:.3g}", f"{r['replay_flips']:.3g}")
    if results["flips_per_step"]:
        console.print(fl)
    b, i = results["baseline"], results["injected"]
    ep = Table(title="accuracy and loss per epoch (mean over seeds and folds that reached it)", title_justify="left")
    for col in ("epoch", "baseline train loss", "baseline test acc", "injected train loss", "injected test acc"):
        ep.add_column(col, justify="right")
    for e in range(1, s["epochs"] + 1):
        cells = []
        for run in (b, i):
            rows = [x for seed in run["epochs"] for fold in seed for x in fold if x["epoch"] == e]
            cells += ([f"{statistics.fmean(x['train_loss'] for x in rows):.4f}",
                       _pct(statistics.fmean(x["test_accuracy"] for x in rows))] if rows else ["diverged", "-"])
        ep.add_row(str(e), *cells)
    console.print(ep)
    t = Table(title="test accuracy and final training loss per seed", title_justify="left")
    for col in ("seed", "baseline acc", "baseline loss", "injected acc", "injected loss", "difference", "flips/step"):
        t.add_column(col, justify="right")
    for k, seed in enumerate(results["seeds"]):
        inj_loss = "diverged" if i["diverged"][k] else f"{i['loss'][k]:.4f}"
        base_loss = "diverged" if b["diverged"][k] else f"{b['loss'][k]:.4f}"
        t.add_row(str(seed), _pct(b["accuracy"][k]), base_loss, _pct(i["accuracy"][k]), inj_loss,
                  _points(results["difference"]["accuracy"][k]), f"{i['train_flips_per_step'][k]:.3g}")
    console.print(t)
    for label, run in (("baseline", b), ("injected", i)):
        ci = f" (95% interval {_pct(run['ci_low'])} .. {_pct(run['ci_high'])})" if run["ci_low"] is not None else ""
        console.print(f"{label}: mean accuracy {_pct(run['mean'])}{ci}; diverged in "
                      f"{sum(run['diverged'])} of {len(run['diverged'])} seeds")
        for seed, folds in zip(results["seeds"], run["divergence"]):
            for d in folds:
                if d:
                    console.print(f"  {label}, seed {seed}, fold {d['fold'] + 1}: {d['describe']}")
    console.print(significance_sentence(results))
    if results["overhead"] is not None and math.isfinite(results["overhead"]):
        console.print(f"median step time: baseline {b['step_time_s'] * 1e3:.1f} ms, injected "
                      f"{i['step_time_s'] * 1e3:.1f} ms ({results['overhead']:.2f}x)")

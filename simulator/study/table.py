"""Points and their outcomes -> the results table (a list of row dicts), baseline ratios, results.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from models.errors import UserError
from simulator.fileio import atomic_output
from simulator.study.points import Point, known_columns
from simulator.study.spec import StudySpec

# Metric -> column of the ratio ``<metric>_ratio_vs_<baseline>``: the point's value over the baseline's.
RATIO_METRICS = {"energy": "energy_total_pj", "cycles": "total_cycles"}


def baseline_index(spec: StudySpec, points: list[Point]) -> dict[int, int]:
    """Point index -> index of its baseline point. Checked before anything runs: every point has
    exactly one baseline."""
    if spec.baseline is None:
        return {}
    b = spec.baseline
    bases = [q for q in points if all(str(q.labels.get(k)) == str(v) for k, v in b.where.items())]
    out = {}
    for p in points:
        found = [q for q in bases if all(q.labels.get(m) == p.labels.get(m) for m in b.match)]
        if len(found) != 1:
            cond = ", ".join(f"{k}={v}" for k, v in b.where.items())
            raise UserError(f"{spec.source}: baseline.match = {list(b.match)} (point {p.describe()} has "
                            f"{len(found)} baseline points with {cond}; the match columns must single out one)")
        out[p.index] = found[0].index
    return out


def build_rows(spec: StudySpec, points: list[Point], outcomes: dict[str, dict]) -> list[dict]:
    """One row per point: labels, results (empty when the point failed), ratios, error."""
    columns = known_columns(spec, points)
    rows = []
    for p in points:
        o = outcomes[p.key]
        row = dict.fromkeys(columns, "")
        row.update(p.labels)
        if o["row"]:
            row.update(o["row"])
            if spec.area_budget is not None:
                from simulator.study.budget import budget_columns

                row.update(budget_columns(spec.area_budget, p.config))
        row["error"] = o["error"] or ""
        row["error_kind"] = (o.get("error_kind") or "crash") if o["error"] else ""
        rows.append(row)
    for i, j in baseline_index(spec, points).items():
        for metric, col in RATIO_METRICS.items():
            a, b = rows[i][col], rows[j][col]
            ok = a != "" and b != "" and b != 0
            rows[i][f"{metric}_ratio_vs_{spec.baseline.name}"] = a / b if ok else ""
    return rows


def csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def write_csv(rows: list[dict], path: Path) -> None:
    with atomic_output(path) as tmp:
        Path(tmp).write_text(csv_text(rows))


def read_csv(path: str | Path) -> list[dict]:
    """results.csv back as row dicts, numbers as numbers (for notebooks and tests)."""
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

"""Pareto fronts of a study's rows: the points no other point beats on both of two columns.

A study's ``pareto:`` list names fronts; each marks its rows in a column ``pareto_<name>`` (true,
false, or empty where either value is missing), gets a table in the report and a plot
``plots/pareto_<name>.png`` (every point, the front's joined by a line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from simulator.fileio import atomic_output

PARETO_KEYS = ("name", "x", "y", "x_goal", "y_goal", "where")
GOALS = ("min", "max")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ParetoSpec:
    name: str
    x: str
    y: str
    x_goal: str = "min"
    y_goal: str = "min"
    where: dict = field(default_factory=dict)


def parse_pareto(doc, where) -> tuple[ParetoSpec, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        where.fail("pareto", doc, f"a list of mappings with {', '.join(PARETO_KEYS)}")
    out = []
    for i, d in enumerate(doc):
        key = f"pareto[{i}]"
        where.mapping(key, d, PARETO_KEYS)
        for k in ("x", "y"):
            if not isinstance(d.get(k), str):
                where.fail(f"{key}.{k}", d.get(k), "required: a column name")
        for k in ("x_goal", "y_goal"):
            if d.get(k, "min") not in GOALS:
                where.fail(f"{key}.{k}", d[k], "accepted: min, max")
        name = d.get("name", f"{d['y']}_vs_{d['x']}".replace(".", "_"))
        if not isinstance(name, str) or not _NAME_RE.match(name):
            where.fail(f"{key}.name", name, "an identifier (the column is pareto_<name>)")
        cond = d.get("where", {})
        if not isinstance(cond, dict) or any(isinstance(v, (dict, list)) for v in cond.values()):
            where.fail(f"{key}.where", cond, "a mapping of columns to the value a row on this front has")
        out.append(ParetoSpec(name, d["x"], d["y"], d.get("x_goal", "min"), d.get("y_goal", "min"), dict(cond)))
    if len({p.name for p in out}) < len(out):
        where.fail("pareto", [p.name for p in out], "front names must be distinct")
    return tuple(out)


def front(xs: list[float], ys: list[float]) -> list[int]:
    """Indices of the points no other point dominates, both coordinates minimised (one point
    dominates another when it is no worse in both and better in one; equal points are all kept).
    Sorted by x, a point is on the front when its y is the smallest at its x and below every y
    at a smaller x."""
    order = sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))
    out, best, k = [], float("inf"), 0
    while k < len(order):
        j = k
        while j < len(order) and xs[order[j]] == xs[order[k]]:
            j += 1
        y_min = ys[order[k]]
        if y_min < best:
            out += [order[m] for m in range(k, j) if ys[order[m]] == y_min]
            best = y_min
        k = j
    return sorted(out)


def _usable(row: dict, p: ParetoSpec) -> bool:
    return (not row.get("error") and isinstance(row.get(p.x), (int, float)) and isinstance(row.get(p.y), (int, float))
            and not isinstance(row.get(p.x), bool) and all(str(row.get(k)) == str(v) for k, v in p.where.items()))


def mark(fronts: tuple[ParetoSpec, ...], rows: list[dict]) -> None:
    """Sets ``pareto_<name>`` of every row: True on the front, False off it, "" without both values."""
    for p in fronts:
        idx = [i for i, r in enumerate(rows) if _usable(r, p)]
        sx, sy = (1 if p.x_goal == "min" else -1), (1 if p.y_goal == "min" else -1)
        on = {idx[k] for k in front([sx * rows[i][p.x] for i in idx], [sy * rows[i][p.y] for i in idx])}
        for i, r in enumerate(rows):
            r[f"pareto_{p.name}"] = (i in on) if i in idx else ""


def render(p: ParetoSpec, rows: list[dict], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [r for r in rows if r.get(f"pareto_{p.name}") in (True, False)]
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    off = [r for r in pts if not r[f"pareto_{p.name}"]]
    on = sorted((r for r in pts if r[f"pareto_{p.name}"]), key=lambda r: (r[p.x], r[p.y]))
    ax.scatter([r[p.x] for r in off], [r[p.y] for r in off], color="0.6", label="dominated")
    ax.plot([r[p.x] for r in on], [r[p.y] for r in on], marker="o", color="C3", label="Pareto front")
    ax.set_xlabel(f"{p.x} ({p.x_goal}imised)")
    ax.set_ylabel(f"{p.y} ({p.y_goal}imised)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Pareto front {p.name}", fontsize=11)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return True


def sections(fronts: tuple[ParetoSpec, ...], rows: list[dict], labels: list[str], fmt) -> list[tuple]:
    """One report table per front: its points' labels and the two values, by x."""
    out = []
    for p in fronts:
        on = sorted((r for r in rows if r.get(f"pareto_{p.name}") is True), key=lambda r: (r[p.x], r[p.y]))
        extra = [c for c in (f"{p.y}_ci_low", f"{p.y}_ci_high") if rows and c in rows[0]]
        header = labels + [p.x, p.y] + extra
        body = [[fmt(r.get(c, "")) for c in header] for r in on]
        out.append((f"Pareto front {p.name}: {p.x} ({p.x_goal}) against {p.y} ({p.y_goal}), {len(on)} points",
                    header, body, set(range(len(labels)))))
    return out

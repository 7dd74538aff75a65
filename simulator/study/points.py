"""Study spec -> points: the cartesian product of the axes, each a resolved config plus a workload,
with the hash that names its cache entry."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from models.errors import ConfigError, UnknownKeyError, UserError
from simulator.config import CONFIG_DIR, REPO_ROOT, load_config
from simulator.study.runner import RESULT_COLUMNS, memory_columns
from simulator.study.spec import StudySpec, _short

_CODE_DIRS = ("simulator", "models", "workloads")


@dataclass
class Point:
    index: int
    knobs: dict
    workload: str
    config_name: str
    config_path: str
    overrides: tuple[str, ...]
    config: object = None  # simulator.config.Config, or None when it did not load
    load_error: str | None = None  # the config loader's one-line refusal: a failed point of kind "config"
    technology: str = ""
    key: str = ""
    labels: dict = field(default_factory=dict)  # knobs + workload, config, technology

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels.items() if k != "technology")


@lru_cache(maxsize=1)
def version_tag() -> str:
    """The package version plus a digest of the simulator's source, so a cached point is never reused
    by code that would compute it differently."""
    from simulator.api import SIMULATOR_VERSION

    h = hashlib.sha256()
    for d in _CODE_DIRS:
        for path in sorted((REPO_ROOT / d).rglob("*.py")):
            if path.parent.name == "study" and path.name not in ("runner.py", "replay.py"):
                continue  # reporting code does not change a point's or a replay's numbers
            h.update(str(path.relative_to(REPO_ROOT)).encode())
            h.update(path.read_bytes())
    return f"{SIMULATOR_VERSION}+{h.hexdigest()[:12]}"


def workload_digest(workload: str) -> str:
    from simulator.workload_source import LAYER_DIR, builtin_workloads

    path = Path(workload)
    if path.suffix.lower() not in (".yaml", ".yml", ".csv") and workload in builtin_workloads():
        path = LAYER_DIR / f"{workload}.yaml"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def point_key(config_yaml: str, workload: str) -> str:
    doc = {"config": config_yaml, "workload": workload, "workload_sha256": workload_digest(workload),
           "version": version_tag()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def config_display_name(path: str) -> str:
    p = Path(path).resolve()
    return p.stem if p.parent == CONFIG_DIR.resolve() else str(path)


def _column_value(value):
    return value if isinstance(value, (str, int, float, bool)) else json.dumps(value, sort_keys=True)


def expand(spec: StudySpec) -> list[Point]:
    """Every point of the study, in axis order (the last axis varies fastest)."""
    points = []
    loaded: dict = {}  # (config path, overrides) -> Config or error: points differing only in workload share it
    for index, combo in enumerate(itertools.product(*(range(len(a.values)) for a in spec.axes))):
        knobs: dict = {}
        config = {"path": spec.base, "name": config_display_name(spec.base), "by": "base"}
        workload = {"name": spec.workload, "by": "workload"}
        sets = {k: (v, "set.") for k, v in spec.settings.items()}
        for axis, i in zip(spec.axes, combo):
            value, setting = axis.values[i], axis.settings[i]
            if axis.name == "points":
                knobs.update(value)
            elif axis.name not in ("workload", "config"):
                knobs[axis.name] = _column_value(value)
            origin = f"axes.{axis.name}" if axis.name != "points" else f"points[{i}]"
            if "config" in setting:
                if config["by"] != "base":
                    raise UserError(f"{spec.source}: {origin}.config = {setting['config_name']!r} "
                                    f"(the config is already chosen by {config['by']})")
                config = {"path": setting["config"], "name": setting["config_name"], "by": origin}
            if "workload" in setting:
                if workload["by"] != "workload":
                    raise UserError(f"{spec.source}: {origin}.workload = {setting['workload']!r} "
                                    f"(the workload is already chosen by {workload['by']})")
                workload = {"name": setting["workload"], "by": origin}
            for k, v in setting["set"].items():
                if k in sets and sets[k][1] != "set.":
                    raise UserError(f"{spec.source}: {origin}.{k} = {_short(v)} (also set by {sets[k][1]}{k})")
                prefix = ("axes." if axis.name == k else f"{origin}.set." if axis.name == "points"
                          else f"{origin}.{axis.values[i]}.")
                sets[k] = (v, prefix)
        if workload["name"] is None:
            raise UserError(f"{spec.source}: workload = None (give workload:, a workload axis or points with workload)")
        overrides = tuple(f"{k}={json.dumps(v)}" for k, (v, _) in sets.items())
        sizing_error = None
        if spec.area_budget is not None:
            from simulator.study.budget import sized_memories

            try:
                sized = sized_memories(spec.area_budget, config["path"], {k: v for k, (v, _) in sets.items()})
                overrides += (f"memories={json.dumps(sized)}",)
            except UserError as exc:
                sizing_error = str(exc).splitlines()[0]
        p = Point(index=index, knobs=knobs, workload=workload["name"], config_name=config["name"],
                  config_path=config["path"], overrides=overrides)
        _load(p, spec, {k: o for k, (_, o) in sets.items()}, loaded, sizing_error)
        p.labels = {**knobs, "workload": p.workload, "config": p.config_name, "technology": p.technology}
        points.append(p)
    _check_columns(spec, points)
    return points


def _load(p: Point, spec: StudySpec, origins: dict, loaded: dict, sizing_error: str | None = None) -> None:
    ident = (p.config_path, p.overrides)
    if sizing_error is not None:
        loaded[ident] = ConfigError(sizing_error)
    elif ident not in loaded:
        try:
            loaded[ident] = load_config(p.config_path, p.overrides)
        except UserError as exc:
            loaded[ident] = exc
    if isinstance(loaded[ident], UserError):
        msg = str(loaded[ident]).splitlines()[0]
        if isinstance(loaded[ident], UnknownKeyError):  # a typo in the study, not a failed point
            m = re.match(r"^--set ([^:]+): (.*)$", msg)
            if m and m.group(1) in origins:
                raise UserError(f"{spec.source}: {origins[m.group(1)]}{m.group(2)}") from None
            raise UserError(f"{spec.source}: point {p.index} ({config_display_name(p.config_path)}): {msg}") from None
        p.load_error = msg
        p.key = hashlib.sha256(json.dumps([p.config_path, p.overrides, p.workload]).encode()).hexdigest()[:24]
        return
    p.config = loaded[ident]
    p.technology = scratchpad_technology(p.config)
    p.key = point_key(p.config.to_yaml(), p.workload)


def scratchpad_technology(cfg) -> str:
    """Technology of the memories that hold placed tensors (an accumulator holding only partial sums
    does not count): one name, or ``mixed``."""
    used = {m for m in cfg.placement.values() if m != "dram"}
    techs = {cfg.memories[m].technology for m in used}
    if not techs:
        return "dram"
    return techs.pop() if len(techs) == 1 else "mixed"


def known_columns(spec: StudySpec, points: list[Point]) -> list[str]:
    """results.csv columns: knobs, workload, config, technology, results, per-memory, ratios, error."""
    cols: list[str] = []
    for p in points:
        for k in p.labels:
            if k not in cols:
                cols.append(k)
    cols += list(RESULT_COLUMNS)
    mems: list[str] = []
    for p in points:
        for m in (p.config.memories if p.config is not None else ()):
            if m not in mems:
                mems.append(m)
    cols += list(memory_columns(mems))
    if spec.area_budget is not None:
        cols += ["area_budget_mm2", "area_budgeted_mm2"]
    if spec.baseline:
        cols += [f"{m}_ratio_vs_{spec.baseline.name}" for m in ("energy", "cycles")]
    if spec.replay is not None:
        from simulator.study.replay import replay_columns

        cols += replay_columns(spec.replay)
    cols += [f"pareto_{f.name}" for f in spec.pareto]
    cols += ["error", "error_kind"]
    return cols


def _check_columns(spec: StudySpec, points: list[Point]) -> None:
    known = known_columns(spec, points)
    for k in dict.fromkeys(k for p in points for k in p.knobs):
        if k in RESULT_COLUMNS or k in ("workload", "config", "technology", "error", "error_kind"):
            raise UserError(f"{spec.source}: axes.{k} = ... (the name of a result column; choose another axis name)")
    refs = [(f"columns[{i}]", c) for i, c in enumerate(spec.columns)]
    for i, f in enumerate(spec.pareto):
        refs += [(f"pareto[{i}].{a}", getattr(f, a)) for a in ("x", "y")] + [(f"pareto[{i}].where.{c}", c) for c in f.where]
    if spec.replay is not None and isinstance(spec.replay.points, dict):
        rp = spec.replay.points
        if set(rp) == {"front"}:
            if rp["front"] not in {f.name for f in spec.pareto}:
                raise UserError(f"{spec.source}: replay.points.front = {rp['front']!r} (not a pareto: front; fronts: "
                                f"{', '.join(f.name for f in spec.pareto) or 'none'})")
        else:
            refs += [(f"replay.points.{c}", c) for c in rp]
    for i, pl in enumerate(spec.plots):
        refs += [(f"plots[{i}].{a}", getattr(pl, a)) for a in ("x", "y", "series", "panel") if getattr(pl, a)]
        refs += [(f"plots[{i}].where.{c}", c) for c in pl.where]
    if spec.baseline:
        refs += [(f"baseline.match[{i}]", c) for i, c in enumerate(spec.baseline.match)]
        refs += [(f"baseline.where.{c}", c) for c in spec.baseline.where]
    for where, col in refs:
        if col not in known:
            raise UserError(f"{spec.source}: {where} = {col!r} (not a column of this study; columns: "
                            f"{', '.join(known[:12])}, ...)")

"""A study YAML -> a validated `StudySpec`.

Every error is one line naming the study file, the dotted key inside it, the bad value and what is
accepted, e.g. ``configs/studies/x.yaml: axes.workload = 'resnet' (unknown workload; accepted: ...)``.
Config keys inside axes and points are checked later, when each point's config is loaded
(`simulator.study.points`), because only the config loader knows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from models.errors import UserError
from models.yamlio import load_yaml_file
from simulator.config import CONFIG_DIR

STUDY_DIR = CONFIG_DIR / "studies"
TOP_KEYS = ("name", "description", "base", "workload", "set", "axes", "points", "baseline", "columns", "plots",
            "claims", "quick", "replay", "pareto", "area_budget")
# Names with a meaning of their own in axes and points; every other axis name is a dotted config key
# (a list of values) or a labelled axis (a mapping of label -> settings).
CONFIG_AXES = ("config", "preset")
POINT_KEYS = ("config", "workload", "set")
PLOT_KINDS = ("bar", "line")
PLOT_KEYS = ("name", "kind", "x", "y", "series", "panel", "where", "log_x", "log_y", "title")
BASELINE_KEYS = ("name", "where", "match")
QUICK_KEYS = ("axes", "points", "set", "replay")
CONFIG_SECTIONS = ("clock_ghz", "array", "vector", "training", "memories", "placement", "accumulator", "dram",
                   "energy")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Axis:
    """One swept dimension. ``values`` are the column values (labels for a labelled axis);
    ``settings[i]`` is what value i sets: {"config": ..., "workload": ..., "set": {dotted key: value}}."""

    name: str
    values: tuple
    settings: tuple[dict, ...]


@dataclass(frozen=True)
class Baseline:
    """Ratio columns ``<metric>_ratio_vs_<name>``: each point against the point that satisfies ``where``
    and agrees with it on every column in ``match``."""

    name: str
    where: dict
    match: tuple[str, ...]


@dataclass(frozen=True)
class PlotSpec:
    name: str
    kind: str
    x: str
    y: str
    series: str | None = None
    panel: str | None = None
    where: dict = field(default_factory=dict)
    log_x: bool = False
    log_y: bool = False
    title: str = ""


@dataclass(frozen=True)
class StudySpec:
    name: str
    source: str
    description: str
    base: str
    workload: str | None
    settings: dict
    axes: tuple[Axis, ...]
    baseline: Baseline | None
    columns: tuple[str, ...]
    plots: tuple[PlotSpec, ...]
    claims: str | None
    quick: bool = False
    folder: Path = field(default=STUDY_DIR)
    replay: object = None  # simulator.study.replay.ReplaySpec
    pareto: tuple = ()  # simulator.study.pareto.ParetoSpec, ...
    area_budget: object = None  # simulator.study.budget.AreaBudget


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Where:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, value, accepted: str):
        raise UserError(f"{self.source}: {key} = {_short(value)} ({accepted})")

    def mapping(self, key: str, d, keys: tuple[str, ...]) -> None:
        """``d`` (the value at ``key``) is a mapping whose keys are all in ``keys``."""
        if not isinstance(d, dict):
            self.fail(key, d, f"a mapping with {', '.join(keys)}")
        for k in d:
            if k not in keys:
                self.fail(f"{key}.{k}", d[k], f"unknown key; accepted: {', '.join(keys)}")


def builtin_studies() -> list[str]:
    return sorted(p.stem for p in STUDY_DIR.glob("*.yaml"))


def study_path(name_or_file: str) -> Path:
    """A built-in study name (``configs/studies/NAME.yaml``) or the path of a study YAML."""
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"study {name_or_file}: no such study file")
        return path
    if name_or_file in builtin_studies():
        return STUDY_DIR / f"{name_or_file}.yaml"
    raise UserError(f"study {name_or_file!r}: unknown (accepted: {', '.join(builtin_studies())} or a study .yaml)")


def resolve_config_ref(ref, key: str, where: _Where, folder: Path) -> str:
    """A config named by preset (``configs/NAME.yaml``) or by a path relative to the study file."""
    if not isinstance(ref, str) or not ref:
        where.fail(key, ref, "a preset name from configs/ or the path of a config .yaml")
    if ref.lower().endswith((".yaml", ".yml")):
        path = Path(ref) if Path(ref).is_absolute() else folder / ref
        if not path.is_file():
            where.fail(key, ref, f"no such config file (paths are relative to {folder})")
        return str(path)
    path = CONFIG_DIR / f"{ref}.yaml"
    if not path.is_file():
        presets = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        where.fail(key, ref, f"unknown preset; accepted: {', '.join(presets)} or a path to a .yaml")
    return str(path)


def _workload(value, key: str, where: _Where) -> str:
    from simulator.workload_source import resolve

    if not isinstance(value, str) or not value:
        where.fail(key, value, "a built-in workload name or a layer-trace .yaml / SCALE-Sim .csv path")
    try:
        resolve(value)
    except UserError as exc:
        where.fail(key, value, str(exc).split(": ", 1)[-1])
    return value


def _settings_map(d, key: str, where: _Where) -> dict:
    """``{dotted.config.key: value}`` as written in ``set:`` mappings."""
    if not isinstance(d, dict):
        where.fail(key, d, "a mapping of dotted config keys to values")
    for k in d:
        if not isinstance(k, str) or not k or any(not part for part in k.split(".")):
            where.fail(f"{key}.{k}", d[k], "keys are dotted config keys, e.g. memories.spm_act.banks")
    return dict(d)


def _setting(d, key: str, where: _Where, folder: Path) -> dict:
    """What one labelled value or point sets: config, workload and dotted config keys."""
    if not isinstance(d, dict):
        where.fail(key, d, "a mapping of config, workload, set or dotted config keys")
    out: dict = {"set": {}}
    for k, v in d.items():
        if k in CONFIG_AXES:
            out["config"] = resolve_config_ref(v, f"{key}.{k}", where, folder)
            out["config_name"] = v
        elif k == "workload":
            out["workload"] = _workload(v, f"{key}.{k}", where)
        elif k == "set":
            out["set"].update(_settings_map(v, f"{key}.set", where))
        elif isinstance(k, str) and ("." in k or k in CONFIG_SECTIONS):
            out["set"][k] = v
        else:
            where.fail(f"{key}.{k}", v, "accepted: config, preset, workload, set or a dotted config key")
    return out


def _axis(name, values, where: _Where, folder: Path) -> Axis:
    key = f"axes.{name}"
    if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
        where.fail(key, values, "an axis name is workload, config, preset, a dotted config key or a label")
    if isinstance(values, dict):
        if not values:
            where.fail(key, values, "a labelled axis needs at least one label")
        if name in ("workload",) + CONFIG_AXES:
            where.fail(key, values, f"{name} takes a list")
        labels, settings = [], []
        for label, d in values.items():
            if not isinstance(label, (str, int, float)) or isinstance(label, bool):
                where.fail(f"{key}.{label}", label, "labels are strings or numbers")
            labels.append(label)
            settings.append(_setting(d, f"{key}.{label}", where, folder))
        return Axis(name, tuple(labels), tuple(settings))
    if not isinstance(values, list) or not values:
        where.fail(key, values, "a non-empty list of values, or a mapping of labels to settings")
    if len(set(map(repr, values))) < len(values):
        where.fail(key, values, "values must be distinct")
    if name == "workload":
        return Axis(name, tuple(values), tuple({"set": {}, "workload": _workload(v, f"{key}[{i}]", where)}
                                              for i, v in enumerate(values)))
    if name in CONFIG_AXES:
        return Axis("config", tuple(values),
                    tuple({"set": {}, "config": resolve_config_ref(v, f"{key}[{i}]", where, folder), "config_name": v}
                          for i, v in enumerate(values)))
    if "." not in name and name not in CONFIG_SECTIONS:
        where.fail(key, values, "a list axis must be workload, config, preset or a dotted config key "
                   "(for a named axis give a mapping of labels to settings)")
    for i, v in enumerate(values):
        if isinstance(v, list):
            where.fail(f"{key}[{i}]", v, "a value is a scalar or a mapping")
    return Axis(name, tuple(values), tuple({"set": {name: v}} for v in values))


def _points(points, where: _Where, folder: Path, key: str = "points") -> Axis:
    """An explicit list of points becomes one axis whose values are the points' label mappings."""
    if not isinstance(points, list) or not points:
        where.fail(key, points, "a non-empty list of mappings")
    labels, settings = [], []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            where.fail(f"{key}[{i}]", p, "a mapping of labels, config, workload and set")
        label = {}
        for k, v in p.items():
            if k in POINT_KEYS or k == "preset":
                continue
            if not isinstance(k, str) or not _NAME_RE.match(k):
                where.fail(f"{key}[{i}].{k}", v, "a label name is an identifier (dotted config keys go under set)")
            if not isinstance(v, (str, int, float, bool)):
                where.fail(f"{key}[{i}].{k}", v, "a label value is a string or a number")
            label[k] = v
        labels.append(label)
        settings.append(_setting({k: v for k, v in p.items() if k in POINT_KEYS or k == "preset"},
                                 f"{key}[{i}]", where, folder))
    return Axis("points", tuple(labels), tuple(settings))


def _baseline(d, where: _Where) -> Baseline | None:
    if d is None:
        return None
    where.mapping("baseline", d, BASELINE_KEYS)
    name = d.get("name", "sram")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        where.fail("baseline.name", name, "an identifier (the ratio columns are <metric>_ratio_vs_<name>)")
    cond = d.get("where", {"technology": "sram"})
    if not isinstance(cond, dict) or not cond:
        where.fail("baseline.where", cond, "a mapping of result columns to the baseline's values")
    match = d.get("match", [])
    if not isinstance(match, list) or not all(isinstance(m, str) for m in match):
        where.fail("baseline.match", match, "a list of column names the baseline shares with each point")
    return Baseline(name, dict(cond), tuple(match))


def _plot(i: int, d, where: _Where) -> PlotSpec:
    key = f"plots[{i}]"
    where.mapping(key, d, PLOT_KEYS)
    for k in ("x", "y"):
        if not isinstance(d.get(k), str):
            where.fail(f"{key}.{k}", d.get(k), "required: a column name")
    for k in ("series", "panel", "title"):
        if k in d and not isinstance(d[k], str):
            where.fail(f"{key}.{k}", d[k], "a column name" if k != "title" else "a string")
    for k in ("log_x", "log_y"):
        if k in d and not isinstance(d[k], bool):
            where.fail(f"{key}.{k}", d[k], "true or false")
    cond = d.get("where", {})
    if not isinstance(cond, dict) or any(isinstance(v, (dict, list)) for v in cond.values()):
        where.fail(f"{key}.where", cond, "a mapping of columns to the value a plotted row has")
    kind = d.get("kind", "bar")
    if kind not in PLOT_KINDS:
        where.fail(f"{key}.kind", kind, f"accepted: {', '.join(PLOT_KINDS)}")
    name = d.get("name", f"{d['y']}_by_{d['x']}".replace(".", "_"))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        where.fail(f"{key}.name", name, "an identifier (the file is plots/<name>.png)")
    return PlotSpec(name=name, kind=kind, x=d["x"], y=d["y"], series=d.get("series"), panel=d.get("panel"),
                    where=dict(cond), log_x=d.get("log_x", False), log_y=d.get("log_y", False),
                    title=d.get("title", ""))


def _quick_axis(name: str, full, quick, where: _Where):
    """A quick grid's axis: a shorter value list, or for a labelled axis the labels to keep."""
    if isinstance(full, dict):
        if not isinstance(quick, list) or not quick:
            where.fail(f"quick.axes.{name}", quick, "a non-empty list of this axis's labels")
        for label in quick:
            if label not in full:
                where.fail(f"quick.axes.{name}", label,
                           f"not a label of axes.{name}; labels: {', '.join(map(str, full))}")
        return {label: full[label] for label in quick}
    return quick


def read_spec_file(path: Path) -> dict:
    doc = load_yaml_file(path, "a study")
    if not isinstance(doc, dict):
        raise UserError(f"{path}: a study must be a YAML mapping")
    return doc


def parse_spec(doc: dict, source: str = "<study>", folder: Path | None = None, quick: bool = False) -> StudySpec:
    """A study mapping (as read from YAML) -> `StudySpec`; ``quick`` applies its ``quick:`` section."""
    from simulator.study.claims import CLAIM_SETS

    where = _Where(source)
    folder = folder or Path.cwd()
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a study must be a YAML mapping")
    for k in doc:
        if k not in TOP_KEYS:
            where.fail(k, doc[k], f"unknown key; accepted: {', '.join(TOP_KEYS)}")
    name = doc.get("name", Path(source).stem if source.lower().endswith((".yaml", ".yml")) else "study")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        where.fail("name", name, "an identifier")
    description = doc.get("description", "")
    if not isinstance(description, str):
        where.fail("description", description, "a string")
    base = resolve_config_ref(doc.get("base", "default"), "base", where, folder)
    workload = _workload(doc["workload"], "workload", where) if "workload" in doc else None
    settings = _settings_map(doc.get("set", {}), "set", where)
    axes_doc = doc.get("axes", {})
    if not isinstance(axes_doc, dict):
        where.fail("axes", axes_doc, "a mapping of axis names to value lists or labelled settings")
    quick_doc = doc.get("quick", {})
    where.mapping("quick", quick_doc, QUICK_KEYS)
    quick_axes = quick_doc.get("axes", {})
    if not isinstance(quick_axes, dict):
        where.fail("quick.axes", quick_axes, "a mapping of axis names (of axes:) to shorter value lists")
    for k in quick_axes:
        if k not in axes_doc:
            where.fail(f"quick.axes.{k}", quick_axes[k], f"not an axis of this study; axes: {', '.join(axes_doc)}")
    points_doc = doc.get("points")
    quick_doc_axes = {k: _quick_axis(k, v, quick_axes[k], where) if k in quick_axes else v
                      for k, v in axes_doc.items()}
    if quick:
        axes_doc = quick_doc_axes
        points_doc = quick_doc.get("points", points_doc)
        settings.update(_settings_map(quick_doc.get("set", {}), "quick.set", where))
    elif "points" in quick_doc and points_doc is None:
        where.fail("quick.points", quick_doc["points"], "needs a points: list to shorten")
    axes = [_axis(k, v, where, folder) for k, v in axes_doc.items()]
    if points_doc is not None:
        axes.append(_points(points_doc, where, folder, "quick.points" if quick and "points" in quick_doc else "points"))
    if not axes:
        where.fail("axes", axes_doc, "give axes or points (a study needs at least one point)")
    columns = doc.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        where.fail("columns", columns, "a list of result column names to tabulate")
    plots_doc = doc.get("plots", [])
    if not isinstance(plots_doc, list):
        where.fail("plots", plots_doc, "a list of plot mappings")
    plots = tuple(_plot(i, p, where) for i, p in enumerate(plots_doc))
    if len({p.name for p in plots}) < len(plots):
        where.fail("plots", [p.name for p in plots], "plot names must be distinct")
    claims = doc.get("claims")
    if claims is not None and claims not in CLAIM_SETS:
        where.fail("claims", claims, f"accepted: {', '.join(CLAIM_SETS)}")
    from simulator.study.budget import parse_area_budget
    from simulator.study.pareto import parse_pareto
    from simulator.study.replay import parse_replay

    return StudySpec(name=name, source=source, description=description.strip(), base=base, workload=workload,
                     settings=settings, axes=tuple(axes), baseline=_baseline(doc.get("baseline"), where),
                     columns=tuple(columns), plots=plots, claims=claims, quick=quick, folder=folder,
                     replay=parse_replay(doc.get("replay"), quick_doc.get("replay"), where, quick),
                     pareto=parse_pareto(doc.get("pareto"), where),
                     area_budget=parse_area_budget(doc.get("area_budget"), where, folder))


def load_spec(name_or_file: str | Path, quick: bool = False) -> StudySpec:
    """A built-in study name or a study YAML path -> `StudySpec`."""
    path = study_path(str(name_or_file))
    return parse_spec(read_spec_file(path), str(path), path.resolve().parent, quick)

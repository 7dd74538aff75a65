"""Area budgets: a study's ``area_budget:`` sizes the memories a point places tensors in so that
together they fit a given area.

Rule: of the budget's memories, those no tensor class is placed in are removed from the point's
config; each used memory ``m`` gets the share of the budget its classes carry,
``budget * sum(share[c] for c in m) / sum(share[c] for c placed in any budget memory)``, and the
largest capacity of its organisation (banks, word width as configured) whose area fits that share
(`models.technologies.search.capacity_for_area`). So the budget memories' areas sum to at most the
budget, and a denser technology holds more of its classes' data in the same area.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from models.errors import UserError

AREA_KEYS = ("mm2", "of", "memories", "share")


@dataclass(frozen=True)
class AreaBudget:
    mm2: float | None
    of: str | None  # a config path: the budget is the area of its memories that hold placed tensors
    memories: tuple[str, ...]
    share: tuple[tuple[str, float], ...]

    def budget_mm2(self) -> float:
        return self.mm2 if self.mm2 is not None else placed_area_mm2(self.of)


def parse_area_budget(doc, where, folder: Path) -> AreaBudget | None:
    from simulator.config import PLACED_CLASSES
    from simulator.study.spec import resolve_config_ref

    if doc is None:
        return None
    where.mapping("area_budget", doc, AREA_KEYS)
    if ("mm2" in doc) == ("of" in doc):
        where.fail("area_budget", doc, "give exactly one of mm2 (a number) or of (a config whose scratchpad area it is)")
    mm2 = doc.get("mm2")
    if mm2 is not None and (isinstance(mm2, bool) or not isinstance(mm2, (int, float)) or not mm2 > 0):
        where.fail("area_budget.mm2", mm2, "a number of mm2 > 0")
    of = resolve_config_ref(doc["of"], "area_budget.of", where, folder) if "of" in doc else None
    mems = doc.get("memories")
    if not isinstance(mems, list) or not mems or not all(isinstance(m, str) for m in mems) or len(set(mems)) < len(mems):
        where.fail("area_budget.memories", mems, "a list of distinct memory names of the config to size")
    share = doc.get("share", {c: 1 for c in PLACED_CLASSES})
    if (not isinstance(share, dict) or any(c not in PLACED_CLASSES for c in share)
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in share.values())):
        where.fail("area_budget.share", share, f"a mapping of tensor classes ({', '.join(PLACED_CLASSES)}) to "
                   "weights >= 0 (default: 1 each)")
    return AreaBudget(None if mm2 is None else float(mm2), of, tuple(mems),
                      tuple((c, float(share.get(c, 0.0))) for c in PLACED_CLASSES))


@lru_cache(maxsize=16)
def placed_area_mm2(config_path: str) -> float:
    from simulator.config import load_config

    cfg = load_config(config_path)
    return float(sum(cfg.memories[m].area_mm2 for m in set(cfg.placement.values()) if m != "dram"))


def _set(doc: dict, key: str, value) -> None:
    node = doc
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value


@lru_cache(maxsize=1024)
def _capacity(description_json: str, target_mm2: float, where: str) -> int:
    from models.technologies.search import capacity_for_area

    return capacity_for_area(json.loads(description_json), target_mm2, where)


def sized_memories(budget: AreaBudget, config_path: str, sets: dict) -> dict:
    """The point's ``memories`` section (its config with ``sets`` applied) with the budget's
    memories sized to the budget and the unused ones removed."""
    from simulator.config import ENGINE_KEYS, FIGURE_KEYS, PLACED_CLASSES, PROTECTION_KEYS, read_with_base

    path = Path(config_path)
    doc = read_with_base(path, (path.resolve(),))
    for k, v in sets.items():
        _set(doc, k, copy.deepcopy(v))
    mems, placement = doc.get("memories") or {}, doc.get("placement") or {}
    share = dict(budget.share)
    for m in budget.memories:
        if m not in mems:
            raise UserError(f"area_budget.memories: {m!r} is not a memory of the config (memories: {', '.join(mems)})")
    placed = {c: placement.get(c) for c in PLACED_CLASSES}
    total = sum(share[c] for c, m in placed.items() if m in budget.memories)
    out = {}
    for name, sec in mems.items():
        if name not in budget.memories:
            out[name] = sec
            continue
        classes = [c for c, m in placed.items() if m == name]
        if not classes:
            continue  # holds nothing: not built
        if not isinstance(sec, dict) or sec.get("organize", "fixed") != "fixed":
            raise UserError(f"memories.{name}.organize = {sec.get('organize')!r} (a memory sized to an area budget "
                            "keeps its configured banks and word width: organize: fixed)")
        target = budget.budget_mm2() * (sum(share[c] for c in classes) / total if total else 1.0)
        skip = FIGURE_KEYS + ENGINE_KEYS + PROTECTION_KEYS + ("iso_area_with", "organize", "capacity_kib")
        description = {k: v for k, v in sec.items() if k not in skip and v is not None}
        cap = _capacity(json.dumps(description, sort_keys=True), target, f"area_budget: memories.{name}")
        out[name] = {**{k: v for k, v in sec.items() if k != "iso_area_with"}, "capacity_kib": cap}
    return out


def budget_columns(budget: AreaBudget, cfg) -> dict:
    """``area_budget_mm2`` and ``area_budgeted_mm2`` (what the budget's memories of this point take)."""
    return {"area_budget_mm2": budget.budget_mm2(),
            "area_budgeted_mm2": float(sum(m.area_mm2 for n, m in cfg.memories.items() if n in budget.memories))}

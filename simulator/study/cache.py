"""Per-point cache in the study's output folder: ``cache/<key>.json`` holds the point's resolved config,
workload, simulator version and result. Written atomically (temp file + rename), so an interrupted
study leaves only whole entries and resumes from them."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.fileio import atomic_output


class PointCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder) / "cache"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored outcome ``{"row", "error", "run_seconds"}`` of point ``key``, or None."""
        try:
            doc = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != key or "row" not in doc:
            return None
        return doc

    def put(self, key: str, point, outcome: dict, version: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {"key": key, "workload": point.workload, "simulator_version": version,
               "config_yaml": point.config.to_yaml(), "row": outcome["row"], "error": outcome["error"],
               "error_kind": outcome.get("error_kind"), "run_seconds": outcome["run_seconds"], "errors": outcome.get("errors")}
        with atomic_output(self.path(key)) as tmp:
            Path(tmp).write_text(json.dumps(doc, indent=1, sort_keys=True))


class ReplayCache:
    """``cache/replays/<key>.json``: one replay task's outcome (runs of one seed's folds)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder) / "cache" / "replays"

    def get(self, key: str) -> dict | None:
        try:
            doc = json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != key or "outcome" not in doc:
            return None
        return doc["outcome"]

    def put(self, key: str, outcome: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.folder / f"{key}.json") as tmp:
            Path(tmp).write_text(json.dumps({"key": key, "outcome": outcome}, indent=1, sort_keys=True))

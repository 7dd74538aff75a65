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
               "run_seconds": outcome["run_seconds"]}
        with atomic_output(self.path(key)) as tmp:
            Path(tmp).write_text(json.dumps(doc, indent=1, sort_keys=True))

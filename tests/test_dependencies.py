"""The main install (`pip install -e .`, no extras) must run the main job: every third-party module a
simulation imports is a core dependency in pyproject.toml, and none of the `train` extra's is needed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_NAME = {"pyyaml": "yaml", "scikit-learn": "sklearn", "dask[distributed]": "dask", "zlib-ng": "zlib_ng"}
PROJECT = {"simulator", "models", "workloads", "tests"}
PROBE = """
import json, sys
for name in ("torch", "sklearn"):  # the train extra is not installed in a main install
    sys.modules[name] = None
from simulator import run
run("configs/mram_iso_capacity.yaml", "tiny_resnet", out=sys.argv[1])
tops = {m.split(".")[0] for m, mod in sys.modules.items() if mod is not None}
print(json.dumps(sorted(tops - set(sys.stdlib_module_names))))
"""


def _names(reqs: list[str]) -> set[str]:
    return {IMPORT_NAME.get(n, n) for n in (re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in reqs)}


def test_a_run_needs_only_core_dependencies(tmp_path):
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(meta["dependencies"])
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "r.h5")], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True)
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    # third-party top-level modules the run loaded, less the project and modules that ship inside the
    # core packages or the interpreter's site set-up (e.g. numba's llvmlite, rich's pygments)
    allowed = core | PROJECT | {"llvmlite", "pygments", "markdown_it", "mdurl", "cython_runtime", "typing_extensions"}
    stray = {m for m in imported - allowed if not m.startswith("_")}
    assert not stray, f"a run imports {sorted(stray)}, which are not core dependencies in pyproject.toml"

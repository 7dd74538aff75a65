"""Where the project's data folders are: the repository's ``configs/`` and ``traces/layers/`` in a
clone (or an editable install), the same files shipped in the wheel as ``simulator/_data/...``
(pyproject.toml maps them there) and found with importlib.resources once installed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# name -> (folder in the repository, folder inside the installed `simulator` package)
DATA_DIRS = {"configs": ("configs", "_data/configs"), "layers": ("traces/layers", "_data/layers")}


def in_repository() -> bool:
    """True when the code runs from a source tree (a clone, PYTHONPATH or an editable install)."""
    return (REPO_ROOT / "pyproject.toml").is_file()


def data_dir(name: str) -> Path:
    """The folder of data set ``name`` (``configs`` or ``layers``) as a file-system path."""
    repo_path, packaged = DATA_DIRS[name]
    if in_repository() and (REPO_ROOT / repo_path).is_dir():
        return REPO_ROOT / repo_path
    return Path(str(resources.files("simulator").joinpath(packaged)))


def output_root() -> Path:
    """Where default outputs (``traces/runs``, ``traces/studies``) go: the clone's ``traces/``, or
    ``./traces`` in the working directory for an installed package (never inside site-packages)."""
    return REPO_ROOT / "traces" if in_repository() else Path.cwd() / "traces"

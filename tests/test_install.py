"""A non-editable install carries configs/ and traces/layers/ as package data and runs from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from models import package_data

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("simulator", "models", "workloads")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_list_covers_every_code_package():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    code = {p for p in find_packages(str(ROOT), include=[f"{d}*" for d in CODE_DIRS])}
    assert code, "no code packages found"
    assert code <= listed, f"packages missing from pyproject.toml: {sorted(code - listed)}"


def test_package_dirs_are_the_data_dirs():
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    for repo_path, packaged in package_data.DATA_DIRS.values():
        assert mapping["simulator." + packaged.replace("/", ".")] == repo_path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built offline from a copy of the source tree (the build leaves nothing in the clone)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for d in (*CODE_DIRS, "configs", "traces/layers"):
        shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("mramsim-*.whl")
    return whl


def test_wheel_holds_every_module_config_and_layer_trace(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")
                if "__pycache__" not in p.parts}
    for repo_path, packaged in package_data.DATA_DIRS.values():
        expected |= {f"simulator/{packaged}/{p.relative_to(ROOT / repo_path)}"
                     for p in (ROOT / repo_path).rglob("*.yaml")}
    assert any(n.startswith("simulator/_data/configs/studies/") for n in expected)
    assert expected <= names, sorted(expected - names)[:10]
    assert not any(n.startswith(("configs/", "traces/")) for n in names), "data must not be top-level packages"


def test_unpacked_wheel_runs_a_workload_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "80"}
    probe = subprocess.run([sys.executable, "-c", "import simulator, models.package_data as p; "
                            "print(simulator.__file__); print(p.data_dir('configs')); print(p.data_dir('layers'))"],
                           cwd=cwd, env=env, capture_output=True, text=True, check=True)
    module, configs, layers = probe.stdout.split()
    assert Path(module).is_relative_to(site) and Path(configs) == site / "simulator/_data/configs"
    assert (Path(layers) / "resnet18.yaml").is_file()
    run = subprocess.run([sys.executable, "-m", "simulator", "workload", "tiny_mlp"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    (out,) = (cwd / "traces" / "runs").glob("tiny_mlp-*.h5")  # outputs beside the user, not in site-packages
    assert not (site / "traces").exists()
    assert "configs/default.yaml" in run.stdout.replace("\n", "")

"""`python -m simulator --help` and `list` start fast: they import neither the engine's heavy
dependencies (numpy, h5py, simpy, numba, torch) nor the modules that pull them in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import cli
from simulator.config import CONFIG_DIR, REPO_ROOT
from simulator.workload_source import LAYER_DIR, builtin_workloads

HEAVY = ("numpy", "h5py", "simpy", "numba", "torch", "simulator.schema", "simulator.engine")
PROBE = """
import json, runpy, sys
sys.argv = ["simulator"] + sys.argv[1:]
try:
    runpy.run_module("simulator", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in %r if m in sys.modules]}), file=sys.stderr)
""" % (HEAVY,)


@pytest.mark.parametrize("args", [["--help"], ["list"], ["workload", "--help"]])
def test_light_paths_import_nothing_heavy(args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    assert report["heavy"] == []
    assert out.stdout


def test_plugin_commands_listed_without_import():
    assert {"device", "train", "trace", "study"} <= set(cli.PLUGIN_COMMANDS)
    help_text = cli.build_parser(["list"]).format_help()
    for name in cli.PLUGIN_COMMANDS:
        assert name in help_text


def test_listed_help_is_the_modules_own():
    import argparse
    import importlib
    for command, (modname, help_text) in cli.PLUGIN_COMMANDS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(modname).add_parser(sub)
        assert [a.help for a in sub._choices_actions if a.dest == command] == [help_text]


def test_list_paths_match_the_config_module():
    assert cli.REPO_ROOT == REPO_ROOT and cli.CONFIG_DIR == CONFIG_DIR and cli.LAYER_DIR == LAYER_DIR
    assert sorted(p.stem for p in Path(cli.LAYER_DIR).glob("*.yaml")) == builtin_workloads()

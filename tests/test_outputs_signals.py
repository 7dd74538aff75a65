"""SIGINT / SIGTERM / SIGKILL against commands writing outputs, in subprocesses: exit 130 / 143, no temp
file left, the old output intact (or replaced by a complete new one), a killed run's temp removed by
the next run. Includes a signal during the HDF5 write and one swallowed the way h5py's object registry
swallows it (an exception raised inside a weakref callback is dropped)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from simulator.config import REPO_ROOT
from tests.conftest import make_config

# Runs `python -m simulator ARGS` after an optional hook (argv[1]) that stands for the moment a signal
# arrives: during the HDF5 write, inside a weakref callback, or a run that never ends.
DRIVER = r'''
import os, signal, sys, time, weakref
hook, sig, argv = sys.argv[1], getattr(signal, sys.argv[2]), sys.argv[3:]
from simulator import h5out, engine

def send():
    os.kill(os.getpid(), sig)

if hook == "during_write":  # between two datasets of the final write
    real = h5out.write_memories
    def write_memories(f, cfg):
        send()
        time.sleep(0.05)
        real(f, cfg)
    h5out.write_memories = write_memories
elif hook == "swallowed":  # the signal's exception is raised inside a weakref callback, and dropped
    real_index = h5out.index_runs
    class Obj:
        pass
    def index_runs(rows, first):
        o = Obj()
        def callback(ref):
            send()
            sum(range(10000))  # the handler runs here; its KeyboardInterrupt is "ignored"
        r = weakref.ref(o, callback)
        del o
        return real_index(rows, first)
    h5out.index_runs = index_runs
elif hook == "endless":  # a run that is still simulating, its temp file open
    engine.Engine.run = lambda self: time.sleep(120)
from simulator.cli import main
sys.exit(main(argv))
'''

STATUS = {"SIGINT": 130, "SIGTERM": 143}


@pytest.fixture
def setup(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cfg = make_config(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "run.h5"
    out.write_bytes(b"the old output")
    return driver, cfg, out


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _start(driver, hook, sig, args):
    cmd = [str(driver), hook, sig] if driver else ["-m", "simulator"]
    return subprocess.Popen([sys.executable, *cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=_env(), cwd=REPO_ROOT)


def _wait_for_handlers(p) -> None:
    """Until the command catches SIGTERM (its handlers are installed as its code starts; before that,
    during the interpreter's own start-up, a signal kills it the default way, with nothing written)."""
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:
            return
        caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.01)


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".mramsim.tmp")]


def _complete_run(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return {"layers", "traffic", "energy", "errors", "timeline", "timeline_index", "memories"} <= set(f) \
                and "total_cycles" in f.attrs
    except OSError:
        return False


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("hook", ["during_write", "swallowed"])
def test_signal_during_hdf5_write(setup, sig, hook):
    driver, cfg, out = setup
    p = _start(driver, hook, sig, ["workload", "tiny_cnn", "--config", str(cfg), "--out", str(out)])
    _, err = p.communicate(timeout=300)
    assert p.returncode == STATUS[sig], err.decode()
    assert out.read_bytes() == b"the old output"
    assert _temps(out.parent) == []
    assert err.decode().strip().splitlines()[-1] == ("interrupted" if sig == "SIGINT" else "terminated")


def test_signals_at_random_points(setup):
    """Several runs of the plain CLI, each signalled at a random moment once its code runs (imports,
    planning, simulation, write, report)."""
    _, cfg, out = setup
    driver = None
    args = ["workload", "tiny_resnet", "--config", str(cfg), "--out", str(out)]
    t = time.perf_counter()
    p = _start(driver, "none", "SIGINT", args)
    p.communicate(timeout=300)
    duration = time.perf_counter() - t
    assert p.returncode == 0 and _complete_run(out)
    good = out.read_bytes()
    rng = random.Random(13)
    outcomes = []
    for k in range(6):
        sig = ("SIGINT", "SIGTERM")[k % 2]
        p = _start(driver, "none", sig, args)
        _wait_for_handlers(p)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        if p.poll() is None:
            p.send_signal(getattr(signal, sig))
        _, err = p.communicate(timeout=300)
        outcomes.append(p.returncode)
        # -N: the signal landed in CPython's finalization, after the command's code ended (CPython resets
        # the handlers to the default there); the outputs are settled by then, as the next lines check
        assert p.returncode in (0, STATUS[sig], -getattr(signal, sig)), err.decode()
        assert _temps(out.parent) == []
        assert out.read_bytes() == good or _complete_run(out)
    assert any(rc != 0 for rc in outcomes)


def test_sigkill_leaves_a_temp_the_next_run_removes(setup):
    driver, cfg, out = setup
    p = _start(driver, "endless", "SIGINT", ["workload", "tiny_mlp", "--config", str(cfg), "--out", str(out)])
    deadline = time.time() + 120
    while not _temps(out.parent) and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    (name,) = _temps(out.parent)
    assert name == f".run.h5.{p.pid}.mramsim.tmp"
    p.kill()
    p.wait()
    assert _temps(out.parent) == [name] and out.read_bytes() == b"the old output"
    r = subprocess.run([sys.executable, "-m", "simulator", "workload", "tiny_mlp", "--config", str(cfg), "--out",
                        str(out)], capture_output=True, env=_env(), cwd=REPO_ROOT, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    assert _temps(out.parent) == [] and _complete_run(out)


def test_sigterm_ends_compare_and_its_workers(setup, tmp_path):
    driver, cfg, _ = setup
    cfg2 = make_config(tmp_path, "cfg2.yaml", clock_ghz=2.0)
    p = _start(driver, "endless", "SIGTERM", ["compare", "tiny_mlp", str(cfg), str(cfg2), "--jobs", "2"])
    deadline = time.time() + 120
    children: list[str] = []
    while len(children) < 2 and time.time() < deadline:
        time.sleep(0.2)
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)], capture_output=True,
                                  text=True).stdout.split()
    assert len(children) >= 2
    time.sleep(1.0)  # the workers are inside their (endless) runs
    t = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143, err.decode()
    assert time.perf_counter() - t < 30
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]

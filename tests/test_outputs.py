"""Output safety (simulator.outputs): refused --out paths, temp names and atomic replacement, stale
temp files of dead runs, and --seed. Signals are in test_outputs_signals.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import h5py
import pytest

from models.errors import UserError
from simulator import outputs, runner
from simulator.cli import main
from simulator.config import REPO_ROOT
from tests.conftest import make_config

DEAD_PID = 4_194_304 + 4321  # above Linux's largest pid_max (2**22): never a live process


def _no_work(monkeypatch):
    """Any simulation started fails the test: refusals must come before the work."""
    def refuse(*a, **kw):
        raise AssertionError("the run started before --out was checked")

    monkeypatch.setattr(runner, "run_with_progress", refuse)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def run_file(tmp_path):
    cfg = make_config(tmp_path)
    out = tmp_path / "run.h5"
    assert main(["workload", "tiny_mlp", "--config", str(cfg), "--out", str(out)]) == 0
    return cfg, out


def _unwritable_folder(tmp_path):
    """A folder this process cannot create files in, also as root (for whom permission bits do not hold)."""
    if os.geteuid() == 0:
        return "/sys"
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return str(d)


@pytest.mark.parametrize("case", ["folder", "folder_slash", "device", "fifo", "socket", "no_folder", "unwritable",
                                  "read_only_file", "config", "workload_file", "hard_link_to_config", "empty"])
def test_workload_out_refused_before_work(tmp_path, monkeypatch, capsys, case):
    cfg = make_config(tmp_path)
    sock = None
    if case in ("folder", "folder_slash"):
        out = str(tmp_path) + ("/" if case == "folder_slash" else "")
    elif case == "device":
        out = "/dev/null"
    elif case == "fifo":
        out = str(tmp_path / "pipe")
        os.mkfifo(out)
    elif case == "socket":
        out = str(tmp_path / "sock")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(out)
    elif case == "no_folder":
        out = str(tmp_path / "missing" / "r.h5")
    elif case == "unwritable":
        out = os.path.join(_unwritable_folder(tmp_path), "r.h5")
    elif case == "read_only_file":
        out = str(tmp_path / "ro.h5")
        (tmp_path / "ro.h5").write_bytes(b"keep")
        os.chmod(out, 0o444)
        if os.geteuid() == 0:  # root may write any file: chattr is not available, refuse by W_OK only for users
            monkeypatch.setattr(os, "access", lambda p, mode: not (str(p) == out and mode & os.W_OK))
    elif case == "config":
        out = str(cfg)
    elif case == "workload_file":
        out = str(REPO_ROOT / "traces" / "layers" / "tiny_mlp.yaml")
    elif case == "hard_link_to_config":
        out = str(tmp_path / "link.h5")
        os.link(cfg, out)
    else:
        out = ""
    before = sorted(p.name for p in tmp_path.iterdir())
    cfg_text = cfg.read_text()
    _no_work(monkeypatch)
    try:
        status = main(["workload", "tiny_mlp", "--config", str(cfg), "--out", out])
    finally:
        if sock is not None:
            sock.close()
    err = _one_line(capsys)
    assert status == 2
    assert err.startswith("--out ") and "accepted:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert cfg.read_text() == cfg_text
    expected = {"folder": "is a folder", "folder_slash": "is a folder", "device": "is a device", "fifo": "is a FIFO",
                "socket": "is a socket", "no_folder": "does not exist", "unwritable": "cannot write in folder",
                "read_only_file": "is read-only", "config": "same file as --config",
                "workload_file": "same file as NAME", "hard_link_to_config": "same file as --config",
                "empty": "empty path"}[case]
    assert expected in err


def test_device_node_is_never_replaced(tmp_path, capsys):
    st = os.stat("/dev/null")
    assert main(["workload", "tiny_mlp", "--config", str(make_config(tmp_path)), "--out", "/dev/null"]) == 2
    after = os.stat("/dev/null")
    assert (after.st_ino, after.st_rdev, after.st_mode) == (st.st_ino, st.st_rdev, st.st_mode)


def test_trace_export_refuses_its_own_input_and_twice_the_same_output(run_file, tmp_path, capsys):
    _, run = run_file
    data = run.read_bytes()
    assert main(["trace", "export", str(run), "--dram", str(run)]) == 2
    assert "--dram" in _one_line(capsys) and run.read_bytes() == data
    os.link(run, tmp_path / "alias.h5")
    assert main(["trace", "export", str(run), "--perfetto", str(tmp_path / "alias.h5")]) == 2
    assert "same file as FILE" in _one_line(capsys) and run.read_bytes() == data
    both = tmp_path / "both.out"
    assert main(["trace", "export", str(run), "--perfetto", str(both), "--dram", str(both)]) == 2
    assert "--dram" in (err := _one_line(capsys)) and "same file as --perfetto" in err and not both.exists()
    assert main(["trace", "export", str(run), "--perfetto", str(tmp_path), "--dram", str(tmp_path / "d.trace")]) == 2
    assert "is a folder" in _one_line(capsys) and not (tmp_path / "d.trace").exists()


def test_train_refuses_to_replace_its_run_file(run_file, tmp_path, capsys):
    _, run = run_file
    data = run.read_bytes()
    for out in (run, tmp_path / "." / run.name):
        assert main(["train", "--from", str(run), "--out", str(out), "--epochs", "1"]) == 2
        assert "same file as --from" in _one_line(capsys)
    assert run.read_bytes() == data
    assert main(["train", "--from", str(run), "--out", str(tmp_path), "--epochs", "1"]) == 2
    assert "is a folder" in _one_line(capsys)


def test_study_out_checked_before_dask(tmp_path, capsys, monkeypatch):
    import simulator.study as study

    monkeypatch.setattr(study, "execute", lambda *a, **kw: pytest.fail("the study started"))
    f = tmp_path / "file"
    f.write_text("x")
    for out, why in ((str(f), "exists and is not a folder"), (str(f / "sub"), "is not a folder"),
                     (os.path.join(_unwritable_folder(tmp_path), "s"), "cannot write in")):
        assert main(["study", "paper", "--quick", "--out", out]) == 2
        assert why in _one_line(capsys)


def test_symlink_output_replaces_its_target(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with outputs.atomic_output(link) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "w").write("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_temp_name_is_recognisable_and_replaced_atomically(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("old")
    with outputs.atomic_output(out) as tmp:
        assert os.path.basename(tmp) == f".r.json.{os.getpid()}.mramsim.tmp"
        open(tmp, "w").write("half")
        assert out.read_text() == "old"  # the old file stays until the new one is complete
    assert out.read_text() == "half" and os.listdir(tmp_path) == ["r.json"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    out = tmp_path / "r.json"
    out.write_text("old")
    with pytest.raises(RuntimeError), outputs.atomic_output(out) as tmp:
        open(tmp, "w").write("partial")
        raise RuntimeError("disk full")
    assert out.read_text() == "old" and os.listdir(tmp_path) == ["r.json"]


def test_new_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with outputs.atomic_output(tmp_path / "r.json") as tmp:
            open(tmp, "w").write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def test_stale_temp_of_a_dead_run_is_removed_live_ones_kept(tmp_path):
    out = tmp_path / "r.h5"
    dead = tmp_path / f".r.h5.{DEAD_PID}.mramsim.tmp"
    live_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / f".r.h5.{live_proc.pid}.mramsim.tmp"
        other = tmp_path / f".other.h5.{DEAD_PID}.mramsim.tmp"
        for p in (dead, live, other):
            p.write_bytes(b"\0" * 100)
        with outputs.atomic_output(out) as tmp:
            open(tmp, "w").write("x")
        assert not dead.exists() and live.exists() and other.exists() and out.read_text() == "x"
    finally:
        live_proc.kill()
        live_proc.wait()


def test_check_out_refuses_an_output_that_is_an_input_by_inode(tmp_path):
    a = tmp_path / "a.h5"
    a.write_text("in")
    os.link(a, tmp_path / "b.h5")
    with pytest.raises(UserError, match="same file as --from"):
        outputs.check_out(tmp_path / "b.h5", "--out", {"--from": a})
    assert outputs.check_out(tmp_path / "c.h5", "--out", {"--from": a}) == (tmp_path / "c.h5").resolve()
    assert not (tmp_path / "c.h5").exists()


def test_workload_seed_is_refused_with_the_reason(tmp_path, monkeypatch, capsys):
    _no_work(monkeypatch)
    for cmd in (["workload", "tiny_mlp"], ["compare", "tiny_mlp", "a.yaml", "b.yaml"]):
        assert main(cmd + ["--seed", "3"]) == 2
        assert "uses no random numbers" in _one_line(capsys)


@pytest.mark.parametrize("value", ["1e23", "100000000000000000000000", "-1", "4294967296", "x"])
def test_seed_out_of_range_is_one_line_before_work(run_file, capsys, value):
    _, run = run_file
    assert main(["train", "--from", str(run), "--seed", value]) == 2
    err = _one_line(capsys)
    assert "--seed" in err and "expected an integer from 0 to 4294967295" in err
    assert main(["device", "--mc", "4", "--seed", value]) == 2
    assert "expected an integer from 0 to 4294967295" in _one_line(capsys)


def test_seeds_list_above_range_is_refused(run_file, capsys):
    _, run = run_file
    assert main(["train", "--from", str(run), "--seed", "4294967295", "--seeds", "2"]) == 2
    assert "above 4294967295" in _one_line(capsys)


def test_device_seed_without_monte_carlo_is_refused(capsys):
    assert main(["device", "--seed", "5"]) == 2
    assert "seeds the --mc Monte Carlo only" in _one_line(capsys)


def test_run_file_written_whole(run_file):
    _, run = run_file
    with h5py.File(run) as f:
        assert {"layers", "traffic", "energy", "timeline", "errors", "timeline_index"} <= set(f)
    assert [p.name for p in run.parent.iterdir() if p.name.endswith(".mramsim.tmp")] == []


def test_train_results_replace_an_old_file_only_when_complete(tmp_path, monkeypatch):
    from simulator import train_output

    out = tmp_path / "res.json"
    out.write_text("old")
    train_output.write_results(out, {"a": 1.0, "b": [float("nan")]})
    assert json.loads(out.read_text()) == {"a": 1.0, "b": [None]}

    def broken(tmp, results):
        open(tmp, "wb").write(b"\x89HDF half")
        raise OSError("disk full")

    monkeypatch.setattr(train_output, "_write_h5", broken)
    h5 = tmp_path / "res.h5"
    h5.write_bytes(b"old h5")
    with pytest.raises(OSError):
        train_output.write_results(h5, {})
    assert h5.read_bytes() == b"old h5" and sorted(os.listdir(tmp_path)) == ["res.h5", "res.json"]

"""`compare` runs its configs in parallel processes with results equal to serial runs, and runs report
progress as ops done of all ops."""

from __future__ import annotations

import queue

import numpy as np

from simulator import run, runner
from simulator.cli import main
from simulator.config import load_config
from simulator.workload_source import resolve
from tests.conftest import MRAM_FIGURES, make_config


def _configs(tmp_path):
    a = make_config(tmp_path, "a.yaml")
    b = make_config(tmp_path, "b.yaml", memories={"spm_act": {**MRAM_FIGURES, "technology": "stt_mram"}})
    return [load_config(a), load_config(b)]


def test_parallel_equals_serial(tmp_path):
    cfgs = _configs(tmp_path)
    trace = resolve("tiny_resnet")
    kw = {"write": False, "timeline": False}
    par = runner.run_configs(cfgs, trace, ["a", "b"], jobs=2, **kw)
    ser = [run(c, trace, **kw) for c in cfgs]
    assert par[0].total_cycles != par[1].total_cycles  # the two configs differ, and stay in order
    for p, s in zip(par, ser):
        assert p.total_cycles == s.total_cycles
        for name in ("layers", "energy", "traffic", "errors"):
            assert np.array_equal(getattr(p, name), getattr(s, name)), name


def test_progress_counts_ops(tmp_path):
    seen = []
    res = run(_configs(tmp_path)[0], "tiny_cnn", write=False, progress=lambda d, t: seen.append((d, t)))
    total = len(res.layers)  # one op per (layer, op, phase) row here
    assert seen == [(i, seen[-1][1]) for i in range(1, seen[-1][1] + 1)] and seen[-1][1] >= total


def test_worker_reports_progress_through_its_queue(tmp_path):
    q = queue.Queue()
    runner._init_worker(q)
    try:
        runner._run_one(1, _configs(tmp_path)[0], resolve("tiny_cnn"), {"write": False})
    finally:
        runner._init_worker(None)
    msgs = [q.get_nowait() for _ in range(q.qsize())]
    assert msgs[0] == (1, 1, msgs[0][2]) and msgs[-1] == (1, msgs[0][2], msgs[0][2])


def test_jobs_must_be_positive(tmp_path, capsys):
    a, b = make_config(tmp_path, "a.yaml"), make_config(tmp_path, "b.yaml")
    assert main(["compare", "tiny_cnn", str(a), str(b), "--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err

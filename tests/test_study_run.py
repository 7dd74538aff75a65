"""Running studies on Dask: results against direct runs, cache and resume, failed points, an existing
scheduler giving the same results as the local cluster, the CLI and the claims table."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import simulator
from simulator import study
from simulator.cli import main
from simulator.config import load_config
from simulator.study import dispatch
from simulator.study.table import read_csv
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, doc: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def small_study(tmp_path):
    mram = make_config(tmp_path, "mram.yaml", memories={"spm_act": {"technology": "stt_mram"},
                                                        "spm_weight": {"technology": "stt_mram"}})
    base = make_config(tmp_path, "base.yaml")
    return _write(tmp_path, {
        "name": "small", "base": str(base),
        "axes": {"workload": ["tiny_cnn", "tiny_mlp"], "config": [str(base), str(mram)],
                 "memories.spm_act.banks": [4, 8]},
        "baseline": {"match": ["workload", "memories.spm_act.banks"]},
        "plots": [{"name": "energy", "x": "workload", "y": "energy_total_pj", "series": "technology"},
                  {"name": "cycles", "kind": "line", "x": "memories.spm_act.banks", "y": "total_cycles",
                   "series": "workload", "where": {"technology": "sram"}}]})


def test_rows_equal_direct_runs_and_outputs_are_written(small_study, tmp_path):
    out = tmp_path / "out"
    rows = study.run(str(small_study), out=out, workers=2)
    assert len(rows) == 8 and not any(r["error"] for r in rows)
    for r in rows:
        cfg = load_config(r["config"], [f"memories.spm_act.banks={r['memories.spm_act.banks']}"])
        direct = simulator.run(cfg, r["workload"], write=False, timeline=False).summary()
        assert r["total_cycles"] == direct["total_cycles"]
        assert r["energy_total_pj"] == pytest.approx(direct["total_energy_pj"], rel=1e-12)
        assert r["energy_leakage_pj"] == pytest.approx(direct["energy_pj"]["leakage"], rel=1e-12)
        assert r["dram_bytes"] == direct["dram_read_bytes"] + direct["dram_write_bytes"]
        assert r["area_spm_act_mm2"] == pytest.approx(cfg.memories["spm_act"].area_mm2)
        assert r["technology"] == cfg.memories["spm_act"].technology
        assert (r["expected_wrong_bits"] > 0) == (r["technology"] == "stt_mram")
    by = {(r["workload"], r["config"], r["memories.spm_act.banks"]): r for r in rows}
    for (w, c, b), r in by.items():
        base = by[(w, rows[0]["config"], b)]
        assert r["energy_ratio_vs_sram"] == pytest.approx(r["energy_total_pj"] / base["energy_total_pj"])
        assert r["cycles_ratio_vs_sram"] == pytest.approx(r["total_cycles"] / base["total_cycles"])
    assert read_csv(out / "results.csv") == [{k: ("" if v == "" else v) for k, v in r.items()} for r in rows]
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["cycles.png", "energy.png"]
    assert (out / "plots" / "energy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = (out / "summary.md").read_text()
    assert "| memories.spm_act.banks | workload | config | technology | total_cycles |" in summary
    assert "![energy](plots/energy.png)" in summary and "points: 8 (0 failed, 0 from the cache)" in summary
    mram4 = [r["energy_ratio_vs_sram"] for r in rows
             if r["technology"] == "stt_mram" and r["memories.spm_act.banks"] == 4]
    low, high = min(mram4), max(mram4)
    assert f"| 4 | stt_mram | 2 | {(low * high) ** 0.5:.3g} ({low:.3g}-{high:.3g}) |" in summary
    assert not list(out.rglob("*.tmp"))


def test_finished_study_rerenders_from_cache_and_resumes(small_study, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = (study.run(str(small_study), out=out, workers=1), (out / "results.csv").read_text())
    entries = sorted((out / "cache").glob("*.json"))
    assert len(entries) == 8

    def no_cluster(*a, **k):
        raise AssertionError("a finished study must not start a cluster")

    monkeypatch.setattr(dispatch, "_client", no_cluster)
    t0 = time.perf_counter()
    again = study.execute(str(small_study), out=out)
    assert time.perf_counter() - t0 < 20
    assert again["cached"] == 8 and (out / "results.csv").read_text() == first[1]
    monkeypatch.undo()
    entries[3].unlink()  # as if interrupted before this point finished
    (out / "cache" / "junk.json.123.tmp").write_text("{")
    resumed = study.execute(str(small_study), out=out, workers=1)
    assert resumed["cached"] == 7 and (out / "results.csv").read_text() == first[1]
    assert entries[3].exists()


def test_failed_points_are_reported_and_the_study_goes_on(tmp_path, capsys):
    base = make_config(tmp_path, "base.yaml", array={"rows": 64, "cols": 64})
    path = _write(tmp_path, {"base": str(base), "workload": "tiny_cnn", "axes": {
        "memories.spm_weight.capacity_kib": [128, 1],      # 1 KiB: the planner refuses it on the worker
        "memories.spm_act.banks": [8, 12]}})                # 12 banks: the config loader refuses it
    out = tmp_path / "out"
    code = main(["study", str(path), "--out", str(out), "--workers", "1"])
    captured = capsys.readouterr()
    assert code == 1
    rows = read_csv(out / "results.csv")
    errors = {(r["memories.spm_weight.capacity_kib"], r["memories.spm_act.banks"]): r["error"] for r in rows}
    assert errors[(128, 8)] == "" and rows[0]["total_cycles"] > 0
    assert "memories.spm_act.banks = 12 (must be a power of two)" in errors[(128, 12)]
    assert "memories.spm_weight.capacity_kib = 1" in errors[(1, 8)] and "staging buffer" in errors[(1, 8)]
    assert captured.err.count("failed: ") == 3 and "4 points (3 failed" in captured.out
    assert "points" in captured.err and "4/4" in captured.err and "failed 3" in captured.err  # the progress bar
    assert "## Failed points" in (out / "summary.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_existing_scheduler_gives_the_local_cluster_results(small_study, tmp_path):
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    dask_cli = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen(dask_cli + ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                          "--dashboard-address", "127.0.0.1:0", "--no-show"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(dask_cli + ["worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1",
                                                  "--nthreads", "1", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        remote = study.execute(str(small_study), out=tmp_path / "remote", scheduler=f"tcp://127.0.0.1:{port}")
        assert remote["cached"] == 0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    local = study.execute(str(small_study), out=tmp_path / "local", workers=2)
    assert local["cached"] == 0
    assert (tmp_path / "remote" / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()


def test_unreachable_scheduler_is_a_one_line_error(small_study, tmp_path, capsys):
    code = main(["study", str(small_study), "--out", str(tmp_path / "o"),
                 "--scheduler", f"tcp://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("--scheduler tcp://127.0.0.1:") and "cannot connect" in err
    assert err.count("\n") == 1


def test_claims_are_computed_from_the_rows(tmp_path):
    path = _write(tmp_path, {"name": "c", "workload": "tiny_mlp", "points": [
        {"memory": "sram", "config": "default"}, {"memory": "iso_cap", "config": "mram_iso_capacity"},
        {"memory": "low_v", "config": "mram_low_voltage"}],
        "baseline": {"match": ["workload"]}, "claims": "paper"})
    res = study.execute(str(path), out=tmp_path / "out", workers=2)
    density, energy, write = res["claims"]
    sram = load_config(REPO / "configs" / "default.yaml").memories
    mram = load_config(REPO / "configs" / "mram_iso_capacity.yaml").memories
    low_v = load_config(REPO / "configs" / "mram_low_voltage.yaml").memories
    # every STT-MRAM memory of the study counts, each against its SRAM baseline (same capacity)
    dens = sorted((c[m].capacity_bytes / c[m].area_mm2) / (sram[m].capacity_bytes / sram[m].area_mm2)
                  for c in (mram, low_v) for m in ("spm_act", "spm_weight"))
    assert density["ours"] == f"{dens[0]:.3g}-{dens[-1]:.3g}x"
    assert density["holds"] in (("yes",) if all(3 <= d <= 4 for d in dens) else ("partly", "no"))
    rows = {r["memory"]: r for r in res["rows"]}
    gains = sorted(rows["sram"]["energy_total_pj"] / rows[m]["energy_total_pj"] for m in ("iso_cap", "low_v"))
    assert energy["ours"] == f"{gains[0]:.3g}-{gains[1]:.3g}x"
    x = max(mram[m].write_energy_pj / low_v[m].write_energy_pj for m in ("spm_act", "spm_weight"))
    assert write["ours"] == f"{x:.3g}x" and write["holds"].startswith("energy: yes" if x > 2 else "energy: no")
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Claims of the paper against our results" in html and density["conditions"] in html


def test_cli_runs_a_study_file(tmp_path):
    path = _write(tmp_path, {"base": str(make_config(tmp_path, "b.yaml")), "axes": {"workload": ["tiny_mlp"]}})
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "simulator", "study", str(path), "--out", str(out), "--workers", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    assert "1 points (0 failed, 0 cached)" in proc.stdout
    with open(out / "results.csv", newline="") as f:
        assert [r["workload"] for r in csv.DictReader(f)] == ["tiny_mlp"]
    assert "torch" not in subprocess.run(
        [sys.executable, "-c", "import sys, simulator.study, simulator.cli_study; from simulator.study import dispatch,"
         " report, plots, claims, table; print(' '.join(sys.modules))"],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO))).stdout.split()


def test_energy_claim_needs_an_sram_baseline(tmp_path):
    # A write-point grid baselined on its nominal MRAM point measures no SRAM-vs-MRAM energy claim.
    path = _write(tmp_path, {"base": "mram_iso_capacity", "workload": "tiny_mlp",
                             "set": {"memories.spm_act.write_voltage_v": 0.9},
                             "axes": {"memories.spm_act.write_pulse_ns": [5, 10]},
                             "baseline": {"name": "nominal", "where": {"memories.spm_act.write_pulse_ns": 10}},
                             "claims": "paper"})
    res = study.execute(str(path), out=tmp_path / "out", workers=1)
    density, energy, write = res["claims"]
    assert density["holds"] == energy["holds"] == "not measured"
    short, nominal = res["rows"]
    assert short["energy_ratio_vs_nominal"] == pytest.approx(short["energy_total_pj"] / nominal["energy_total_pj"])
    x = nominal["write_energy_spm_act_pj_per_bit"] / short["write_energy_spm_act_pj_per_bit"]
    assert write["ours"] == f"{x:.3g}x" and "spm_act at 1 MiB" in write["conditions"]

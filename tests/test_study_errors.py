"""Failed points are classified by the exception's type, not its wording: a config the loader or a model
refuses (`ConfigError`) is a failed point of kind config, a key that does not exist (`UnknownKeyError`)
stops the study, a run the simulator refuses is kind run, and an unexpected exception is kind crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.errors import ConfigError, UnknownKeyError, UserError
from simulator.cli import main
from simulator.config import load_config
from simulator.study import points as study_points
from simulator.study import runner
from simulator.study.spec import parse_spec
from simulator.study.table import build_rows, read_csv
from tests.conftest import make_config


def _write(tmp_path: Path, doc: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("overrides, error", [
    (["memories.spm_act.banks=12"], ConfigError),                      # the loader's range check
    (["clock_ghz=100"], ConfigError),                                  # out of range
    (["memories.spm_act.bank=8"], UnknownKeyError),                    # a memory key that does not exist
    (["colour=1"], UnknownKeyError),                                   # a top-level key
    (["clock_ghz.fast=1"], UnknownKeyError),                           # a value used as a section
    (["dram.chanels=2"], UnknownKeyError),                             # models/dram.py's key check
])
def test_config_errors_carry_their_kind(tmp_path, overrides, error):
    base = make_config(tmp_path, "base.yaml")
    with pytest.raises(UserError) as info:
        load_config(base, overrides)
    assert type(info.value) is error
    assert len(str(info.value).splitlines()) == 1


def test_device_model_refusals_keep_their_kind(tmp_path):
    base = make_config(tmp_path, "base.yaml", memories={"spm_act": {"technology": "stt_mram"}})
    with pytest.raises(UnknownKeyError, match="spm_act.bogus_key"):
        load_config(base, ["memories.spm_act.bogus_key=1"])
    with pytest.raises(ConfigError) as info:  # the device model refuses the value: reattributed, still typed
        load_config(base, ["memories.spm_act.read_voltage_v=3"])
    assert type(info.value) is ConfigError and "read_voltage_v" in str(info.value)


def test_classification_follows_the_type_not_the_wording(tmp_path, monkeypatch):
    base = make_config(tmp_path, "base.yaml")
    doc = {"base": str(base), "workload": "tiny_cnn", "axes": {"memories.spm_act.banks": [8, 16]}}
    real = study_points.load_config

    def refusing(kind, message):
        def load(path, overrides):
            if "memories.spm_act.banks=16" in overrides:
                raise kind(message)
            return real(path, overrides)
        return load

    # The words "unknown key" in a plain refusal no longer stop the study: the point fails, kind config.
    monkeypatch.setattr(study_points, "load_config", refusing(ConfigError, "x.yaml: a = 1 (unknown key in words)"))
    spec = parse_spec(doc, str(tmp_path / "s.yaml"), tmp_path)
    pts = study_points.expand(spec)
    assert pts[0].load_error is None and pts[1].load_error == "x.yaml: a = 1 (unknown key in words)"
    # An UnknownKeyError stops it, whatever it says.
    monkeypatch.setattr(study_points, "load_config", refusing(UnknownKeyError, "x.yaml: a = 1 (no such thing)"))
    with pytest.raises(UserError, match=r"s\.yaml: point 1 .*x\.yaml: a = 1 \(no such thing\)"):
        study_points.expand(parse_spec(doc, str(tmp_path / "s.yaml"), tmp_path))


@pytest.mark.parametrize("raised, kind, deterministic", [
    (ConfigError("c.yaml: memories.spm_act.banks = 3 (must be a power of two)"), "config", True),
    (UserError("tiny_cnn: layer conv1's tile does not fit spm_act"), "run", True),
    (ZeroDivisionError("division by zero"), "crash", False),
])
def test_run_point_reports_each_kind_of_failure(tmp_path, monkeypatch, raised, kind, deterministic):
    import simulator.api

    def failing(*args, **kwargs):
        raise raised

    monkeypatch.setattr(simulator.api, "run", failing)
    out = runner.run_point(None, None)
    assert out["row"] is None and out["error_kind"] == kind and out["deterministic"] is deterministic
    expected = str(raised) if kind != "crash" else "ZeroDivisionError: division by zero"
    assert out["error"] == expected


def test_failed_points_show_their_kind_and_the_study_goes_on(tmp_path, capsys):
    base = make_config(tmp_path, "base.yaml", array={"rows": 64, "cols": 64})
    path = _write(tmp_path, {"base": str(base), "workload": "tiny_cnn", "axes": {
        "memories.spm_weight.capacity_kib": [128, 1],      # 1 KiB: the simulator refuses the run
        "memories.spm_act.banks": [8, 12]}})                # 12 banks: the config loader refuses the value
    out = tmp_path / "out"
    assert main(["study", str(path), "--out", str(out), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    rows = {(r["memories.spm_weight.capacity_kib"], r["memories.spm_act.banks"]): r
            for r in read_csv(out / "results.csv")}
    assert rows[(128, 8)]["error"] == "" and rows[(128, 8)]["error_kind"] == "" and rows[(128, 8)]["total_cycles"] > 0
    assert rows[(128, 12)]["error_kind"] == "config" and rows[(1, 12)]["error_kind"] == "config"
    assert rows[(128, 12)]["error"].endswith("memories.spm_act.banks = 12 (must be a power of two)")
    assert rows[(1, 8)]["error_kind"] == "run" and "staging buffer" in rows[(1, 8)]["error"]
    assert "[config] " in err and "[run] " in err
    summary = (out / "summary.md").read_text()
    failed_table = summary.split("## Failed points")[1]
    assert "| kind | error |" in failed_table and "| config |" in failed_table and "| run |" in failed_table


def test_a_crashed_point_shows_kind_crash_in_its_row(tmp_path):
    base = make_config(tmp_path, "base.yaml")
    spec = parse_spec({"base": str(base), "workload": "tiny_cnn", "axes": {"memories.spm_act.banks": [8]}},
                      str(tmp_path / "s.yaml"), tmp_path)
    pts = study_points.expand(spec)
    outcome = {"row": None, "error": "ZeroDivisionError: division by zero", "error_kind": "crash",
               "run_seconds": 0.0}
    rows = build_rows(spec, pts, {pts[0].key: outcome})
    assert rows[0]["error_kind"] == "crash" and rows[0]["error"] == outcome["error"]

"""Command line and config validation: one-line errors with exit status 2 and no partial output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent


def _run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("section,expect", [
    ({"memories": {"spm_act": {"banks": 12}}}, "memories.spm_act.banks = 12 (must be a power of two)"),
    ({"memories": {"spm_act": {"capacity_kib": 100, "banks": 256, "word_bits": 512}}},
     "memories.spm_act.capacity_kib = 100 (must divide into 256 banks"),
    ({"array": {"dataflow": "xs"}}, "array.dataflow = 'xs' (accepted: os, ws, is)"),
    ({"array": {"rows": 0}}, "array.rows = 0 (must be in [1, 4096])"),
    ({"array": {"rows": "many"}}, "array.rows = 'many' (must be an integer"),
    ({"placement": {"weight": "spm_nope"}}, "placement.weight = 'spm_nope' (accepted: spm_act, spm_weight, accumulator, dram)"),
    ({"memories": {"spm_act": {"technology": "rram"}}}, "memories.spm_act.technology = 'rram' (accepted: sram, stt_mram, sot_mram)"),
    ({"memories": {"spm_act": {"bankz": 4}}}, "memories.spm_act.bankz = 4 (unknown key for sram; accepted:"),
    ({"training": {"optimizer": "lion"}}, "training.optimizer = 'lion' (accepted: sgd, sgd_momentum, adam)"),
])
def test_config_errors_name_file_key_value_and_accepted(section, expect, tmp_path, capsys):
    cfg = make_config(tmp_path, **section)
    out_file = tmp_path / "run.h5"
    code, out, err = _run_cli(["workload", "tiny_cnn", "--config", str(cfg), "--out", str(out_file)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"{cfg}: ")
    assert expect in err
    assert not out_file.exists() and not list(tmp_path.glob("run.h5*"))


def test_set_override_errors_name_the_argument(tmp_path, capsys):
    cfg = make_config(tmp_path)
    code, _, err = _run_cli(["workload", "tiny_cnn", "--config", str(cfg), "--set", "memories.spm_act.banks=3"], capsys)
    assert code == 2 and err.strip() == "--set memories.spm_act.banks: memories.spm_act.banks = 3 (must be a power of two)"


def test_set_override_changes_the_run(tmp_path, capsys):
    cfg = make_config(tmp_path)
    out_a, out_b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert main(["workload", "tiny_cnn", "--config", str(cfg), "--out", str(out_a)]) == 0
    assert main(["workload", "tiny_cnn", "--config", str(cfg), "--out", str(out_b), "--set", "array.rows=4"]) == 0
    import h5py

    with h5py.File(out_a) as fa, h5py.File(out_b) as fb:
        assert fa.attrs["total_cycles"] != fb.attrs["total_cycles"]
        assert "rows: 4" in fb.attrs["config_yaml"]


def test_unknown_workload(capsys):
    code, _, err = _run_cli(["workload", "resnet19"], capsys)
    assert code == 2 and "workload 'resnet19': unknown (accepted: " in err and "resnet18" in err
    assert err.count("\n") == 1


def test_impossible_mapping_is_a_clear_error(tmp_path, capsys):
    cfg = make_config(tmp_path, memories={"spm_weight": {"capacity_kib": 1, "banks": 1}},
                      array={"rows": 64, "cols": 64})
    out_file = tmp_path / "x.h5"
    code, _, err = _run_cli(["workload", "tiny_cnn", "--config", str(cfg), "--out", str(out_file)], capsys)
    assert code == 2 and "memories.spm_weight.capacity_kib = 1" in err and "staging buffer" in err
    assert not out_file.exists()


def test_bad_phase_and_malformed_yaml(tmp_path, capsys):
    code, _, err = _run_cli(["workload", "tiny_cnn", "--phases", "fwd,back"], capsys)
    assert code == 2 and "--phases fwd,back: unknown phase 'back'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("array: [1, 2\n")
    code, _, err = _run_cli(["workload", "tiny_cnn", "--config", str(bad)], capsys)
    assert code == 2 and err.startswith(f"{bad}: not valid YAML")


def test_dry_run_writes_nothing(tmp_path, capsys):
    cfg = make_config(tmp_path)
    code, out, _ = _run_cli(["workload", "tiny_resnet", "--config", str(cfg), "--dry-run", "--out",
                             str(tmp_path / "d.h5")], capsys)
    assert code == 0 and out.startswith("ok:") and not (tmp_path / "d.h5").exists()


def test_list_shows_workloads_and_configs(capsys):
    code, out, _ = _run_cli(["list"], capsys)
    assert code == 0
    for name in ("resnet18", "vgg16", "alexnet", "mobilenet_v2", "bert_encoder", "default.yaml"):
        assert name in out


def test_compare_two_configs(tmp_path, capsys):
    a = make_config(tmp_path, "a.yaml")
    b = make_config(tmp_path, "b.yaml", memories={"spm_act": {"write_occupancy_ns": 10.0}}, accumulator=None)
    code, out, _ = _run_cli(["compare", "tiny_mlp", str(a), str(b), "--set", "training.batch=32"], capsys)
    assert code == 0
    assert "spm_write" in out and "ratio to a" in out and f"b = {b}" in out and "x)" in out


def test_workload_from_scalesim_csv(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, M, N, K,\ng,64,32,16,\n")
    cfg = make_config(tmp_path)
    code, out, _ = _run_cli(["workload", str(topo), "--config", str(cfg), "--out", str(tmp_path / "t.h5")], capsys)
    assert code == 0 and (tmp_path / "t.h5").exists()


def test_module_entry_point_runs_without_torch(tmp_path):
    """`python -m simulator workload` must not import torch (fast start, small install)."""
    cfg = make_config(tmp_path)
    code = ("import sys, runpy; sys.argv=['simulator','workload','tiny_cnn','--config',%r,'--out',%r];"
            "import simulator.cli as c; rc=c.main(sys.argv[1:]); assert 'torch' not in sys.modules, 'torch imported';"
            "sys.exit(rc)") % (str(cfg), str(tmp_path / "m.h5"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

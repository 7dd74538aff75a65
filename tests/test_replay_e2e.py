"""From device to accuracy: a simulated run's /errors ledger drives the training replay."""

from __future__ import annotations

import json

from simulator import run
from simulator.cli import main
from simulator.config import load_config
from tests.conftest import MRAM_FIGURES


def test_simulated_ledger_drives_the_replay(tmp_path, config_file, capsys):
    mram = {"technology": "stt_mram", "write_voltage_v": 0.7, "write_pulse_ns": 5.0, "read_voltage_v": 0.1,
            **MRAM_FIGURES}
    cfg = load_config(config_file(memories={"spm_act": mram}))
    run_file = tmp_path / "tiny.h5"
    res = run(cfg, "tiny_cnn", out=run_file)
    p_act = cfg.memories["spm_act"].p_write_ap2p
    assert p_act > 1e-3
    out = tmp_path / "tiny.train.json"
    code = main(["train", "--from", str(run_file), "--epochs", "1", "--max-batches", "2", "--inject", "weight",
                 "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["model"] == "tiny_cnn"
    assert result["probabilities"] == []  # weights sit in SRAM in this config: nothing to inject
    code = main(["train", "--from", str(run_file), "--epochs", "1", "--max-batches", "2", "--inject",
                 "activation", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    probs = {p["layer"]: p["p_bit_error"] for p in result["probabilities"] if p["tensor_class"] == "activation"}
    assert probs and all(p > 0.25 * p_act for p in probs.values())
    assert set(probs) <= set(res.layer_names)
    capsys.readouterr()


def test_replay_of_a_file_without_errors_is_a_clear_error(tmp_path, capsys):
    import h5py

    bad = tmp_path / "x.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["workload"] = "tiny_cnn"
    assert main(["train", "--from", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "errors" in err

"""Training replay (workloads.train) and its command, `python -m simulator train` (simulator.cli_train)."""

from __future__ import annotations

import argparse
import json
import math

import h5py
import numpy as np
import pytest

from models.errors import UserError
from simulator import cli_train, schema
from workloads import data, faults, train

FAST = dict(epochs=1, max_batches=4, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def write_ledger(path, workload: str, layers: list[str], wer: dict[str, float], *, with_errors: bool = True,
                 sram: tuple[str, ...] = ()) -> None:
    """A run file as the simulator writes it: /layers and /errors with schema.py's dtypes. Each layer
    gets one /errors row per class in ``wer`` (write error rate per switching bit), in spm_act for
    activations and errors and spm_weight otherwise; classes in ``sram`` sit in SRAM (zero rates)."""
    table = np.zeros(len(layers), dtype=schema.LAYERS_FIELDS)
    table["layer"] = layers
    table["layer_id"] = np.arange(len(layers))
    codes = schema.enum_codes(schema.TENSOR_CLASSES)
    rows = []
    for lid in range(len(layers)):
        for cls, rate in wer.items():
            memory = "spm_act" if cls in ("activation", "error") else "spm_weight"
            rate = 0.0 if cls in sram else rate
            rows.append((lid, codes[cls], memory, 1 << 16, 1 << 17, 0.5, 1e4, rate, rate, 0.0, 0.0, 0.5 * rate))
    with h5py.File(path, "w") as f:
        f.attrs["workload"] = workload
        f.attrs["schema_version"] = schema.SCHEMA_VERSION
        f.attrs["config_yaml"] = "array:\n  precision: bf16\n"
        f.create_dataset("layers", data=table)
        if with_errors:
            f.create_dataset("errors", data=np.array(rows, dtype=schema.ERRORS_FIELDS))


def _layers(model_name: str, digits) -> list[str]:
    model = train.build_model(train.TrainSettings(model=model_name).resolved(), digits)
    return sorted(faults.storage_modules(model)) + ["loss"]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_train.add_parser(parser.add_subparsers(dest="command"))
    return cli_train.run(parser.parse_args(["train", *argv]))


def _metrics(run: train.RunResult) -> list[tuple]:
    return [(e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy) for e in run.epochs]


# ---------------------------------------------------------------- library


def test_zero_flips_give_a_bit_identical_run(digits):
    """Every store samples (p tiny, all layers and classes) and nothing flips: the run equals the baseline."""
    settings = train.TrainSettings(model="tiny_resnet", **FAST)
    model = train.build_model(settings.resolved(), digits)
    probs = {(layer, cls): 1e-30 for layer in train.model_layers(model) for cls in faults.INJECT_CLASSES}
    result = train.replay(settings, digits, probs)
    assert sum(result.injected.flips.values()) == 0
    assert _metrics(result.baseline) == _metrics(result.injected)


def test_runs_are_deterministic_for_a_seed(digits):
    settings = train.TrainSettings(model="tiny_cnn", **FAST)
    probs = {("conv1", "activation"): 1e-4, ("conv2", "weight"): 1e-3, ("bn1", "error"): 1e-4}
    a = train.train_run(settings, digits, probs, "a")
    b = train.train_run(settings, digits, probs, "b")
    assert _metrics(a) == _metrics(b) and a.flips == b.flips and a.flips["activation"] > 0
    other = train.train_run(train.TrainSettings(model="tiny_cnn", seed=1, **FAST), digits, probs, "c")
    assert _metrics(other) != _metrics(a)


def test_training_learns_well_above_chance(digits):
    calls = []
    run = train.train_run(train.TrainSettings(model="tiny_mlp", epochs=2), digits, {}, "baseline",
                          progress=lambda label, done, total: calls.append((label, done, total)))
    assert run.epochs[-1].test_accuracy > 0.6 and run.epochs[-1].train_loss < run.epochs[0].train_loss
    assert calls[-1] == ("baseline", 46, 46) and run.step_time_s > 0


def test_a_diverging_run_is_reported_not_raised(digits):
    settings = train.TrainSettings(model="tiny_mlp", epochs=2)
    run = train.train_run(settings, digits, {("fc1", "weight"): 0.02}, "injected")
    assert run.diverged is not None and run.diverged.epoch == 1
    assert run.diverged.tensor_class == "weight" and run.diverged.layer == "fc1"
    assert "diverged in epoch 1" in run.diverged.describe() and run.epochs == []


def test_ledger_layers_must_be_modules_of_the_model(digits):
    model = train.build_model(train.TrainSettings(model="tiny_cnn").resolved(), digits)
    train.check_layers(["conv1", "bn2", "loss"], model, "tiny_cnn", "run.h5")
    with pytest.raises(UserError, match="run.h5: layer 'layer1.0.conv1' .* is not a module of tiny_cnn"):
        train.check_layers(["conv1", "layer1.0.conv1"], model, "tiny_cnn", "run.h5")


def test_settings_are_checked():
    with pytest.raises(UserError, match="--epochs 0"):
        train.TrainSettings(model="tiny_cnn", epochs=0).resolved()
    with pytest.raises(UserError, match="--format bf8"):
        train.TrainSettings(model="tiny_cnn", fmt="bf8").resolved()
    with pytest.raises(UserError, match="--model bert_encoder"):
        train.build_model(train.TrainSettings(model="bert_encoder").resolved(), data.load_digits())


# ---------------------------------------------------------------- command line


def test_sram_ledger_trains_identically_and_writes_json(tmp_path, digits, capsys):
    run_file = tmp_path / "run.h5"
    write_ledger(run_file, "tiny_cnn", _layers("tiny_cnn", digits), dict.fromkeys(faults.INJECT_CLASSES, 1e-3),
                 sram=faults.INJECT_CLASSES)
    assert _cli("--from", str(run_file), "--epochs", "1", "--max-batches", "3") == 0
    out = json.loads((tmp_path / "run.train.json").read_text())
    assert out["model"] == "tiny_cnn" and out["format"] == "bf16" and out["probabilities"] == []
    assert out["baseline"]["epochs"] == out["injected"]["epochs"]
    assert "accuracy and loss per epoch" in capsys.readouterr().out


def test_mram_ledger_injects_its_rates_and_writes_hdf5(tmp_path, digits):
    run_file = tmp_path / "run.h5"
    layers = _layers("tiny_cnn", digits)
    write_ledger(run_file, "tiny_cnn", layers, {"activation": 2e-4, "weight": 2e-4}, sram=("weight",))
    out = tmp_path / "res.h5"
    assert _cli("--from", str(run_file), "--epochs", "1", "--max-batches", "3", "--format", "fp16",
                "--out", str(out)) == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "fp16" and f.attrs["model"] == "tiny_cnn"
        probs = f["probabilities"][()]
        assert {p.decode() if isinstance(p, bytes) else p for p in probs["layer"]} == set(layers) - {"loss"}
        # a switching fraction of 0.5, half of the bits P->AP: p = 0.5 * 2e-4
        np.testing.assert_allclose(probs["p_bit_error"], 1e-4)
        assert f["injected"].attrs["flips_activation"] > 0 and f["injected"].attrs["flips_weight"] == 0
        # one row per seed, fold and epoch: 3 seeds x the default folds
        assert f["baseline/epochs"].shape == (3 * cli_train.DEFAULT_DIGITS_FOLDS,)
        assert f["baseline/epochs"]["test_accuracy"][0] > 0


def test_ber_override_selects_one_class(tmp_path, digits):
    run_file = tmp_path / "run.h5"
    write_ledger(run_file, "tiny_cnn", _layers("tiny_cnn", digits), dict.fromkeys(faults.INJECT_CLASSES, 0.0))
    out = tmp_path / "res.json"
    assert _cli("--from", str(run_file), "--epochs", "1", "--max-batches", "3", "--inject", "weight_gradient",
                "--ber", "weight_gradient=1e-3", "--out", str(out)) == 0
    result = json.loads(out.read_text())
    flips = result["injected"]["flips"]
    assert flips["weight_gradient"] > 0 and sum(flips.values()) == flips["weight_gradient"]
    assert {p["tensor_class"] for p in result["probabilities"]} == {"weight_gradient"}


def test_cli_user_errors(tmp_path, digits):
    run_file = tmp_path / "run.h5"
    write_ledger(run_file, "tiny_cnn", _layers("tiny_cnn", digits), {"activation": 0.0}, with_errors=False)
    with pytest.raises(UserError, match="no /errors table"):
        _cli("--from", str(run_file))
    write_ledger(run_file, "tiny_cnn", _layers("tiny_cnn", digits), {"activation": 0.0})
    with pytest.raises(UserError, match="--data .*missing: no such folder"):
        _cli("--from", str(run_file), "--data", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="unknown tensor class 'weights'"):
        _cli("--from", str(run_file), "--inject", "weights")
    with pytest.raises(UserError, match="is not a module of tiny_mlp"):
        _cli("--from", str(run_file), "--model", "tiny_mlp")
    with pytest.raises(UserError, match="unknown file type '.txt'"):
        _cli("--from", str(run_file), "--out", str(tmp_path / "x.txt"))
    with pytest.raises(UserError, match="no such file"):
        _cli("--from", str(tmp_path / "nope.h5"))
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(UserError, match="not an HDF5 file"):
        _cli("--from", str(tmp_path / "text.h5"))


def test_json_has_no_nan_for_a_diverged_run(tmp_path, digits):
    run_file = tmp_path / "run.h5"
    write_ledger(run_file, "tiny_mlp", _layers("tiny_mlp", digits), {"weight": 0.05})
    out = tmp_path / "res.json"
    assert _cli("--from", str(run_file), "--epochs", "1", "--out", str(out)) == 0
    result = json.loads(out.read_text())
    # CONTRACT: `diverged` is one boolean per seed; where each diverged is in `divergence` (per seed, per fold)
    first = result["injected"]["divergence"][0][0]
    assert result["injected"]["diverged"] == [True] * 3 and first["epoch"] == 1 and "diverged" in first["describe"]
    assert result["overhead"] is None or math.isfinite(result["overhead"])

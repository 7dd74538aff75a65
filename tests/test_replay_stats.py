"""Replay statistics and fields: intervals over seeds, protected fields, per-field and residual rates,
--match flips, divergence as an outcome, seeds in parallel (workloads.stats, formats, seeds)."""

from __future__ import annotations

import argparse
import json

import h5py
import numpy as np
import pytest
import torch
from scipy import stats as sps

from models.errors import UserError
from simulator import cli_train, schema
from workloads import data, faults, formats, seeds, stats, train

TINY = dict(epochs=1, max_batches=3, batch_size=32)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli_train.add_parser(parser.add_subparsers(dest="command"))
    return cli_train.run(parser.parse_args(["train", *argv]))


def _layers(model_name: str) -> list[str]:
    model = train.build_model(train.TrainSettings(model=model_name).resolved(), data.load_digits())
    return sorted(faults.storage_modules(model))


def write_field_ledger(path, workload: str, rows: list[tuple], *, residual: bool = True, field_enum: bool = False):
    """A run file whose /errors has the optional ``field`` and ``p_residual`` columns. ``rows``:
    (layer, tensor class, field, bits_written, p_write (both directions), p_residual)."""
    layers = sorted({r[0] for r in rows})
    table = np.zeros(len(layers), dtype=schema.LAYERS_FIELDS)
    table["layer"] = layers
    table["layer_id"] = np.arange(len(layers))
    field_dt = (h5py.enum_dtype({f: i for i, f in enumerate(formats.LEDGER_FIELDS)}, basetype="i1") if field_enum
                else schema.NAME_DT)
    older = [f for f in schema.ERRORS_FIELDS if f[0] != "p_residual"]  # as files before ECC was modelled
    dtype = older + [("field", field_dt)] + ([("p_residual", "f8")] if residual else [])
    codes = schema.enum_codes(schema.TENSOR_CLASSES)
    out = np.zeros(len(rows), dtype=dtype)
    for i, (layer, cls, field, bits, p_write, p_res) in enumerate(rows):
        base = (layers.index(layer), codes[cls], "spm_act", bits, bits, 1.0, 1e3, p_write, p_write, 0.0, 0.0)
        fval = formats.LEDGER_FIELDS.index(field) if field_enum else field
        out[i] = base + (fval,) + ((p_res,) if residual else ())
    with h5py.File(path, "w") as f:
        f.attrs["workload"] = workload
        f.attrs["schema_version"] = schema.SCHEMA_VERSION
        f.attrs["config_yaml"] = "array:\n  precision: bf16\n"
        f.create_dataset("layers", data=table)
        f.create_dataset("errors", data=out)


# ---------------------------------------------------------------- intervals


def test_t_interval_covers_the_true_mean_95_percent_of_the_time():
    """2000 synthetic experiments of 5 seeds each, normal with known mean and variance: the 95% interval
    must contain the true mean in a fraction within the binomial 99.9% range around 0.95."""
    rng = np.random.default_rng(12)
    trials, n, mu, sigma = 2000, 5, 0.9, 0.02
    cover = cover_diff = 0
    for _ in range(trials):
        base = rng.normal(mu, sigma, n)
        injected = base + rng.normal(-0.01, sigma, n)  # paired: a shared seed effect plus a shift
        iv = stats.t_interval(base)
        cover += iv.ci_low <= mu <= iv.ci_high
        d = stats.paired_difference(injected, base)
        cover_diff += d.ci_low <= -0.01 <= d.ci_high
    low, high = sps.binom.interval(0.999, trials, 0.95)
    assert low <= cover <= high and low <= cover_diff <= high
    # a normal-quantile interval (ignoring the t correction) would under-cover at n = 5: the test can tell
    assert stats.t_interval([0.0, 1.0]).ci_high == pytest.approx(0.5 + 12.706 * np.sqrt(0.5) / np.sqrt(2), rel=1e-3)


def test_interval_edge_cases_and_significance():
    one = stats.t_interval([0.9])
    assert one.ci_low is None and one.significant is None
    assert stats.paired_difference([0.8, 0.81, 0.79], [0.9, 0.91, 0.9]).significant is True
    assert stats.paired_difference([0.9, 0.8, 0.95], [0.9, 0.9, 0.9]).significant is False
    assert seeds.parse_seeds("3", 10) == [10, 11, 12] and seeds.parse_seeds("4,2") == [4, 2]
    for bad in ("0", "x", "1,1", "-1,2"):
        with pytest.raises(UserError, match="--seeds"):
            seeds.parse_seeds(bad)


# ---------------------------------------------------------------- formats and protection


def test_protected_sign_and_exponent_never_flip_over_every_bf16_word():
    fmt = formats.FORMATS["bf16"]
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    groups = fmt.bit_groups(0.5, {"sign", "exponent"})
    assert [list(g) for g, _ in groups] == [list(range(7))]
    plan = formats.FlipSampler(groups, 16, np.random.default_rng(3)).plan(codes.size)
    flipped = fmt.flip_codes(torch.from_numpy(codes.view(np.int16).copy()), plan).numpy().view(np.uint16)
    changed = codes ^ flipped
    assert not np.any(changed & 0xFF80)  # sign (bit 15) and exponent (14..7) untouched in every word
    assert abs(np.unpackbits(changed.view(np.uint8)).mean() * 16 / 7 - 0.5) < 0.01  # mantissa bits: half flip
    # through the stores: values (NaNs aside) keep their sign and exponent, on both paths
    values = torch.from_numpy((codes.astype(np.uint32) << 16).view(np.float32))
    ok = ~torch.isnan(values).numpy()
    top = (values.numpy().view(np.uint32) >> 23)[ok]
    stored = fmt.store(values, plan).numpy().view(np.uint32)[ok] >> 23
    patched = fmt.flip_values(values.numpy()[plan.elements], plan).view(np.uint32) >> 23
    assert np.array_equal(stored, top)
    assert np.array_equal(patched, (values.numpy().view(np.uint32) >> 23)[plan.elements])


@pytest.mark.parametrize("name", list(formats.FORMATS))
def test_protecting_every_field_leaves_nothing_to_flip(name):
    fmt = formats.FORMATS[name]
    assert fmt.bit_groups(0.1, fmt.field_names()) == ()
    assert sum(f.width for f in fmt.fields) == fmt.bits
    with pytest.raises(UserError, match=f"--protect exponentx: {name} has no field"):
        formats.parse_protect("exponentx", fmt)


def test_fx16_is_saturating_q3_12():
    fmt = formats.FORMATS["fx16"]
    x = torch.tensor([0.1, -1.5, 7.9999, 9.0, -9.0])
    got = fmt.store(x, None)
    np.testing.assert_allclose(got.numpy(), [round(0.1 * 4096) / 4096, -1.5, 32767 / 4096, 32767 / 4096, -8.0])
    assert cli_train.FORMAT_NAMES == tuple(formats.FORMATS)


def test_per_field_rates_are_reproduced_chi_square():
    """Per-field ledger rows (sign, exponent, mantissa at their own rates, plus an 'all' row in series)
    read from a run file: the flips per bit position match each field's rate (chi-square, 0.1%)."""
    rates = {"sign": 2e-2, "exponent": 5e-3, "mantissa": 4e-2}
    ledger = {"all": 1e-3, **rates}
    fmt = formats.FORMATS["bf16"]
    groups = fmt.bit_groups(ledger)
    sampler = formats.FlipSampler(groups, 16, np.random.default_rng(5))
    counts = np.zeros(16)
    numel, stores = 4000, 20
    for _ in range(stores):
        plan = sampler.plan(numel)
        for mask in plan.masks:
            counts += (int(mask) >> np.arange(16)) & 1
    n = numel * stores
    p_bit = np.array([faults.odd_flip_probability([1e-3, rates[f.name]]) for f in sorted(fmt.fields, key=lambda f: f.low)
                      for _ in range(f.width)])
    expected = n * p_bit
    chi2 = float(((counts - expected) ** 2 / (n * p_bit * (1 - p_bit))).sum())
    assert sps.chi2.sf(chi2, df=16) > 1e-3
    # the wrong rates (fields swapped) are rejected by the same test
    wrong = n * p_bit[::-1]
    assert sps.chi2.sf(float(((counts - wrong) ** 2 / wrong).sum()), df=16) < 1e-3


def test_field_and_residual_columns_are_read_from_the_run_file(tmp_path):
    path = tmp_path / "run.h5"
    rows = [("conv1", "weight", "sign", 1000, 0.3, 1e-6), ("conv1", "weight", "exponent", 8000, 0.3, 2e-6),
            ("conv1", "weight", "mantissa", 7000, 0.3, 3e-4), ("fc", "activation", "all", 5000, 0.3, 0.0)]
    for enum in (False, True):
        write_field_ledger(path, "tiny_cnn", rows, field_enum=enum)
        _, _, records = cli_train.read_ledger(path)
        got = faults.field_error_probabilities(records)
        # p_residual replaces the probability derived from the write error rates (0.3 here)
        assert got[("conv1", "weight")] == pytest.approx({"sign": 1e-6, "exponent": 2e-6, "mantissa": 3e-4}, rel=1e-9)
        assert got[("fc", "activation")] == {"all": 0.0}
    write_field_ledger(path, "tiny_cnn", rows, residual=False)
    _, _, records = cli_train.read_ledger(path)
    assert faults.field_error_probabilities(records)[("conv1", "weight")]["sign"] == pytest.approx(0.3)
    with pytest.raises(UserError, match="has per-field rows"):
        faults.bit_error_probabilities(records)
    bad = [{**records[0], "field": "exponant"}]
    with pytest.raises(UserError, match="field = 'exponant'"):
        faults.field_error_probabilities(bad)


# ---------------------------------------------------------------- the command


def test_match_flips_gives_the_simulated_flip_count(tmp_path):
    """The simulated network writes 2e6 bits of weight gradient per layer at 1e-4 (7 of 16 bits
    unprotected): 87.5 expected flips per layer and step. With --match flips the replay's real
    training flips per step must match that (Poisson, 4 sigma), whatever its own size."""
    layers = _layers("tiny_cnn")
    bits, p = 2_000_000, 1e-4
    rows = [(layer, "weight_gradient", "all", bits, 0.0, p) for layer in layers]
    run_file = tmp_path / "run.h5"
    write_field_ledger(run_file, "tiny_cnn", rows)
    out = tmp_path / "m.json"
    assert _cli("--from", str(run_file), "--epochs", "1", "--max-batches", "4", "--seeds", "1", "--folds", "1",
                "--inject", "weight_gradient", "--protect", "sign,exponent", "--match", "flips",
                "--out", str(out)) == 0
    res = json.loads(out.read_text())
    n_layers = len({r["layer"] for r in res["probabilities"]})
    want = len(layers) * bits * p * 7 / 16
    fl = res["flips_per_step"]["weight_gradient"]
    assert fl["simulated_flips"] == pytest.approx(want) and fl["simulated_bits"] == len(layers) * bits
    assert fl["scale"] > 1 and n_layers > 0
    steps = 4
    total = res["injected"]["train_flips_per_step"][0] * steps
    assert abs(total - want * steps) < 4 * np.sqrt(want * steps)
    rate = _cli("--from", str(run_file), "--epochs", "1", "--max-batches", "4", "--seeds", "1", "--folds", "1",
                "--inject", "weight_gradient", "--out", str(out))
    assert rate == 0 and json.loads(out.read_text())["flips_per_step"]["weight_gradient"]["replay_rate"] == pytest.approx(p)
    with pytest.raises(UserError, match="--match flips .* --ber"):
        _cli("--from", str(run_file), "--match", "flips", "--inject", "weight_gradient", "--ber", "weight_gradient=1e-3")


def test_divergence_is_an_outcome_per_seed(tmp_path, capsys):
    layers = _layers("tiny_mlp")
    run_file = tmp_path / "run.h5"
    write_field_ledger(run_file, "tiny_mlp", [(layer, "weight", "all", 1000, 0.0, 0.05) for layer in layers])
    out = tmp_path / "d.json"
    assert _cli("--from", str(run_file), "--epochs", "2", "--seeds", "2", "--folds", "1", "--workers", "1",
                "--out", str(out)) == 0
    res = json.loads(out.read_text())
    assert res["seeds"] == [0, 1] and res["injected"]["diverged"] == [True, True]
    assert res["baseline"]["diverged"] == [False, False] and res["injected"]["diverged_fraction"] == 1.0
    where = res["injected"]["divergence"][0][0]
    assert where["epoch"] == 1 and where["step"] >= 1 and where["tensor_class"] == "weight"
    assert res["injected"]["loss"] == [None, None]  # no final loss of a diverged run
    assert all(0.0 <= a <= 1.0 for a in res["injected"]["accuracy"])
    assert res["difference"]["ci_low"] is not None and len(res["difference"]["accuracy"]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "diverged in 2 of 2 seeds" in printed and "significant at 95%" in printed


def test_parallel_seeds_equal_serial():
    settings = train.TrainSettings(model="tiny_cnn", **TINY)
    probs = {("conv1", "activation"): 1e-3, ("conv2", "weight"): 1e-3}
    calls = []
    protect = ("sign", "exponent")  # no run diverges: every step reports progress
    serial = seeds.run_seeds(settings, None, 2, [0, 1], probs, protect, workers=1,
                             progress=lambda s, d, t: calls.append((s, d, t)))
    parallel = seeds.run_seeds(settings, None, 2, [0, 1], probs, protect, workers=2)
    for a, b in zip(serial.seeds, parallel.seeds):
        assert [r.epochs for r in a.injected] == [r.epochs for r in b.injected]
        assert [r.flips for r in a.injected] == [r.flips for r in b.injected]
    assert serial.injected == parallel.injected and serial.difference == parallel.difference
    assert calls[-1] == (1, 2 * 2 * 3, 2 * 2 * 3)  # per seed: 2 folds x (baseline + injected) x 3 steps


def test_digits_folds_partition_all_images_stratified():
    folds = data.digits_folds(5, seed=1)
    n_test = sum(len(f.y_test) for f in folds)
    assert n_test == 1797 and all(len(f.y_train) + len(f.y_test) == 1797 for f in folds)
    counts = np.bincount(np.concatenate([f.y_test for f in folds]), minlength=10)
    per_fold = np.array([np.bincount(f.y_test, minlength=10) for f in folds])
    assert np.array_equal(counts, np.bincount(data.load_digits().y_test.tolist() + data.load_digits().y_train.tolist()))
    assert per_fold.max(axis=0).tolist() == [(c + 4) // 5 for c in counts]  # stratified: each class split evenly
    with pytest.raises(UserError, match="--folds 2: CIFAR-10"):
        data.load_splits("somewhere", 2, 0)

"""Studies that replay their points in training, Pareto fronts and area budgets: the front against a
brute-force one, replay columns against direct trainings, replays cached, heterogeneous points within
their area budget, and the write-energy claim judged by accuracy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import UserError
from simulator import study
from simulator.config import PLACED_CLASSES, load_config
from simulator.study import claims, load_spec, pareto, parse_spec
from simulator.study.points import expand
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, doc: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# ---------------------------------------------------------------- Pareto fronts


def _brute_front(xs, ys):
    return [i for i in range(len(xs))
            if not any(xs[j] <= xs[i] and ys[j] <= ys[i] and (xs[j] < xs[i] or ys[j] < ys[i]) for j in range(len(xs)))]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=0, max_size=14))
def test_front_equals_brute_force_with_ties(points):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert pareto.front(xs, ys) == _brute_front(xs, ys)


def test_mark_follows_goals_where_and_missing_values():
    rows = [{"e": 1.0, "acc": 0.5, "k": "a", "error": ""}, {"e": 2.0, "acc": 0.9, "k": "a", "error": ""},
            {"e": 3.0, "acc": 0.8, "k": "a", "error": ""}, {"e": 0.5, "acc": "", "k": "a", "error": ""},
            {"e": 0.1, "acc": 0.99, "k": "b", "error": ""}, {"e": 0.1, "acc": 0.99, "k": "a", "error": "failed"}]
    fronts = (pareto.ParetoSpec("f", "e", "acc", "min", "max", {"k": "a"}),
              pareto.ParetoSpec("g", "e", "acc", "max", "min"))
    pareto.mark(fronts, rows)
    assert [r["pareto_f"] for r in rows] == [True, True, False, "", "", ""]
    # maximise e, minimise accuracy: (3.0, 0.8) and (1.0, 0.5) beat the rest; (0.1, 0.99) is beaten
    assert [r["pareto_g"] for r in rows] == [True, False, True, "", False, ""]


# ---------------------------------------------------------------- replays


@pytest.fixture
def replay_study(tmp_path):
    base = make_config(tmp_path, "base.yaml")
    relaxed = make_config(tmp_path, "relaxed.yaml", memories={
        "spm_act": {"technology": "stt_mram", "write_voltage_v": 0.5, "write_pulse_ns": 15.0, "read_voltage_v": 0.1}})
    return _write(tmp_path, {
        "name": "rep", "workload": "tiny_cnn",
        "points": [{"memory": "sram", "config": str(base)}, {"memory": "relaxed", "config": str(relaxed)}],
        "replay": {"seeds": [0, 1], "epochs": 1, "max_batches": 4, "batch_size": 32, "lr": 0.1,
                   "targets": ["all", "weight"]},
        "pareto": [{"name": "ea", "x": "energy_total_pj", "y": "accuracy_all", "y_goal": "max"}]})


def test_replay_columns_match_direct_trainings_and_are_cached(replay_study, tmp_path):
    from workloads import data, train

    out = tmp_path / "out"
    res = study.execute(str(replay_study), out=out, workers=2)
    sram, relaxed = res["rows"]
    for r in (sram, relaxed):
        assert r["replayed"] is True and not r["replay_error"]
        for t in ("baseline", "all", "weight"):
            lo, mean, hi = r[f"accuracy_{t}_ci_low"], r[f"accuracy_{t}"], r[f"accuracy_{t}_ci_high"]
            assert 0.0 <= lo <= mean <= hi <= 1.0
        for t in ("all", "weight"):
            assert 0.0 <= r[f"diverged_fraction_{t}"] <= 1.0
            assert r[f"accuracy_diff_{t}"] == pytest.approx(r[f"accuracy_{t}"] - r["accuracy_baseline"])
            assert r[f"accuracy_diff_{t}_ci_low"] <= r[f"accuracy_diff_{t}"] <= r[f"accuracy_diff_{t}_ci_high"]
            assert isinstance(r[f"accuracy_diff_{t}_significant"], bool)
    # the baseline is the error-free training of each seed, exactly as the replay trains it
    direct = []
    for seed in (0, 1):
        s = train.TrainSettings(model="tiny_cnn", epochs=1, max_batches=4, batch_size=32, lr=0.1, seed=seed)
        direct.append(train.train_run(s, data.load_splits(None, 1, seed)[0], {}, "baseline").test_accuracy)
    assert sram["accuracy_baseline"] == pytest.approx(sum(direct) / 2, abs=1e-12)
    # SRAM holds no error: its injected runs are its baseline
    assert sram["accuracy_all"] == sram["accuracy_baseline"] and sram["accuracy_diff_all"] == 0.0
    # the relaxed spm_act (WER ~1e-5) corrupts activations and errors, never weights (spm_weight is SRAM)
    assert relaxed["accuracy_weight"] == relaxed["accuracy_baseline"]
    assert relaxed["accuracy_all"] != relaxed["accuracy_baseline"]
    assert {r["pareto_ea"] for r in res["rows"]} <= {True, False}
    tasks = sorted((out / "cache" / "replays").glob("*.json"))
    # 2 seeds x (baseline, relaxed all, sram all, weight): a task is keyed by the ledger rows of its classes,
    # and neither point has a weight row, so their weight targets are one task
    assert len(tasks) == 8
    again = study.execute(str(replay_study), out=out, workers=2)
    assert again["replay_cached"] == 8 and again["rows"] == res["rows"]
    csv_text = (out / "results.csv").read_text()
    assert "accuracy_all_ci_low" in csv_text.splitlines()[0]


def test_replay_spec_errors(tmp_path):
    base = {"workload": "tiny_cnn", "axes": {"memories.spm_act.banks": [16]}}
    cases = [({"replay": {"seed": 3}}, "replay.seed"), ({"replay": {"targets": ["weights"]}}, "replay.targets"),
             ({"replay": {"seeds": 0}}, "replay.seeds"), ({"replay": {"match": "bits"}}, "replay.match"),
             ({"replay": {"points": {"front": "nope"}}}, "replay.points.front"),
             ({"quick": {"replay": {"seeds": 1}}}, "quick.replay"),
             ({"pareto": [{"x": "energy_total_pj", "y": "accuracy_all"}]}, "pareto[0].y"),
             ({"pareto": [{"x": "energy_total_pj", "y": "total_cycles", "y_goal": "up"}]}, "pareto[0].y_goal"),
             ({"area_budget": {"mm2": 1.0, "of": "default", "memories": ["spm_act"]}}, "area_budget"),
             ({"area_budget": {"mm2": 1.0, "memories": ["spm_act"], "share": {"weights": 1}}}, "area_budget.share")]
    for extra, key in cases:
        with pytest.raises(UserError, match=rf": {key.replace('[', '.').replace(']', '.')}"):
            expand(parse_spec({**base, **extra}, str(tmp_path / "x.yaml"), tmp_path))


# ---------------------------------------------------------------- area budgets


def test_heterogeneous_points_fit_the_area_budget_with_the_largest_capacities():
    from models.technologies.search import capacity_step_kib

    spec = load_spec("heterogeneous", quick=True)
    budget = spec.area_budget
    total = load_config(REPO / "configs" / "default.yaml")
    budget_mm2 = sum(total.memories[m].area_mm2 for m in ("spm_act", "spm_weight"))
    assert budget.budget_mm2() == pytest.approx(budget_mm2)
    share = dict(budget.share)
    pts = expand(spec)
    assert len(pts) == 4
    for p in pts:
        cfg = p.config
        used = {cfg.placement[c] for c in PLACED_CLASSES}
        assert set(cfg.memories) == used | {"accumulator"}  # a pool no class uses is not built
        assert sum(cfg.memories[m].area_mm2 for m in used) <= budget_mm2
        placed = sum(share[c] for c in PLACED_CLASSES)
        for m in used:
            mem = cfg.memories[m]
            target = budget_mm2 * sum(share[c] for c in PLACED_CLASSES if cfg.placement[c] == m) / placed
            assert mem.area_mm2 <= target
            step = capacity_step_kib(mem.banks, mem.word_bits)
            bigger = load_config(p.config_path, p.overrides + (f"memories.{m}.capacity_kib={mem.capacity_bytes // 1024 + step}",))
            assert bigger.memories[m].area_mm2 > target  # the largest capacity that fits its share


# ---------------------------------------------------------------- the write-energy claim with accuracy


def _row(v, ns, energy, acc, lo, hi, replayed=True):
    return {"memories.spm_act.write_voltage_v": v, "technology": "stt_mram", "technology_spm_act": "stt_mram",
            "capacity_spm_act_kib": 1024, "write_voltage_spm_act_v": v, "write_pulse_spm_act_ns": ns,
            "write_energy_spm_act_pj_per_bit": energy, "p_write_p2ap_spm_act": 1e-9, "p_write_ap2p_spm_act": 1e-9,
            "replayed": replayed, "replay_error": "", "accuracy_baseline": 0.9, "accuracy_baseline_ci_low": 0.88,
            "accuracy_baseline_ci_high": 0.92, "accuracy_all": acc, "accuracy_all_ci_low": lo,
            "accuracy_all_ci_high": hi, "accuracy_diff_all_significant": False, "diverged_fraction_all": 0.0,
            "error": ""}


def test_write_energy_claim_takes_the_cheapest_point_within_the_baseline_interval():
    rows = [_row(0.9, 30, 2.4, 0.91, 0.89, 0.93), _row(0.6, 20, 1.0, 0.885, 0.86, 0.91),
            _row(0.5, 10, 0.5, 0.30, 0.1, 0.5), _row(0.5, 5, 0.3, 0.89, 0.8, 0.95, replayed=False)]
    base_of = {i: 0 for i in range(4)}
    c = claims.write_energy_claim(rows, base_of)
    assert c["ours"] == "2.4x" and c["holds"] == "yes"
    assert "0.6 V, 20 ns" in c["statement"] and "0.5 V, 10 ns" in c["statement"]
    rows[1]["diverged_fraction_all"] = 1 / 3  # a diverged seed is no minimal loss, whatever the interval
    assert claims.write_energy_claim(rows, base_of)["ours"] == "1x"
    rows[1]["diverged_fraction_all"] = 0.0
    rows[1]["accuracy_all"] = 0.87  # now below the baseline's interval: only the reference is within
    c = claims.write_energy_claim(rows, base_of)
    assert c["ours"] == "1x" and c["holds"] == "no"


def test_bit_protect_points_write_sign_and_exponent_at_the_nominal_pulse():
    spec = load_spec("bit_protect")
    assert spec.replay is not None and spec.pareto[0].y == "accuracy_all"
    pts = expand(spec)
    by = {(p.labels["scheme"], p.labels["mantissa_pulse_ns"]): p.config for p in pts}
    nominal = by[("nominal", 30)].memories["spm_act"]
    for pulse in (5, 10, 15, 20):
        uniform = by[("uniform", pulse)].memories["spm_act"]
        protected = by[("sign_exponent_nominal", pulse)].memories["spm_act"]
        # 9 of bf16's 16 bits (sign, exponent) at 30 ns, the 7 mantissa bits at the short pulse
        assert uniform.write_energy_pj < protected.write_energy_pj < nominal.write_energy_pj
        assert max(uniform.p_write_p2ap, uniform.p_write_ap2p) > max(protected.p_write_p2ap, protected.p_write_ap2p)
        pulses = by[("sign_exponent_nominal", pulse)].resolved["memories"]["spm_act"]["field_write_pulse_ns"]
        assert pulses == {"sign": 30, "exponent": 30, "mantissa": pulse}

"""The invariants checked on every run (simulator.invariants): clean runs pass, and broken ledgers,
clocks, byte counts, energies and probabilities are caught with a message naming what broke."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from simulator import api, invariants, schema
from simulator.cli import main
from simulator.config import load_config
from simulator.invariants import InvariantError, TimelineTally
from simulator.stats import Ledger


@pytest.fixture
def captured(config_file, monkeypatch):
    """A clean run of tiny_resnet and what `check_run` was given: (result, plan, op_timing, tally)."""
    seen = {}
    real = api.check_run

    def spy(result, plan, op_timing, tally):
        seen["args"] = (result, plan, list(op_timing), copy.deepcopy(tally))
        real(result, plan, op_timing, tally)

    monkeypatch.setattr(api, "check_run", spy)
    api.run(load_config(config_file()), "tiny_resnet", write=False)
    return seen["args"]


def _check(result, plan, op_timing, tally):
    invariants.check_run(result, plan, op_timing, tally)


def _with(result, **tables):
    r = copy.copy(result)
    for name, table in tables.items():
        setattr(r, name, table)
    return r


def test_clean_run_passes_and_checks_real_quantities(captured):
    result, plan, timing, tally = captured
    _check(result, plan, timing, tally)
    # the quantities compared are not zero by accident
    assert tally.read_bytes == int(result.layers["dram_read_bytes"].sum()) > 0
    assert sum(t.end - t.start for t in timing) <= result.total_cycles
    floors = invariants.dram_floors(plan, False)
    assert any(r > 0 for r, _, _ in floors.values()) and any(exact for *_, exact in floors.values())


def test_stall_part_off_by_one_is_caught(captured):
    result, plan, timing, tally = captured
    layers = result.layers.copy()
    i = int(np.argmax(layers["total_cycles"]))
    layers["compute_cycles"][i] += 1
    with pytest.raises(InvariantError, match=r"stall parts sum to \d+ cycles .* engine's clock spent \d+ cycles"):
        _check(_with(result, layers=layers), plan, timing, tally)


def test_stall_total_consistent_but_clock_differs_is_caught(captured):
    """Parts and total_cycles agree with each other, but not with the engine's clock span of the op."""
    result, plan, timing, tally = captured
    layers = result.layers.copy()
    i = int(np.argmax(layers["compute_cycles"]))
    layers["compute_cycles"][i] -= 5
    layers["total_cycles"][i] -= 5
    name = f"{layers['layer'][i]}"
    with pytest.raises(InvariantError, match=name.decode() if isinstance(name, bytes) else name):
        _check(_with(result, layers=layers), plan, timing, tally)


def test_moving_cycles_between_parts_is_not_flagged(captured):
    result, plan, timing, tally = captured
    layers = result.layers.copy()
    i = int(np.argmax(layers["compute_cycles"]))
    layers["compute_cycles"][i] -= 3
    layers["dram_cycles"][i] += 3
    _check(_with(result, layers=layers), plan, timing, tally)


def test_engine_clock_longer_than_ledger_is_caught(captured):
    result, plan, timing, tally = captured
    timing = copy.deepcopy(timing)
    timing[3].end += 7
    for t in timing[4:]:
        t.start += 7
        t.end += 7
    with pytest.raises(InvariantError, match="engine's clock"):
        _check(_with(result, total_cycles=result.total_cycles + 7), plan, timing, tally)


def test_negative_cycles_are_caught(captured):
    result, plan, timing, tally = captured
    layers = result.layers.copy()
    layers["idle_cycles"][0] = -4
    layers["compute_cycles"][0] += 4
    with pytest.raises(InvariantError, match="idle_cycles = -4 is negative"):
        _check(_with(result, layers=layers), plan, timing, tally)


def test_dram_bytes_below_the_plans_tensors_are_caught(captured):
    """/layers and /traffic lose the same bytes (they agree): only the plan's tensor sizes can tell."""
    result, plan, timing, tally = captured
    floors = invariants.dram_floors(plan, False)
    layers = result.layers.copy()
    codes = [(int(r["layer_id"]), int(r["op"]), int(r["phase"])) for r in layers]
    i = next(k for k, key in enumerate(codes) if floors[key][0] > 0)
    cut = int(layers["dram_read_bytes"][i])
    with pytest.raises(InvariantError, match="DRAM read bytes 0 but the plan's tensors need (at least|exactly)"):
        invariants.check_bytes(_bump(layers, i, "dram_read_bytes", -cut),
                               _bump_traffic(result.traffic, layers[i], -cut, "read_bytes"), floors, None)


def test_vector_op_bytes_must_match_exactly(captured):
    result, plan, timing, tally = captured
    floors = invariants.dram_floors(plan, False)
    layers = result.layers.copy()
    codes = [(int(r["layer_id"]), int(r["op"]), int(r["phase"])) for r in layers]
    i = next(k for k, key in enumerate(codes) if floors[key][2] and floors[key][1] > 0)
    with pytest.raises(InvariantError, match="need exactly"):
        invariants.check_bytes(_bump(layers, i, "dram_write_bytes", 64),
                               _bump_traffic(result.traffic, layers[i], 64, "write_bytes"), floors, None)


def _bump(layers, i, col, n):
    out = layers.copy()
    out[col][i] += n
    return out


def _bump_traffic(traffic, row, n, col):
    """Add n bytes (n < 0: take them) to the DRAM rows of ``row``'s layer and phase."""
    out = traffic.copy()
    for k in np.flatnonzero((out["memory"] == "dram") & (out["layer_id"] == row["layer_id"])
                            & (out["phase"] == row["phase"])):
        take = max(n, -int(out[col][k]))
        out[col][k] += take
        n -= take
        if n == 0:
            break
    return out


def test_layers_and_traffic_disagreeing_is_caught(captured):
    result, plan, timing, tally = captured
    traffic = result.traffic.copy()
    k = int(np.flatnonzero(traffic["memory"] == "dram")[0])
    traffic["write_bytes"][k] += 1
    with pytest.raises(InvariantError, match="/layers has DRAM read/write bytes .* /traffic"):
        _check(_with(result, traffic=traffic), plan, timing, tally)


def test_timeline_bytes_disagreeing_is_caught(captured):
    result, plan, timing, tally = captured
    t = copy.deepcopy(tally)
    t.write_bytes += 128
    with pytest.raises(InvariantError, match="timeline's DRAM transfers carry"):
        _check(result, plan, timing, t)


def test_timeline_rows_outside_the_run_are_caught(captured):
    result, plan, timing, _ = captured
    rows = result.timeline.copy()
    rows["t_end_cycles"][5] = rows["t_start_cycles"][5] - 1
    t = TimelineTally(result.hw_units.index("dram"))
    t.add(rows)
    with pytest.raises(InvariantError, match="1 rows end before they start"):
        _check(result, plan, timing, t)
    rows = result.timeline.copy()
    rows["t_end_cycles"][-1] = result.total_cycles + 1
    t = TimelineTally(result.hw_units.index("dram"))
    t.add(rows)
    with pytest.raises(InvariantError, match="outside the run's"):
        _check(result, plan, timing, t)


@pytest.mark.parametrize("value", [math.nan, math.inf, -1e-3])
def test_bad_energy_is_caught(captured, value):
    result, plan, timing, tally = captured
    layers = result.layers.copy()
    layers["energy_dram_pj"][2] = value
    with pytest.raises(InvariantError, match=r"energy_dram_pj = .*must be finite and >= 0"):
        _check(_with(result, layers=layers), plan, timing, tally)
    energy = result.energy.copy()
    energy["energy_pj"][1] = value
    with pytest.raises(InvariantError, match=r"/energy row 1 .*must be finite and >= 0"):
        _check(_with(result, energy=energy), plan, timing, tally)


def test_energy_tables_disagreeing_is_caught(captured):
    result, plan, timing, tally = captured
    energy = result.energy.copy()
    k = int(np.flatnonzero(energy["component"] == schema.ENERGY_COMPONENTS.index("mac"))[0])
    energy["energy_pj"][k] *= 1.001
    with pytest.raises(InvariantError, match="mac energy: /layers sums to .* /energy to"):
        _check(_with(result, energy=energy), plan, timing, tally)


@pytest.mark.parametrize("col,value", [("p_write_p2ap", 1.5), ("p_retention", -1e-12), ("p_residual", math.nan),
                                       ("p_read_disturb", math.inf), ("switch_fraction", 2.0)])
def test_probability_outside_unit_interval_is_caught(captured, col, value):
    result, plan, timing, tally = captured
    errors = result.errors.copy()
    errors[col][0] = value
    with pytest.raises(InvariantError, match=f"{col} = .* is not a probability in \\[0, 1\\]"):
        _check(_with(result, errors=errors), plan, timing, tally)


def test_negative_residence_is_caught(captured):
    result, plan, timing, tally = captured
    errors = result.errors.copy()
    errors["mean_residence_ns"][0] = -1.0
    with pytest.raises(InvariantError, match="mean_residence_ns = -1.0"):
        _check(_with(result, errors=errors), plan, timing, tally)


def test_an_engine_that_loses_stall_cycles_fails_the_run(config_file, tmp_path, monkeypatch):
    """A ledger bug (stall cycles dropped) fails api.run before the file exists."""
    real = Ledger.add_stalls

    def lossy(self, row, parts):
        real(self, row, {k: (v - 1 if k == "compute" and v > 1 else v) for k, v in parts.items()})

    monkeypatch.setattr(Ledger, "add_stalls", lossy)
    out = tmp_path / "r.h5"
    with pytest.raises(InvariantError, match="stall parts sum to"):
        api.run(load_config(config_file()), "tiny_cnn", out=out)
    assert list(tmp_path.iterdir()) == [tmp_path / "cfg.yaml"]


def test_cli_reports_a_broken_invariant_in_one_line_with_status_3(config_file, tmp_path, monkeypatch, capsys):
    real = Ledger.dram_access

    def leaky(self, row, tclass, read_bytes, write_bytes):
        real(self, row, tclass, read_bytes // 2, write_bytes)

    monkeypatch.setattr(Ledger, "dram_access", leaky)
    out = tmp_path / "r.h5"
    status = main(["workload", "tiny_cnn", "--config", str(config_file()), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == invariants.EXIT_STATUS == 3
    assert len(err.splitlines()) == 1 and err.startswith("invariant broken: ") and "DRAM read bytes" in err
    assert not out.exists() and not any(p.name.endswith(".mramsim.tmp") for p in tmp_path.iterdir())


def test_fast_forward_that_skips_bytes_is_caught(monkeypatch):
    """Skipped periods whose DRAM counts are added one period short: the timeline and the plan disagree."""
    from simulator.components import skip

    real = skip.add_delta

    def short(acc, now, before, k):
        real(acc, now, before, k - 1 if acc is skip_target["dram"] else k)

    skip_target = {}
    real_copy = skip.copy_period

    def spy(engine, *args, **kw):
        skip_target["dram"] = engine._dram_access
        return real_copy(engine, *args, **kw)

    monkeypatch.setattr(skip, "add_delta", short)
    monkeypatch.setattr("simulator.components.fast_forward.copy_period", spy)
    with pytest.raises(InvariantError, match="DRAM"):
        api.run(load_config(None, ["training.batch=2"]), "resnet18", phases=("fwd",), write=False)

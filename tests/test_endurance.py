"""Endurance: hot-spot writes per cell per second and lifetime (models/endurance.py), in the run and report."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import yaml
from rich.console import Console

from models.endurance import SECONDS_PER_YEAR, hot_spot
from simulator import run
from simulator.config import load_config
from simulator.report import render_run
from tests.conftest import make_config


def test_hot_spot_rule_by_hand():
    e = hot_spot("m", [500, 2500, 0, 1000], 1000, step_seconds=0.5, attempts=1.0, endurance_cycles=1e12)
    assert e.hot_writes_per_cell_per_s == pytest.approx((1 + 2.5 + 1) / 0.5)
    assert e.mean_writes_per_cell_per_s == pytest.approx(4000 / 1000 / 0.5)
    assert e.lifetime_years == pytest.approx(1e12 / 9.0 / SECONDS_PER_YEAR)
    verified = hot_spot("m", [500], 1000, 1.0, attempts=1.5, endurance_cycles=1e12)
    assert verified.hot_writes_per_cell_per_s == pytest.approx(1.5)
    assert math.isinf(hot_spot("m", [500], 1000, 1.0, 1.0, math.inf).lifetime_years)
    assert math.isinf(hot_spot("m", [0], 1000, 1.0, 1.0, 1e12).lifetime_years)


def _config(tmp_path, **mem):
    path = make_config(tmp_path, "e.yaml", accumulator=None)
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["spm_act"] = {"technology": "stt_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64,
                                  "write_voltage_v": 0.9, "write_pulse_ns": 10.0, **mem}
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


def test_run_summary_and_report_carry_endurance(tmp_path):
    cfg = _config(tmp_path)
    assert cfg.memories["spm_act"].endurance_cycles == 1e12 and math.isinf(cfg.memories["spm_weight"].endurance_cycles)
    res = run(cfg, "tiny_mlp", write=False)
    e = res.summary()["endurance"]
    act = e["spm_act"]
    assert act["hot_writes_per_cell_per_s"] >= act["mean_writes_per_cell_per_s"] > 0
    tr = res.traffic
    names = tr["memory"].astype(str)
    written = tr["write_bytes"][names == "spm_act"]
    assert act["mean_writes_per_cell_per_s"] == pytest.approx(written.sum() / (256 * 1024) / res.seconds)
    assert act["lifetime_years"] == pytest.approx(1e12 / act["hot_writes_per_cell_per_s"] / SECONDS_PER_YEAR)
    assert math.isinf(e["spm_weight"]["lifetime_years"])  # SRAM
    longer = run(_config(tmp_path, endurance_cycles=1e15), "tiny_mlp", write=False).summary()["endurance"]
    assert longer["spm_act"]["lifetime_years"] == pytest.approx(1e3 * act["lifetime_years"])
    buf = io.StringIO()
    render_run(res, Console(file=buf, width=200))
    text = buf.getvalue()
    assert "endurance" in text and "0.9 V, 10 ns" in text and "unlimited" in text and "years" in text


def test_sot_endurance_default_and_bad_value(tmp_path):
    sot = _config(tmp_path, technology="sot_mram", write_voltage_v=0.7, write_pulse_ns=5.0).memories["spm_act"]
    assert sot.endurance_cycles == 1e15
    with pytest.raises(Exception, match=r"memories\.spm_act\.endurance_cycles = 0"):
        _config(tmp_path, endurance_cycles=0)
    assert np.isfinite(sot.write_attempts)

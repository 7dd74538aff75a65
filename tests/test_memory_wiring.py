"""Memories described by technology and operating point: the engine takes its figures from the
device and circuit models; presets, iso-area sizing, the /errors ledger and the device command."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.memory_array import MemoryArray, capacity_for_area
from simulator import run, schema
from simulator.cli import main
from simulator.config import CONFIG_DIR, load_config
from tests.conftest import make_config

DATA = Path(__file__).parent / "data"
MRAM = {"technology": "stt_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64, "write_voltage_v": 0.9,
        "write_pulse_ns": 10.0, "read_voltage_v": 0.1}
FIGURE_KEYS = ("read_latency_ns", "read_occupancy_ns", "write_latency_ns", "write_occupancy_ns", "read_energy_pj",
               "write_energy_pj", "leakage_mw", "area_mm2")


def _mram_config(tmp_path, name, **mem):
    base = make_config(tmp_path, "base.yaml", accumulator=None, training={"batch": 64})
    import yaml

    doc = yaml.safe_load(base.read_text())
    doc["memories"]["spm_act"] = dict(MRAM, **mem)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    return path


def test_engine_takes_mram_figures_from_the_device_model(tmp_path):
    slow = load_config(_mram_config(tmp_path, "slow.yaml", write_pulse_ns=10.0))
    fast = load_config(_mram_config(tmp_path, "fast.yaml", write_pulse_ns=4.0))
    a, b = slow.memories["spm_act"], fast.memories["spm_act"]
    ref = MemoryArray.from_config(dict(MRAM, write_pulse_ns=4.0), "x")
    assert b.write_occupancy_ns == pytest.approx(ref.write_occupancy_ns)
    assert b.write_occupancy_ns < a.write_occupancy_ns - 5.0
    assert b.write_energy_pj < a.write_energy_pj
    assert max(b.p_write_p2ap, b.p_write_ap2p) > max(a.p_write_p2ap, a.p_write_ap2p)
    rs, rf = run(slow, "tiny_mlp", write=False), run(fast, "tiny_mlp", write=False)
    assert rf.total_cycles < rs.total_cycles
    assert rf.layers["spm_write_cycles"].sum() < rs.layers["spm_write_cycles"].sum()
    assert rf.layers["energy_spm_write_pj"].sum() < rs.layers["energy_spm_write_pj"].sum()


def test_lower_voltage_lowers_write_energy_and_raises_wer(tmp_path):
    # a cell wide enough that its access transistor does not saturate below 1 V (models/mtj_cell.py)
    hi = load_config(_mram_config(tmp_path, "hi.yaml", write_voltage_v=1.0, cell_area_f2=200.0)).memories["spm_act"]
    lo = load_config(_mram_config(tmp_path, "lo.yaml", write_voltage_v=0.7, cell_area_f2=200.0)).memories["spm_act"]
    assert lo.write_energy_pj < hi.write_energy_pj
    assert lo.p_write_ap2p > hi.p_write_ap2p and lo.p_write_p2ap > hi.p_write_p2ap


def test_explicit_figures_override_the_model(tmp_path):
    cfg = load_config(_mram_config(tmp_path, "o.yaml", write_occupancy_ns=3.0))
    assert cfg.memories["spm_act"].write_occupancy_ns == 3.0
    assert cfg.memories["spm_act"].p_write_ap2p > 0  # the operating point's errors are kept


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_presets_load(path):
    cfg = load_config(path)
    assert cfg.memories and set(cfg.placement) == {"activation", "weight", "error", "weight_gradient",
                                                    "optimizer_state"}


def test_iso_area_preset_fits_the_sram_baseline_area():
    sram = load_config(CONFIG_DIR / "default.yaml")
    iso = load_config(CONFIG_DIR / "mram_iso_area.yaml")
    for name in ("spm_act", "spm_weight"):
        s, m = sram.memories[name], iso.memories[name]
        assert m.technology == "stt_mram"
        assert m.area_mm2 <= s.area_mm2
        assert m.capacity_bytes > s.capacity_bytes
        spec = {"technology": "stt_mram", "banks": m.banks, "word_bits": m.word_bits, "node_nm": 22,
                "write_voltage_v": 0.9, "write_pulse_ns": 10.0, "read_voltage_v": 0.1}
        assert m.capacity_bytes // 1024 == capacity_for_area(spec, s.area_mm2)


def test_heterogeneous_preset_keeps_weights_in_sram():
    cfg = load_config(CONFIG_DIR / "heterogeneous.yaml")
    assert cfg.memories[cfg.placement["weight"]].technology == "sram"
    assert cfg.memories[cfg.placement["activation"]].technology == "stt_mram"
    assert cfg.memories[cfg.placement["error"]].technology == "stt_mram"


def test_nvsim_file_memory(tmp_path):
    cfg_path = make_config(tmp_path, memories={"spm_act": {
        "technology": "stt_mram", "nvsim_file": str(DATA / "nvsim_sttram_512KB_256b.txt"), "capacity_kib": 512,
        "banks": 8, "word_bits": 256, **{k: None for k in FIGURE_KEYS}}})
    mem = load_config(cfg_path).memories["spm_act"]
    assert mem.figures.source != "model"
    assert mem.write_latency_ns > 5


def test_errors_ledger_matches_traffic_and_operating_point(tmp_path):
    cfg = load_config(_mram_config(tmp_path, "e.yaml", write_voltage_v=0.7, write_pulse_ns=5.0))
    res = run(cfg, "tiny_cnn", write=False)
    err = res.errors
    names = err["memory"].astype(str)
    act = schema.TENSOR_CLASSES.index("activation")
    mram_rows = err[names == "spm_act"]
    sram_rows = err[names != "spm_act"]
    mem = cfg.memories["spm_act"]
    assert (mram_rows["p_write_ap2p"] == mem.p_write_ap2p).all() and (mram_rows["p_write_ap2p"] > 0).all()
    assert (mram_rows["p_read_disturb"] == mem.p_read_disturb).all()
    for f in ("p_write_p2ap", "p_write_ap2p", "p_read_disturb", "p_retention"):
        assert (sram_rows[f] == 0).all()
    tr = res.traffic
    tnames = tr["memory"].astype(str)
    for cls in ("activation", "error"):
        ci = schema.TENSOR_CLASSES.index(cls)
        m = (tnames == "spm_act") & (tr["tensor_class"] == ci)
        e = (names == "spm_act") & (err["tensor_class"] == ci)
        assert int(err["bits_written"][e].sum()) == 8 * int(tr["write_bytes"][m].sum())
        assert int(err["bits_read"][e].sum()) == 8 * int(tr["read_bytes"][m].sum())
    assert (mram_rows["mean_residence_ns"][mram_rows["tensor_class"] == act] > 0).any()


def test_unphysical_parameters_are_one_line_errors(tmp_path, capsys):
    good = _mram_config(tmp_path, "g.yaml")
    for override, expect in (("memories.spm_act.write_pulse_ns=0", "memories.spm_act.write_pulse_ns = 0"),
                             ("memories.spm_act.mtj.delta=-5", "delta = -5"),
                             ("memories.spm_act.read_voltage_v=-1", "memories.spm_act.read_voltage_v = -1")):
        code = main(["workload", "tiny_cnn", "--config", str(good), "--set", override, "--dry-run"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and expect in err, err
        assert err.startswith(f"--set {override.split('=')[0]}: "), err


def test_device_command_sweeps_operating_points(capsys):
    code = main(["device", "--voltages", "0.6,0.9", "--pulses", "5,10", "--mc", "64"])
    out = capsys.readouterr().out
    assert code == 0
    assert "WER AP→P" in out and "0.6 V" in out and "MC WER" in out
    assert out.count(" ns ") >= 4


def test_device_command_bad_input(capsys):
    assert main(["device", "--pulses", "0,5"]) == 2
    assert "--pulses 0,5" in capsys.readouterr().err
    assert main(["device", "--config", str(CONFIG_DIR / "default.yaml")]) == 2
    assert "no stt_mram memory" in capsys.readouterr().err


def test_report_shows_bit_errors(tmp_path, capsys):
    cfg = _mram_config(tmp_path, "r.yaml", write_voltage_v=0.7, write_pulse_ns=5.0)
    assert main(["workload", "tiny_cnn", "--config", str(cfg), "--out", str(tmp_path / "r.h5")]) == 0
    out = capsys.readouterr().out
    assert "Bit errors by memory and tensor class" in out and "spm_act" in out

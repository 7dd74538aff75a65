"""Fuzz: every known config key x hostile values, through ``--set`` and through YAML config files.

Each case either loads into a config whose figures are physical (probabilities in [0, 1], energies,
latencies and leakage finite and not negative) or is refused with one line naming the key. A few
cases go through the real command line (subprocess) for exit status 2 and a single stderr line.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import mtj, mtj_cell, technologies
from models.errors import UserError
from simulator import cli
from simulator.config import DEFAULT_CONFIG, FIGURE_KEYS, PROTECTION_KEYS, load_config

REPO = Path(__file__).resolve().parent.parent
FAST = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HOSTILE = ["nan", ".nan", "inf", ".inf", "-.inf", "-1", "0", "1e308", "-1e308", "1e-300", "12345678901234567890123",
           "-12345678901234567890123", "abc", "''", "[1, 2]", "[]", "{}", "{a: 1}", "true", "null", "0.5", "3",
           "1e6", "'" + "x" * 500 + "'", "0x10", "1_000"]

MTJ_KEYS = [f for f in mtj.MTJParams.__dataclass_fields__] + list(mtj_cell.COUPLING_KEYS) + list(mtj_cell.CELL_KEYS)


def _leaves(doc: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in doc.items():
        key = f"{prefix}{k}"
        out += _leaves(v, key + ".") if isinstance(v, dict) else [key]
    return out


SRAM_KEYS = sorted(set(_leaves(yaml.safe_load(DEFAULT_CONFIG.read_text()))) | {
    "clock_ghz", "temperature_k", "energy.node_nm", "energy.mac_pj", "energy.vector_op_pj", "vector.lanes",
    *(f"dram.{k}" for k in ("preset", "channels", "bandwidth_gbps", "latency_ns", "energy_pj_per_bit",
                            "burst_bytes", "clock_mhz")),
    *(f"memories.spm_act.{k}" for k in technologies.get("sram").accepted_keys() + FIGURE_KEYS + PROTECTION_KEYS
      + ("write_buffer_words", "organize", "iso_area_with")),
    "memories", "array", "dram", "placement", "memories.spm_act", "unknown_key", "memories.spm_act.nope"})
STT_KEYS = sorted({*(f"memories.spm_act.{k}" for k in technologies.get("stt_mram").accepted_keys()
                     if k not in ("nvsim_file",)),
                   *(f"memories.spm_act.mtj.{k}" for k in MTJ_KEYS)})
SOT_KEYS = sorted({*(f"memories.spm_act.{k}" for k in ("write_voltage_v", "write_pulse_ns", "read_voltage_v",
                                                         "read_pulse_ns", "wer_target")),
                   *(f"memories.spm_act.sot.{k}" for k in ("theta_sh", "hm_resistivity_uohm_cm", "hm_width_nm",
                                                          "hm_thickness_nm", "hm_length_nm", "mu0_meff_t",
                                                          "fl_width_nm", "fm_resistivity_uohm_cm",
                                                          "r_write_access_ohm"))})


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzzcfg")
    out = {"sram": DEFAULT_CONFIG}
    for tech, v, t in (("stt_mram", 0.9, 10.0), ("sot_mram", 0.7, 5.0)):
        doc = {"base": str(DEFAULT_CONFIG), "memories": {"spm_act": {
            "technology": tech, "write_voltage_v": v, "write_pulse_ns": t, "read_voltage_v": 0.1}}}
        path = d / f"{tech}.yaml"
        path.write_text(yaml.safe_dump(doc))
        out[tech] = path
    return out


def assert_physical(cfg) -> None:
    assert 0 < cfg.clock_ghz <= 20
    for m in cfg.memories.values():
        for k in ("p_write_p2ap", "p_write_ap2p", "p_read_disturb"):
            assert 0.0 <= getattr(m, k) <= 1.0, (m.name, k, getattr(m, k))
        for k in FIGURE_KEYS + ("write_energy_pj_per_switched_bit", "write_energy_pj_fixed"):
            v = getattr(m, k)
            assert math.isfinite(v) and v >= 0, (m.name, k, v)
        assert 1 <= m.write_attempts < math.inf
    d = cfg.dram
    for k in ("bandwidth_gbps", "latency_ns", "energy_pj_per_bit", "clock_mhz"):
        assert math.isfinite(getattr(d, k)) and getattr(d, k) > 0, k
    assert 1 <= d.channels <= 1024 and 1 <= d.burst_bytes <= 1 << 20
    assert math.isfinite(cfg.energy.mac_pj) and cfg.energy.mac_pj >= 0
    assert math.isfinite(cfg.energy.vector_op_pj) and cfg.energy.vector_op_pj >= 0


def assert_one_line(exc: UserError, key: str) -> None:
    text = str(exc)
    assert "\n" not in text and 0 < len(text) <= 700, text
    parts = key.split(".")
    assert any(p in text for p in parts), (key, text)  # names the key (or the section it lands in)


def load_or_refuse(path, key: str, value: str) -> None:
    try:
        cfg = load_config(path, [f"{key}={value}"])
    except UserError as exc:
        assert_one_line(exc, key)
    else:
        assert_physical(cfg)


@FAST
@given(key=st.sampled_from(SRAM_KEYS),
       value=st.sampled_from(HOSTILE) | st.floats().map(repr) | st.integers(-(10 ** 30), 10 ** 30).map(str))
def test_fuzz_set_sram_keys(configs, key, value):
    load_or_refuse(configs["sram"], key, value)


@pytest.mark.parametrize("tech, keys", [("stt_mram", STT_KEYS), ("sot_mram", SOT_KEYS)])
def test_fuzz_set_device_keys(configs, tech, keys):
    """Every device key x a fixed hostile set (a device load is ~0.1 s, so no random search here)."""
    for key in keys:
        for value in (".nan", "-.inf", "1e308", "-1", "1e-300", "12345678901234567890123", "abc", "1000"):
            load_or_refuse(configs[tech], key, value)


@pytest.mark.parametrize("key, value, message", [
    ("memories.spm_act.write_voltage_v", "1e23", r"write_voltage_v = 1e\+23 \(must be in \[0.001, 3\] V\)"),
    ("memories.spm_act.write_voltage_v", "1000", r"must be in \[0.001, 3\] V"),
    ("memories.spm_act.write_pulse_ns", "1e9", r"write_pulse_ns = 1000000000.0 \(must be in \[0.01, 1000\] ns\)"),
    ("memories.spm_act.mtj.eta_p2ap", "1000", r"eta_p2ap = 1000 \(must be in \[0.0001, 1\]\)"),
    ("memories.spm_act.mtj.ms_a_per_m", "1000", r"ms_a_per_m = 1000"),
])
def test_device_values_beyond_physics_name_the_limit(configs, key, value, message):
    with pytest.raises(UserError, match=message):
        load_config(configs["stt_mram"], [f"{key}={value}"])


@pytest.mark.parametrize("key, value, message", [
    ("clock_ghz", "21", r"--set clock_ghz: clock_ghz = 21 \(must be in \[0.01, 20\]\)"),
    ("dram.latency_ns", ".inf", r"dram.latency_ns = inf \(must be a number in \[0.1, 1e\+06\] ns\)"),
    ("dram.energy_pj_per_bit", ".inf", r"dram.energy_pj_per_bit = inf"),
    ("dram.channels", "12345678901234567890123", r"dram.channels = 12345678901234567890123 \(must be in \[1, 1024\]\)"),
    ("energy.node_nm", "abc", r"--set energy.node_nm: energy.node_nm = 'abc' \(must be a finite number in \[22, 45\]\)"),
    ("energy.node_nm", ".nan", r"energy.node_nm = nan \(must be a finite number"),
    ("memories.spm_act.cell_area_f2", "1e308", r"cell_area_f2 = 1e\+308 \(must be in \[1, 2000\] F\^2\)"),
    ("temperature_k", ".nan", r"temperature_k = nan \(must be a finite number in \[200, 400\]\)"),
])
def test_sram_config_values_name_the_limit(key, value, message):
    with pytest.raises(UserError, match=message):
        load_config(DEFAULT_CONFIG, [f"{key}={value}"])


_scalar = st.sampled_from([None, True, 0, -1, 1, 7, 2 ** 70, 0.5, 1e308, float("nan"), float("inf"), "", "x", "auto",
                           "sram", "stt_mram", "ws", "bf16", "spm_act"])
_value = st.recursive(_scalar, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "technology", "banks", "rows", "capacity_kib", "mtj", "delta"]), kids, max_size=3),
    max_leaves=8)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_yaml_config_documents(tmp_path_factory, data):
    """A real config with one section or value replaced by a random YAML value, read from a file."""
    doc = yaml.safe_load(DEFAULT_CONFIG.read_text())
    key = data.draw(st.sampled_from(SRAM_KEYS))
    node = doc
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
    node[parts[-1]] = data.draw(_value)
    path = tmp_path_factory.mktemp("doc") / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    try:
        cfg = load_config(path)
    except UserError as exc:
        assert "\n" not in str(exc) and len(str(exc)) <= 700, str(exc)
        assert str(exc).startswith(str(path)), str(exc)
    else:
        assert_physical(cfg)


def _main(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["device", "--voltages", "nan"], r"--voltages nan: nan is outside \[0.001, 3\] V"),
    (["device", "--voltages", "0.5,inf"], r"--voltages 0.5,inf: inf is outside"),
    (["device", "--voltages", "1e23"], r"--voltages 1e23: 1e\+23 is outside \[0.001, 3\] V"),
    (["device", "--pulses", "-1"], r"--pulses -1: -1 is outside \[0.01, 1000\] ns"),
    (["device", "--pulses", ","], r"--pulses ,: expected a comma list of 1 to 64 numbers"),
    (["device", "--mc", "1000000000"], r"--mc 1000000000: must be a number of trajectories in \[0, 100000\]"),
])
def test_device_cli_numbers(capsys, argv, message):
    import re

    code, err = _main(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err


@pytest.mark.parametrize("argv", [
    ["workload", "tiny_mlp", "--set", "dram.energy_pj_per_bit=.inf"],
    ["workload", "tiny_mlp", "--set", "memories.spm_act.capacity_kib=12345678901234567890123"],
    ["device", "--voltages", "nan"],
])
def test_real_exit_path_is_status_2_and_one_line(tmp_path, argv):
    p = subprocess.run([sys.executable, "-m", "simulator", *argv, *(["--out", str(tmp_path / "r.h5")]
                                                                   if argv[0] == "workload" else [])],
                       capture_output=True, text=True, cwd=REPO, timeout=120, env={"PYTHONPATH": str(REPO),
                                                                                    "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "r.h5").exists()

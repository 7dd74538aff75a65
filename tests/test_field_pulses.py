"""Per-field write pulses (memories.<name>.field_write_pulse_ns): energy, occupancy, /errors rows, replay."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
from rich.console import Console
from scipy import stats as sps

from models import technologies
from models.errors import UserError
from simulator import protection, run, schema
from simulator.cli import main
from simulator.cli_train import read_ledger
from simulator.config import load_config
from simulator.report import render_run
from tests.conftest import make_config
from workloads import faults

MRAM = {"technology": "stt_mram", "capacity_kib": 256, "banks": 8, "word_bits": 64, "write_voltage_v": 0.7,
        "write_pulse_ns": 5.0, "read_voltage_v": 0.1}
SLOW = {"sign": 30.0, "exponent": 30.0}  # mantissa at the memory's 5 ns


def _cfg(tmp_path, name="c.yaml", precision="bf16", **mem):
    path = make_config(tmp_path, name, array={"precision": precision})
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["spm_act"] = {**MRAM, **mem}
    path.write_text(yaml.safe_dump(doc))
    return path


def _figures_at(pulse_ns: float):
    spec = technologies.parse(MRAM, "m")
    return replace(spec, write_pulse_ns=pulse_ns).figures()


def _spm_write_pj(res, memory="spm_act") -> float:
    e = res.energy
    comp = schema.enum_codes(schema.ENERGY_COMPONENTS)["spm_write"]
    return float(e["energy_pj"][(e["memory"].astype(str) == memory) & (e["component"] == comp)].sum())


def test_write_energy_and_occupancy_by_hand(tmp_path):
    plain = load_config(_cfg(tmp_path, "p.yaml"))
    pf = load_config(_cfg(tmp_path, "f.yaml", field_write_pulse_ns=SLOW))
    f5, f30 = _figures_at(5.0), _figures_at(30.0)
    # a 64-bit word holds 4 bf16 values: 4 sign, 32 exponent bits at 30 ns, 28 mantissa bits at 5 ns
    word_pj = f5.write_energy_pj_fixed + 36 * f30.write_energy_pj_per_switched_bit + 28 * f5.write_energy_pj_per_switched_bit
    mem = pf.memories["spm_act"]
    assert mem.write_energy_pj == pytest.approx(word_pj, rel=1e-12)
    assert plain.memories["spm_act"].write_energy_pj == pytest.approx(f5.write_energy_pj, rel=1e-12)
    # a word's bits are written in parallel: the bank is held for the longest field's pulse
    assert mem.write_occupancy_ns == pytest.approx(f30.write_occupancy_ns)
    assert mem.write_latency_ns == pytest.approx(f30.write_latency_ns)
    assert plain.memories["spm_act"].write_occupancy_ns == pytest.approx(f5.write_occupancy_ns)
    a, b = run(plain, "tiny_cnn", write=False), run(pf, "tiny_cnn", write=False)
    assert np.array_equal(a.traffic, b.traffic)
    # the same words written, each at its per-field energy instead of the plain one
    ratio = word_pj / f5.write_energy_pj
    assert _spm_write_pj(b) == pytest.approx(_spm_write_pj(a) * ratio, rel=1e-9)
    assert b.total_cycles > a.total_cycles  # longer occupancy, same traffic
    by_field = {w.name: w for w in mem.field_writes}
    assert by_field["sign"].p_write_p2ap == pytest.approx(f30.p_write_p2ap)
    assert by_field["mantissa"].p_write_ap2p == pytest.approx(f5.p_write_ap2p)
    assert [w.bits_fraction for w in mem.field_writes] == [1 / 16, 8 / 16, 7 / 16]


def test_every_field_at_the_memory_pulse_is_the_plain_run(tmp_path):
    plain = load_config(_cfg(tmp_path, "p.yaml"))
    same = load_config(_cfg(tmp_path, "s.yaml", field_write_pulse_ns={"sign": 5.0, "exponent": 5, "mantissa": 5.0}))
    a, b = run(plain, "tiny_cnn", write=False), run(same, "tiny_cnn", write=False)
    for table in ("layers", "energy", "traffic"):
        x, y = getattr(a, table), getattr(b, table)
        assert x.dtype == y.dtype and len(x) == len(y)
        for col in x.dtype.names:  # byte for byte (string columns by value: they hold object pointers)
            same_col = (x[col].tolist() == y[col].tolist() if x.dtype[col].kind == "O"
                        else x[col].tobytes() == y[col].tobytes())
            assert same_col, (table, col)
    assert a.total_cycles == b.total_cycles
    # /errors: the plain rows split into fields with the plain rates; other memories' rows are `all`
    assert "field" not in a.errors.dtype.names and b.errors.dtype == np.dtype(schema.ERRORS_FIELDS_PER_FIELD)
    codes = schema.enum_codes(schema.ERROR_FIELD_NAMES)
    act = b.errors[b.errors["memory"].astype(str) == "spm_act"]
    assert set(act["field"]) == {codes["sign"], codes["exponent"], codes["mantissa"]}
    assert set(b.errors[b.errors["memory"].astype(str) != "spm_act"]["field"]) == {codes["all"]}
    plain_act = a.errors[a.errors["memory"].astype(str) == "spm_act"]
    assert abs(int(act["bits_written"].sum()) - int(plain_act["bits_written"].sum())) <= 2 * len(plain_act)
    assert np.allclose(act["p_residual"], np.repeat(plain_act["p_residual"], 3), rtol=1e-12)


def test_a_memory_without_the_key_is_unchanged(tmp_path):
    res = run(load_config(_cfg(tmp_path)), "tiny_cnn", write=False)
    assert res.errors.dtype == np.dtype(schema.ERRORS_FIELDS)


def test_per_field_rows_round_trip_through_train_from(tmp_path, capsys):
    cfg = load_config(_cfg(tmp_path, field_write_pulse_ns=SLOW))
    path = tmp_path / "run.h5"
    res = run(cfg, "tiny_cnn", out=path)
    _, _, records = read_ledger(path)
    act = [r for r in records if r["memory"] == "spm_act"]
    assert {r["field"] for r in act} == {"sign", "exponent", "mantissa"}
    assert {r["field"] for r in records if r["memory"] != "spm_act"} == {"all"}
    got = {(r["layer"], r["tensor_class"], r["field"]): r for r in act}
    for row in res.errors[res.errors["memory"].astype(str) == "spm_act"]:
        name = res.layer_names[row["layer_id"]] if row["layer_id"] < len(res.layer_names) else None
        field = schema.ERROR_FIELD_NAMES[row["field"]]
        match = [r for (layer, cls, f), r in got.items() if f == field and r["p_residual"] == row["p_residual"]]
        assert match, (name, field)
    # no ECC: each field's residual is its raw rate (write errors on switching bits, read disturb, retention)
    f5, f30 = _figures_at(5.0), _figures_at(30.0)
    mant = next(r for r in act if r["field"] == "mantissa" and r["tensor_class"] == "activation")
    reads = mant["bits_read"] / mant["bits_written"]
    want = 0.25 * (f5.p_write_p2ap + f5.p_write_ap2p) + mant["p_retention"] + reads * f5.p_read_disturb
    assert mant["p_residual"] == pytest.approx(want, rel=1e-9)
    sign = next(r for r in act if r["field"] == "sign" and r["tensor_class"] == "activation")
    assert sign["p_write_p2ap"] == pytest.approx(f30.p_write_p2ap) and sign["p_residual"] < 1e-10

    # the replay applies each field's own rate: the mantissa's to the mantissa bits, the sign's to the sign bit
    ledger = faults.field_error_probabilities(records)
    out = tmp_path / "t.json"
    assert main(["train", "--from", str(path), "--epochs", "1", "--max-batches", "2", "--seeds", "1", "--folds", "1",
                 "--inject", "activation", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    probs = [p for p in result["probabilities"] if p["tensor_class"] == "activation"]
    assert probs
    for p in probs:
        want_fields = ledger[(p["layer"], "activation")]
        # the accumulator's SRAM rows of the same class are `all` rows at 0
        assert set(p["fields"]) == set(want_fields) and want_fields.get("all", 0.0) == 0.0
        for f in ("sign", "exponent", "mantissa"):
            assert p["fields"][f] == pytest.approx(want_fields[f], rel=1e-12)
        assert p["p_bit_error"] == pytest.approx((1 * want_fields["sign"] + 8 * want_fields["exponent"]
                                                  + 7 * want_fields["mantissa"]) / 16, rel=1e-9)
    flips = result["flips_per_step"]["activation"]
    assert flips["replay_rate"] == pytest.approx(7 / 16 * mant["p_residual"], rel=0.05)
    capsys.readouterr()


def test_ecc_residual_per_field(tmp_path):
    cfg = load_config(_cfg(tmp_path, ecc="secded", field_write_pulse_ns={"mantissa": 10.0}))
    mem = cfg.memories["spm_act"]
    res = run(cfg, "tiny_mlp", write=False)
    rows = res.errors[(res.errors["memory"].astype(str) == "spm_act") & (res.errors["tensor_class"] == 0)]
    row = rows[:3]
    raw = np.array([0.25 * (r["p_write_p2ap"] + r["p_write_ap2p"]) + r["p_retention"]
                    + r["bits_read"] / max(r["bits_written"], 1) * r["p_read_disturb"] for r in row])
    mean = float(np.dot([1 / 16, 8 / 16, 7 / 16], raw))
    # SECDED (72, 64): a field's wrong bit stays wrong when another of the 71 bits is wrong too
    assert mem.code.n == 72 and mem.code.t == 1
    assert np.allclose(row["p_residual"], raw * sps.binom.sf(0, 71, mean), rtol=1e-6)
    assert row["p_residual"][2] < row["p_residual"][0]  # mantissa at 10 ns, sign at 5 ns
    # uniform fields reduce to the memory-level residual
    uniform = replace(mem, field_writes=tuple(replace(w, p_write_p2ap=mem.p_write_p2ap, p_write_ap2p=mem.p_write_ap2p)
                                              for w in mem.field_writes))
    from simulator.field_pulses import field_rows
    rows_u = field_rows(uniform, 1000.0, 2000.0, 0.0, 0.5)
    assert rows_u[0][-1] == pytest.approx(protection.p_residual(uniform, 1000.0, 2000.0, 0.0, 0.5), rel=1e-9)


def test_report_shows_per_field_rows(tmp_path):
    res = run(load_config(_cfg(tmp_path, field_write_pulse_ns=SLOW)), "tiny_mlp", write=False)
    buf = io.StringIO()
    render_run(res, Console(file=buf, width=200))
    text = buf.getvalue()
    table = text[text.index("Bit errors by memory"):]
    assert "field" in table and "mantissa" in table and "exponent" in table and "all" in table


def test_int8_fields_are_sign_and_mantissa(tmp_path):
    cfg = load_config(_cfg(tmp_path, precision="int8", field_write_pulse_ns={"sign": 30.0}))
    assert [(w.name, w.bits_fraction) for w in cfg.memories["spm_act"].field_writes] == [("sign", 1 / 8), ("mantissa", 7 / 8)]


@pytest.mark.parametrize("mem, precision, message", [
    ({"field_write_pulse_ns": {"exponent": 10.0}}, "int8",
     r"memories.spm_act.field_write_pulse_ns.exponent = 10.0 \(int8 has the fields sign, mantissa \(int8 has no exponent\)\)"),
    ({"field_write_pulse_ns": {"exponant": 10.0}}, "bf16", r"field_write_pulse_ns.exponant = 10.0 \(bf16 has the fields sign, exponent, mantissa\)"),
    ({"field_write_pulse_ns": {"sign": 0}}, "bf16", r"field_write_pulse_ns.sign = 0 \(must be a pulse in ns in \(0, 1000\]\)"),
    ({"field_write_pulse_ns": {"sign": "long"}}, "bf16", r"field_write_pulse_ns.sign = 'long' \(must be a pulse"),
    ({"field_write_pulse_ns": 10.0}, "bf16", r"field_write_pulse_ns = 10.0 \(must be a mapping of fields of bf16"),
    ({"field_write_pulse_ns": {"sign": 20.0}, "write_energy_pj": 3.0}, "bf16",
     r"memories.spm_act.write_energy_pj = 3.0 \(leave it out with field_write_pulse_ns"),
    ({"technology": "sram", "field_write_pulse_ns": {"sign": 20.0}}, "bf16", r"only for memories with a write pulse"),
])
def test_bad_field_pulses_are_one_line_errors(tmp_path, mem, precision, message):
    extra = {k: v for k, v in mem.items() if k != "technology"}
    if mem.get("technology") == "sram":
        path = make_config(tmp_path, "b.yaml")
        doc = yaml.safe_load(path.read_text())
        doc["memories"]["spm_act"]["field_write_pulse_ns"] = mem["field_write_pulse_ns"]
        path.write_text(yaml.safe_dump(doc))
    else:
        path = _cfg(tmp_path, "b.yaml", precision=precision, **extra)
    with pytest.raises(UserError, match=message) as exc:
        load_config(path)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(str(path))


def test_set_names_the_argument_and_accumulator_is_refused(tmp_path):
    path = _cfg(tmp_path)
    with pytest.raises(UserError, match=r"^--set memories.spm_act.field_write_pulse_ns.sign: .*= -1"):
        load_config(path, ["memories.spm_act.field_write_pulse_ns.sign=-1"])
    cfg = load_config(path, ["memories.spm_act.field_write_pulse_ns.exponent=20"])
    assert {w.name: w.pulse_ns for w in cfg.memories["spm_act"].field_writes} == {"sign": 5.0, "exponent": 20.0,
                                                                                  "mantissa": 5.0}
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["accumulator"] = {**MRAM, "word_bits": 128, "capacity_kib": 64,
                                      "field_write_pulse_ns": {"exponent": 20.0}}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError, match=r"memories.accumulator.field_write_pulse_ns = .* \(not on the accumulator"):
        load_config(path)

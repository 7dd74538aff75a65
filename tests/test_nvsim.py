"""NVSim output reader: units, derived occupancy and write split, errors; use through from_config."""

from pathlib import Path

import pytest

from models import mtj, mtj_cell, technologies
from models.errors import UserError
from models.memory_array import MemoryArray
from models.nvsim import parse_nvsim_output, read_nvsim_output

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "nvsim_sttram_512KB_256b.txt"  # written for these tests in NVSim's output format


def _variant(tmp_path, old: str, new: str, name: str = "variant.txt") -> Path:
    text = FIXTURE.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def test_reads_every_figure_with_units_converted():
    f = read_nvsim_output(FIXTURE)
    assert f.technology == "stt_mram"
    assert f.capacity_bytes == 512 * 1024 and f.word_bits == 256 and f.banks == 1
    assert f.area_mm2 == pytest.approx(0.2048)  # um^2 -> mm^2
    assert f.read_latency_ns == pytest.approx(2.1)  # ps -> ns
    assert f.write_latency_ns == pytest.approx(8.75)
    assert f.read_energy_pj == pytest.approx(120.0)  # nJ -> pJ
    assert f.write_energy_pj == pytest.approx(276.0)
    assert f.leakage_mw == pytest.approx(64.0)  # W -> mW
    # occupancy = word bytes / NVSim bandwidth (GB/s = bytes/ns)
    assert f.read_occupancy_ns == pytest.approx(32 / 16.0)
    assert f.write_occupancy_ns == pytest.approx(32 / 3.2)
    # every bit driven: fixed = H-tree write energy, the rest spread over the word's bits
    assert f.write_energy_pj_fixed == pytest.approx(20.0)
    assert f.write_energy_pj_per_switched_bit == pytest.approx((276.0 - 20.0) / 256)
    assert (f.p_write_p2ap, f.p_write_ap2p, f.p_read_disturb) == (0.0, 0.0, 0.0)
    assert "bank 2 x 1" in f.organisation and f.source == str(FIXTURE)


def test_cell_pulse_and_sensing_time():
    run = parse_nvsim_output(FIXTURE)
    assert run.write_pulse_ns == pytest.approx(8.0)
    assert run.sense_ns == pytest.approx(1.2)
    assert run.write_htree_energy_pj == pytest.approx(20.0)


def test_other_units(tmp_path):
    path = _variant(tmp_path, "Capacity   : 512KB", "Capacity   : 0.5MB")
    path.write_text(path.read_text().replace("Leakage Power = 0.064W", "Leakage Power = 64000.000uW")
                    .replace("Write Bandwidth = 3.200GB/s", "Write Bandwidth = 3200.000MB/s")
                    .replace("= 204800.000um^2", "= 0.204800mm^2"))
    f = read_nvsim_output(path)
    assert f.capacity_bytes == 512 * 1024
    assert f.leakage_mw == pytest.approx(64.0)
    assert f.write_occupancy_ns == pytest.approx(10.0)
    assert f.area_mm2 == pytest.approx(0.2048)


def test_sram_output_has_no_per_bit_split(tmp_path):
    path = _variant(tmp_path, "Memory Cell: MRAM (Magnetoresistive)", "Memory Cell: SRAM")
    f = read_nvsim_output(path)
    assert f.technology == "sram"
    assert f.write_energy_pj_fixed == pytest.approx(276.0) and f.write_energy_pj_per_switched_bit == 0.0


@pytest.mark.parametrize("old, new, missing", [
    (" - Write Dynamic Energy = 276.000pJ", " - Write Energy = ?", "Write Dynamic Energy"),
    ("Data Width : 256Bits (32Bytes)", "", "Data Width"),
    ("Memory Cell: MRAM (Magnetoresistive)", "", "Memory Cell"),
    ("Total Area = 512.000um x 400.000um = 204800.000um^2", "Total Area = unknown", "Total Area"),
    (" - Leakage Power = 0.064W", " - Leakage Power = 0.064", "Leakage Power"),
    ("  - Set Pulse: 8.000ns", "", "Set Pulse"),
])
def test_malformed_file_is_one_line_error_naming_file_and_item(tmp_path, old, new, missing):
    text = FIXTURE.read_text()
    if missing == "Set Pulse":
        new_text = text.replace(old, new).replace("  - Reset Pulse: 8.000ns", "")
    else:
        new_text = text.replace(old, new)
    assert new_text != text
    path = tmp_path / "bad.txt"
    path.write_text(new_text)
    with pytest.raises(UserError) as info:
        read_nvsim_output(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and missing in msg


def test_unsupported_cell_and_unreadable_file(tmp_path):
    path = _variant(tmp_path, "Memory Cell: MRAM (Magnetoresistive)", "Memory Cell: PCRAM")
    with pytest.raises(UserError, match="PCRAM.*supported: SRAM, MRAM"):
        read_nvsim_output(path)
    with pytest.raises(UserError, match="cannot read"):
        read_nvsim_output(tmp_path / "absent.txt")


WHERE = "configs/x.yaml: memories.spm"


def test_from_config_takes_figures_from_file_and_errors_from_device():
    d = {"technology": "stt_mram", "nvsim_file": FIXTURE.name, "banks": 4, "word_bits": 256,
         "write_voltage_v": 0.8, "read_voltage_v": 0.1, "wer_method": "closed_form"}
    f = MemoryArray.from_config(d, WHERE, base_dir=DATA)
    raw = read_nvsim_output(FIXTURE)
    assert f.banks == 4 and f.read_energy_pj == raw.read_energy_pj and f.area_mm2 == raw.area_mm2
    spec = technologies.parse(d, WHERE, base_dir=DATA)
    params, cell = spec.mtj_params, spec.cell
    # the write pulse is the one NVSim was run with (8 ns), the sensing time NVSim's 1.2 ns
    assert f.p_write_ap2p == pytest.approx(mtj_cell.write_error_rate(params, cell, 0.8, 8.0, "ap2p", "closed_form"))
    assert f.p_write_p2ap == pytest.approx(mtj_cell.write_error_rate(params, cell, 0.8, 8.0, "p2ap", "closed_form"))
    assert f.p_read_disturb == pytest.approx(mtj_cell.read_disturb_probability(params, cell, 0.1, 1.2))
    assert f.p_retention(1e9) == pytest.approx(mtj.retention_failure_probability(params, 1e9))


def test_from_config_nvsim_differential_write_charges_a_read():
    base = {"technology": "stt_mram", "nvsim_file": str(FIXTURE), "word_bits": 256, "wer_method": "closed_form"}
    plain = MemoryArray.from_config(base, WHERE)
    diff = MemoryArray.from_config(dict(base, differential_write=True), WHERE)
    assert diff.differential_write and not plain.differential_write
    assert diff.write_energy_pj_fixed == pytest.approx(plain.write_energy_pj_fixed + plain.read_energy_pj)
    assert diff.write_energy_for(0) == pytest.approx(diff.write_energy_pj_fixed)
    assert diff.write_latency_ns == pytest.approx(plain.write_latency_ns + plain.read_latency_ns)


@pytest.mark.parametrize("extra, key", [
    ({"capacity_kib": 1024}, "capacity_kib"),
    ({"write_pulse_ns": 10}, "write_pulse_ns"),
    ({"node_nm": 22}, "node_nm"),
    ({"technology": "sram"}, "technology"),
    ({"word_bits": 512}, "word_bits"),
])
def test_from_config_nvsim_inconsistencies(extra, key):
    d = dict({"technology": "stt_mram", "nvsim_file": str(FIXTURE), "word_bits": 256}, **extra)
    with pytest.raises(UserError) as info:
        MemoryArray.from_config(d, WHERE)
    assert str(info.value).startswith(f"{WHERE}.{key} = ") and "\n" not in str(info.value)

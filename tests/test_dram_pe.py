"""DRAM presets and overrides; PE and vector-unit arithmetic energy per precision and node."""

import dataclasses

import pytest

from models.dram import PRESETS, DramFigures, dram_from_config
from models.errors import UserError
from models.pe import PRECISIONS, bytes_per_element, mac_energy_pj, node_scale, vector_op_energy_pj

W = "configs/x.yaml: dram"


def test_presets_are_the_published_figures():
    ddr4 = dram_from_config({"preset": "ddr4"}, W)
    assert ddr4.bandwidth_gbps == pytest.approx(3200e6 * 8 / 1e9)  # DDR4-3200 x64: 25.6 GB/s
    assert ddr4.clock_mhz == 1600 and ddr4.burst_bytes == 64 and ddr4.latency_ns == pytest.approx(3 * 13.75)
    hbm2 = dram_from_config({"preset": "hbm2"}, W)
    assert hbm2.total_bandwidth_gbps == pytest.approx(256.0) and hbm2.energy_pj_per_bit == 3.9
    lpddr4 = dram_from_config({"preset": "lpddr4"}, W)
    assert lpddr4.bandwidth_gbps == pytest.approx(3200e6 * 2 / 1e9)  # x16 channel
    # energy per bit ordering of the literature: DDR4 (15-20) > LPDDR4 (4-6) > HBM2 (3.9)
    assert 15 <= ddr4.energy_pj_per_bit <= 20 and 4 <= lpddr4.energy_pj_per_bit <= 6
    assert ddr4.energy_pj_per_byte == pytest.approx(8 * ddr4.energy_pj_per_bit)
    for fig in PRESETS.values():
        assert all(getattr(fig, f.name) for f in dataclasses.fields(DramFigures))


def test_overrides_apply_on_top_of_preset():
    fig = dram_from_config({"preset": "ddr4", "channels": 2, "latency_ns": 60, "burst_bytes": 128}, W)
    assert (fig.channels, fig.latency_ns, fig.burst_bytes) == (2, 60.0, 128)
    assert fig.bandwidth_gbps == PRESETS["ddr4"].bandwidth_gbps and fig.total_bandwidth_gbps == pytest.approx(51.2)
    assert PRESETS["ddr4"].channels == 1  # the preset itself is untouched


@pytest.mark.parametrize("d, key, accepted", [
    ({"preset": "ddr5"}, "preset", "available: ddr4, lpddr4, hbm2"),
    ({"preset": "ddr4", "channels": 0}, "channels", "positive integer"),
    ({"preset": "ddr4", "channels": 1.5}, "channels", "positive integer"),
    ({"preset": "ddr4", "energy_pj_per_bit": -1}, "energy_pj_per_bit", "positive number"),
    ({"preset": "ddr4", "burst_bytes": 48}, "burst_bytes", "power of two"),
    ({"preset": "ddr4", "speed": 3200}, "speed", "unknown key"),
])
def test_dram_errors(d, key, accepted):
    with pytest.raises(UserError) as info:
        dram_from_config(d, W)
    msg = str(info.value)
    assert msg.startswith(f"{W}.{key} = ") and accepted in msg and "\n" not in msg


def test_mac_energy_is_horowitz_at_45nm_and_scales_with_node():
    # Horowitz ISSCC 2014 (45 nm): 8b mult 0.2 + 32b add 0.1; fp32 mult 3.7 + add 0.9; fp16 mult 1.1
    assert mac_energy_pj("int8", 45) == pytest.approx(0.3)
    assert mac_energy_pj("fp32", 45) == pytest.approx(4.6)
    assert mac_energy_pj("fp16", 45) == pytest.approx(2.0)
    assert mac_energy_pj("bf16", 45) == pytest.approx(1.1 * 64 / 121 + 0.9)
    assert node_scale(22) == pytest.approx((22 / 45) * (0.8 / 0.9) ** 2)
    assert mac_energy_pj("bf16", 22) == pytest.approx(mac_energy_pj("bf16", 45) * node_scale(22))
    at22 = [mac_energy_pj(p, 22) for p in ("int8", "bf16", "fp16", "fp32")]
    assert at22 == sorted(at22)
    assert mac_energy_pj("fp32", 22) < mac_energy_pj("fp32", 28) < mac_energy_pj("fp32", 32)


def test_vector_op_and_bytes():
    assert vector_op_energy_pj("fp32", 45) == pytest.approx(4.6)
    assert vector_op_energy_pj("bf16", 22) == vector_op_energy_pj("fp32", 22)  # fp32 compute format
    assert vector_op_energy_pj("int8", 22) < vector_op_energy_pj("bf16", 22)
    assert [bytes_per_element(p) for p in PRECISIONS] == [2, 2, 4, 1]


@pytest.mark.parametrize("call", [lambda: mac_energy_pj("fp8", 22), lambda: bytes_per_element("int4"),
                                  lambda: vector_op_energy_pj("bf16", 7), lambda: mac_energy_pj("bf16", 65)])
def test_pe_errors(call):
    with pytest.raises(UserError) as info:
        call()
    assert "\n" not in str(info.value) and ("accepted" in str(info.value) or "scaled only" in str(info.value))

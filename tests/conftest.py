"""Shared fixtures: small configs with explicit memory figures, so engine tests do not depend on
the circuit model's calibration."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

SRAM_FIGURES = {"read_latency_ns": 1.0, "read_occupancy_ns": 1.0, "write_latency_ns": 1.0,
                "write_occupancy_ns": 1.0, "read_energy_pj": 1.0, "write_energy_pj": 1.2, "leakage_mw": 10.0,
                "area_mm2": 0.5}
MRAM_FIGURES = {"read_latency_ns": 3.0, "read_occupancy_ns": 1.0, "write_latency_ns": 11.0,
                "write_occupancy_ns": 11.0, "read_energy_pj": 1.5, "write_energy_pj": 9.0, "leakage_mw": 1.0,
                "area_mm2": 0.2}

BASE = {
    "clock_ghz": 1.0,
    "array": {"rows": 8, "cols": 8, "dataflow": "ws", "precision": "bf16"},
    "vector": {"lanes": 8},
    "training": {"batch": 2, "optimizer": "sgd_momentum"},
    "memories": {
        "spm_act": {"technology": "sram", "capacity_kib": 256, "banks": 8, "word_bits": 64, **SRAM_FIGURES},
        "spm_weight": {"technology": "sram", "capacity_kib": 128, "banks": 8, "word_bits": 64, **SRAM_FIGURES},
        "accumulator": {"technology": "sram", "capacity_kib": 64, "banks": 8, "word_bits": 128, **SRAM_FIGURES},
    },
    "placement": {"activation": "spm_act", "error": "spm_act", "weight": "spm_weight",
                  "weight_gradient": "spm_weight", "optimizer_state": "spm_weight"},
    "accumulator": "accumulator",
    "dram": {"preset": "ddr4", "channels": 1},
    "energy": {"mac_pj": 0.5, "vector_op_pj": 0.3},
}


def make_config(folder: Path, name: str = "cfg.yaml", **sections) -> Path:
    """Write BASE updated with ``sections`` (nested dicts merge one level deep) to folder/name."""
    doc = copy.deepcopy(BASE)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            for k, v in value.items():
                if isinstance(v, dict) and isinstance(doc[key].get(k), dict):
                    doc[key][k].update(v)
                else:
                    doc[key][k] = v
        else:
            doc[key] = value
    path = folder / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture
def config_file(tmp_path):
    def _make(name: str = "cfg.yaml", **sections) -> Path:
        return make_config(tmp_path, name, **sections)

    return _make

"""The technology registry: a toy technology registered from this file runs a workload end to end;
unknown names list the registered ones; no code outside a technology's module names a technology."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from models import technologies
from models.errors import UserError
from models.figures import ArrayFigures
from models.technologies.base import MemorySpec, number
from simulator import run
from simulator.config import load_config
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ToySpec(MemorySpec):
    """A made-up resistive memory: a write holds its bank ``write_ns``; every written bit flips with
    ``p_flip`` (both directions); 1 pJ per bit written, 0.25 pJ per bit read; 1 um^2 per bit."""

    write_ns: float = 7.0
    p_flip: float = 1e-3

    NAME = "toy_reram"
    KEYS = ("write_ns", "p_flip")
    CELL_AREA_F2 = 1.0

    @classmethod
    def parse_keys(cls, d, common):
        p = number(d, "p_flip", common["where"], default=1e-3)
        if not p < 1:
            raise UserError(f"{common['where']}.p_flip = {p!r} (must be below 1)")
        return cls(**common, write_ns=float(number(d, "write_ns", common["where"], default=7.0)), p_flip=p)

    def circuit_figures(self) -> ArrayFigures:
        w = self.word_bits
        return ArrayFigures(
            technology=self.NAME, capacity_bytes=self.capacity_bytes, banks=self.banks, word_bits=w,
            read_latency_ns=2.0, write_latency_ns=self.write_ns, read_occupancy_ns=1.0,
            write_occupancy_ns=self.write_ns, read_energy_pj=0.25 * w, write_energy_pj=1.0 * w,
            write_energy_pj_per_switched_bit=1.0, write_energy_pj_fixed=0.0, leakage_mw=0.0,
            area_mm2=self.capacity_bytes * 8 * 1e-6, p_write_p2ap=self.p_flip, p_write_ap2p=self.p_flip)


@pytest.fixture
def toy():
    technologies.register(ToySpec)
    try:
        yield ToySpec
    finally:
        technologies.unregister(ToySpec.NAME)


def _toy_config(tmp_path, **keys) -> Path:
    path = make_config(tmp_path, "base.yaml", accumulator=None)
    doc = yaml.safe_load(path.read_text())
    doc["memories"]["spm_act"] = {"technology": "toy_reram", "capacity_kib": 256, "banks": 8, "word_bits": 64,
                                  **keys}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_toy_technology_runs_a_workload_end_to_end(toy, tmp_path):
    slow = load_config(_toy_config(tmp_path, write_ns=20.0))
    fast = load_config(_toy_config(tmp_path, write_ns=2.0))
    mem = slow.memories["spm_act"]
    assert mem.technology == "toy_reram" and mem.write_occupancy_ns == 20.0 and mem.write_energy_pj == 64.0
    assert mem.area_mm2 == pytest.approx(256 * 1024 * 8 * 1e-6)
    rs, rf = run(slow, "tiny_mlp", write=False), run(fast, "tiny_mlp", write=False)
    assert rs.layers["spm_write_cycles"].sum() > rf.layers["spm_write_cycles"].sum()
    assert rs.total_cycles > rf.total_cycles
    err = rs.errors[rs.errors["memory"] == b"spm_act"] if rs.errors["memory"].dtype.kind == "S" else \
        rs.errors[rs.errors["memory"] == "spm_act"]
    assert len(err) and (err["p_write_p2ap"] == 1e-3).all() and (err["p_write_ap2p"] == 1e-3).all()
    # the run's resolved config records the toy's figures
    assert rs.config.resolved["memories"]["spm_act"]["resolved_figures"]["write_occupancy_ns"] == 20.0


def test_toy_keys_are_validated_by_the_toy(toy, tmp_path):
    with pytest.raises(UserError, match=r"memories\.spm_act\.p_flip = 2 \(must be below 1\)"):
        load_config(_toy_config(tmp_path, p_flip=2))
    with pytest.raises(UserError, match=r"memories\.spm_act\.write_voltage_v = .*unknown key for toy_reram"):
        load_config(_toy_config(tmp_path, write_voltage_v=0.9))


def test_iso_area_search_works_on_any_technology(toy):
    from models.technologies.search import capacity_for_area

    kib = capacity_for_area({"technology": "toy_reram", "banks": 4, "word_bits": 64}, 2.0)
    assert kib * 1024 * 8 * 1e-6 <= 2.0 < 2 * kib * 1024 * 8 * 1e-6


def test_unknown_technology_lists_the_registered_ones(toy):
    with pytest.raises(UserError) as info:
        technologies.parse({"technology": "pcm", "capacity_kib": 64, "word_bits": 64}, "x.yaml: memories.m")
    msg = str(info.value)
    assert msg.startswith("x.yaml: memories.m.technology = 'pcm' (available: ")
    for name in ("sram", "stt_mram", "toy_reram"):
        assert name in msg
    assert "\n" not in msg


def test_registering_a_name_twice_is_refused(toy):
    with pytest.raises(ValueError):
        technologies.register(ToySpec)


# A technology's name in a string comparison or lookup outside models/technologies/.
NAME_USE = re.compile(r"""(==|!=|\bin\b|\.get\()\s*\(?\s*["'](sram|stt_mram|sot_mram|MRAM|SRAM)["']"""
                      r"""|["'](sram|stt_mram|sot_mram|MRAM|SRAM)["']\s*(==|!=|:)""")


def test_no_code_outside_the_technology_modules_branches_on_a_technology_name():
    offenders = []
    for folder in ("simulator", "models", "workloads"):
        for path in (REPO / folder).rglob("*.py"):
            if "technologies" in path.parts:
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if NAME_USE.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)

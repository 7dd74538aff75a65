"""docs/config-reference.md is generated from the code and matches what the validation accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models import technologies
from models.errors import UserError
from simulator import config
from simulator.config_reference import MEM, all_keys, render

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "config-reference.md"
PATHS = {k.path for k in all_keys()}


def test_committed_reference_is_the_generated_one():
    assert DOC.read_text() == render(), "regenerate: python -m simulator.config_reference > docs/config-reference.md"


def _accepted(override: str) -> list[str]:
    with pytest.raises(UserError) as exc:
        config.load_config(None, [override])
    found = re.search(r"accepted: ([^()]*)\)?$", str(exc.value))
    assert found, str(exc.value)
    return [k.strip() for k in found.group(1).split(",")]


@pytest.mark.parametrize("section", ["", "array", "vector", "training", "dram", "energy", "placement"])
def test_every_key_the_validation_accepts_is_documented(section):
    prefix = f"{section}." if section else ""
    for key in _accepted(f"{prefix}zz_not_a_key=1"):
        path = f"{prefix}{key}"
        if section == "placement":
            assert key in config.PLACED_CLASSES and "placement.<class>" in PATHS
        elif key == "memories":
            assert any(p.startswith(MEM) for p in PATHS)
        else:
            assert path in PATHS or any(p.startswith(path + ".") for p in PATHS), path


@pytest.mark.parametrize("tech", technologies.names())
def test_every_memory_key_of_every_technology_is_documented(tech):
    keys = (technologies.get(tech).accepted_keys() + ("iso_area_with", "organize") + config.ENGINE_KEYS
            + config.FIGURE_KEYS + config.PROTECTION_KEYS)
    missing = [k for k in keys if f"{MEM}.{k}" not in PATHS]
    assert not missing, f"add rows to simulator/config_reference.py KEYS for: {missing}"


def _outside(lo, hi, integer):
    below = lo - 1 if integer else lo - max(abs(lo), 1.0) * 0.5
    above = hi + 1 if integer else hi * 2
    return below, above


@pytest.mark.parametrize("key", [k for k in all_keys() if k.range], ids=lambda k: k.path)
def test_stated_ranges_are_refused_outside(key):
    path = key.path.replace(MEM, "memories.spm_act")
    integer = key.type == "integer"
    for value in _outside(*key.range, integer):
        with pytest.raises(UserError, match=re.escape(path)):
            config.load_config(None, [f"{path}={value!r}"])

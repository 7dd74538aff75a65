"""Study YAML validation, point expansion, baselines and cache keys (no Dask, nothing simulated)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.errors import UserError
from simulator.cli import main
from simulator.config import load_config
from simulator.study import builtin_studies, load_spec, parse_spec
from simulator.study import points as points_mod
from simulator.study.points import expand
from simulator.study.table import baseline_index
from tests.conftest import make_config


def _study(tmp_path: Path, doc: dict, quick: bool = False):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_spec(str(path), quick=quick), str(path)


def _err(tmp_path, doc) -> str:
    with pytest.raises(UserError) as exc:
        spec, _ = _study(tmp_path, doc)
        expand(spec)
    return str(exc.value)


@pytest.fixture
def base_cfg(tmp_path):
    return str(make_config(tmp_path, "base.yaml"))


@pytest.mark.parametrize("doc,expect", [
    ({"axes": {"workload": ["tiny_cnn"]}, "colour": 1}, "colour = 1 (unknown key; accepted: name, description"),
    ({"axes": {"workload": ["tiny_cnnn"]}}, "axes.workload[0] = 'tiny_cnnn' (unknown (accepted: "),
    ({"axes": {"workload": "tiny_cnn"}}, "axes.workload = 'tiny_cnn' (a non-empty list of values"),
    ({"axes": {"config": ["nope"]}, "workload": "tiny_cnn"}, "axes.config[0] = 'nope' (unknown preset; accepted: "),
    ({"axes": {"banks": [1, 2]}, "workload": "tiny_cnn"}, "axes.banks = [1, 2] (a list axis must be workload"),
    ({"axes": {"workload": ["tiny_cnn"]}, "plots": [{"x": "workload"}]}, "plots[0].y = None (required: a column"),
    ({"axes": {"workload": ["tiny_cnn"]}, "plots": [{"x": "workload", "y": "energy", "kind": "pie"}]},
     "plots[0].kind = 'pie' (accepted: bar, line)"),
    ({"axes": {"workload": ["tiny_cnn"]}, "claims": "mine"}, "claims = 'mine' (accepted: paper)"),
    ({"axes": {"workload": ["tiny_cnn"]}, "quick": {"axes": {"memories.spm_act.banks": [8]}}},
     "quick.axes.memories.spm_act.banks = [8] (not an axis of this study"),
    ({"workload": "tiny_cnn"}, "axes = {} (give axes or points"),
    ({"axes": {"workload": ["tiny_cnn", "tiny_cnn"]}},
     "axes.workload = ['tiny_cnn', 'tiny_cnn'] (values must be distinct"),
])
def test_spec_errors_name_file_key_value_and_accepted(tmp_path, doc, expect):
    msg = _err(tmp_path, doc)
    assert msg.startswith(f"{tmp_path / 's.yaml'}: ") and expect in msg and "\n" not in msg


def test_errors_found_after_expansion_name_the_study_key(tmp_path, base_cfg):
    base = {"base": base_cfg, "workload": "tiny_cnn"}
    msg = _err(tmp_path, {**base, "axes": {"memories.spm_act.bank": [8]}})
    assert msg.startswith(f"{tmp_path / 's.yaml'}: axes.memories.spm_act.bank = 8 (unknown key for sram")
    msg = _err(tmp_path, {**base, "axes": {"size": {"big": {"memories.spm_act.bank": 8}}}})
    assert "s.yaml: axes.size.big.memories.spm_act.bank = 8 (unknown key" in msg
    msg = _err(tmp_path, {**base, "axes": {"workload": ["tiny_cnn"]}, "plots": [{"x": "workload", "y": "energy"}]})
    assert "plots[0].y = 'energy' (not a column of this study" in msg
    msg = _err(tmp_path, {"base": base_cfg, "axes": {"memories.spm_act.banks": [8]}})
    assert "workload = None (give workload:" in msg
    two = {"a": {"x": {"memories.spm_act.banks": 8}}, "b": {"y": {"memories.spm_act.banks": 4}}}
    msg = _err(tmp_path, {**base, "axes": two})
    assert "axes.b.memories.spm_act.banks = 4 (also set by axes.a.x.memories.spm_act.banks)" in msg
    msg = _err(tmp_path, {**base, "axes": {"technology": {"x": {"memories.spm_act.banks": 8}}}})
    assert "axes.technology" in msg and "result column" in msg


def test_cli_spec_error_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("axes: {workload: [tiny_cnn]}\nbogus: 1\n")
    out = tmp_path / "out"
    code = main(["study", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"{path}: bogus = 1 (unknown key; accepted: name, description")
    assert err.count("\n") == 1 and not out.exists()
    assert main(["study", "nosuchstudy"]) == 2
    assert "study 'nosuchstudy': unknown (accepted: " in capsys.readouterr().err
    assert main(["study", str(path), "--workers", "0"]) == 2
    path.write_text("axes: {workload: [tiny_cnn]}\n")
    (tmp_path / "file").write_text("")
    assert main(["study", str(path), "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err.endswith("file: exists and is not a folder\n")


def test_expansion_is_the_cartesian_product_with_resolved_configs(tmp_path, base_cfg):
    spec, _ = _study(tmp_path, {"base": base_cfg, "axes": {
        "workload": ["tiny_cnn", "tiny_mlp"], "memories.spm_act.banks": [4, 8, 16],
        "size": {"small": {"memories.spm_weight.capacity_kib": 64},
                 "large": {"memories.spm_weight.capacity_kib": 256}}}})
    pts = expand(spec)
    assert len(pts) == 12
    assert [p.workload for p in pts[:6]] == ["tiny_cnn"] * 6 and pts[6].workload == "tiny_mlp"
    assert [(p.knobs["memories.spm_act.banks"], p.knobs["size"]) for p in pts[:4]] == [
        (4, "small"), (4, "large"), (8, "small"), (8, "large")]
    for p in pts:
        assert p.config.memories["spm_act"].banks == p.knobs["memories.spm_act.banks"]
        assert p.config.memories["spm_weight"].capacity_bytes == {"small": 64, "large": 256}[p.knobs["size"]] * 1024
        assert p.labels["config"] == base_cfg and p.labels["technology"] == "sram"
    assert len({p.key for p in pts}) == 12


def test_points_cross_axes_and_quick_selects_labels(tmp_path, base_cfg):
    doc = {"base": base_cfg,
           "axes": {"workload": ["tiny_cnn", "tiny_mlp"],
                    "size": {"a": {"memories.spm_act.banks": 4}, "b": {"memories.spm_act.banks": 8},
                             "c": {"memories.spm_act.banks": 16}}},
           "points": [{"variant": "x", "set": {"array.rows": 4}}, {"variant": "y", "set": {"array.rows": 16}}],
           "quick": {"axes": {"workload": ["tiny_mlp"], "size": ["c"]}}}
    spec, _ = _study(tmp_path, doc)
    assert len(expand(spec)) == 12
    quick = expand(_study(tmp_path, doc, quick=True)[0])
    assert [(p.workload, p.knobs["size"], p.knobs["variant"], p.config.array.rows, p.config.memories["spm_act"].banks)
            for p in quick] == [("tiny_mlp", "c", "x", 4, 16), ("tiny_mlp", "c", "y", 16, 16)]
    doc["quick"] = {"axes": {"size": ["d"]}}
    assert "quick.axes.size = 'd' (not a label of axes.size" in _err(tmp_path, doc)


def test_bad_config_value_is_a_failed_point_not_a_spec_error(tmp_path, base_cfg):
    spec, _ = _study(tmp_path, {"base": base_cfg, "workload": "tiny_cnn", "axes": {"memories.spm_act.banks": [8, 12]}})
    good, bad = expand(spec)
    assert good.load_error is None and good.config is not None
    assert bad.config is None and "memories.spm_act.banks = 12 (must be a power of two)" in bad.load_error


def test_baseline_is_the_single_matching_point(tmp_path, base_cfg):
    mram = str(make_config(tmp_path, "mram.yaml", memories={"spm_act": {"technology": "stt_mram"},
                                                            "spm_weight": {"technology": "stt_mram"}}))
    doc = {"base": base_cfg, "axes": {"workload": ["tiny_cnn", "tiny_mlp"], "config": [base_cfg, mram],
                                      "memories.spm_act.banks": [4, 8]},
           "baseline": {"match": ["workload", "memories.spm_act.banks"]}}
    spec, _ = _study(tmp_path, doc)
    pts = expand(spec)
    base_of = baseline_index(spec, pts)
    for p in pts:
        q = pts[base_of[p.index]]
        assert q.technology == "sram" and q.workload == p.workload
        assert q.knobs["memories.spm_act.banks"] == p.knobs["memories.spm_act.banks"]
    assert {p.technology for p in pts} == {"sram", "stt_mram"}
    doc["baseline"] = {"match": ["workload"]}
    with pytest.raises(UserError, match=r"baseline.match = \['workload'\] \(point .* has 2 baseline points"):
        spec, _ = _study(tmp_path, doc)
        baseline_index(spec, expand(spec))


def test_cache_key_follows_the_resolved_config_workload_and_version(tmp_path, base_cfg, monkeypatch):
    # Two routes to the same resolved config share a key; anything that changes the run changes it.
    same = str(make_config(tmp_path, "same.yaml", memories={"spm_act": {"banks": 4}}))
    spec, _ = _study(tmp_path, {"base": base_cfg, "workload": "tiny_cnn", "points": [
        {"route": "set", "set": {"memories.spm_act.banks": 4}}, {"route": "file", "config": same},
        {"route": "other", "set": {"memories.spm_act.banks": 2}}]})
    a, b, c = expand(spec)
    assert a.key == b.key != c.key
    spec2, _ = _study(tmp_path, {"base": base_cfg, "workload": "tiny_mlp", "set": {"memories.spm_act.banks": 4},
                                 "axes": {"workload": ["tiny_mlp"]}})
    assert expand(spec2)[0].key != a.key
    monkeypatch.setattr(points_mod, "version_tag", lambda: "9.9.9+changed")
    assert expand(spec)[0].key != a.key


def test_version_tag_changes_with_the_simulator_source(tmp_path, monkeypatch):
    points_mod.version_tag.cache_clear()
    before = points_mod.version_tag()
    fake = tmp_path / "repo"
    for d in ("simulator", "models", "workloads"):
        (fake / d).mkdir(parents=True)
        (fake / d / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(points_mod, "REPO_ROOT", fake)
    points_mod.version_tag.cache_clear()
    one = points_mod.version_tag()
    (fake / "models" / "m.py").write_text("x = 2\n")
    points_mod.version_tag.cache_clear()
    two = points_mod.version_tag()
    (fake / "simulator" / "study").mkdir()
    (fake / "simulator" / "study" / "report.py").write_text("y = 1\n")
    points_mod.version_tag.cache_clear()
    assert one != two == points_mod.version_tag() and before not in (one, two)
    monkeypatch.undo()
    points_mod.version_tag.cache_clear()


@pytest.mark.parametrize("name", builtin_studies())
@pytest.mark.parametrize("quick", [True, False])
def test_builtin_studies_expand_without_errors(name, quick):
    spec = load_spec(name, quick=quick)
    pts = expand(spec)
    assert pts and all(p.load_error is None for p in pts)
    base_of = baseline_index(spec, pts)
    assert set(base_of) == ({p.index for p in pts} if spec.baseline else set())


def test_paper_study_covers_the_suite_flavours_and_presets():
    spec = load_spec("paper")
    pts = expand(spec)
    combos = {(p.workload, p.labels["accelerator"], p.labels["sram_flavor"], p.labels["memory"]) for p in pts}
    for w in ("resnet18", "vgg16", "alexnet", "mobilenet_v2", "bert_encoder"):
        for acc in ("edge", "datacenter"):
            for fl in ("hp", "lstp"):
                for mem in ("sram", "mram_iso_capacity", "mram_iso_area"):
                    assert (w, acc, fl, mem) in combos
    lstp_sram = [p for p in pts if p.labels["sram_flavor"] == "lstp" and p.labels["memory"] == "sram"][0]
    assert lstp_sram.config.resolved["memories"]["spm_act"]["sram_flavor"] == "lstp"
    lstp_area = [p for p in pts if p.labels["sram_flavor"] == "lstp" and p.labels["memory"] == "mram_iso_area"
                 and p.labels["accelerator"] == "edge"][0]
    # iso-area against the LSTP SRAM: the MRAM fills that SRAM's area, no more.
    sram_area = load_config("configs/default.yaml", ["memories.spm_act.sram_flavor=lstp"]).memories["spm_act"].area_mm2
    assert lstp_area.config.memories["spm_act"].area_mm2 <= sram_area


def test_study_from_a_mapping_in_python(tmp_path, base_cfg):
    spec = parse_spec({"base": base_cfg, "axes": {"workload": ["tiny_cnn"]}}, "<study>", tmp_path)
    assert spec.name == "study"
    assert len(expand(spec)) == 1


def test_technology_column_is_that_of_the_scratchpads_holding_tensors():
    from simulator.study.points import scratchpad_technology

    assert scratchpad_technology(load_config("configs/default.yaml")) == "sram"
    # The SRAM accumulator of the MRAM presets holds partial sums, not placed tensors.
    assert scratchpad_technology(load_config("configs/mram_iso_capacity.yaml")) == "stt_mram"
    assert scratchpad_technology(load_config("configs/heterogeneous.yaml")) == "mixed"
    assert scratchpad_technology(load_config("configs/mram_iso_capacity.yaml",
                                             ["placement.weight=accumulator"])) == "mixed"

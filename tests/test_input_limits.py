"""Input files are checked at the boundary: YAML limits, layer traces field by field, topology CSVs."""

import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from models import yamlio
from models.errors import UserError, shown
from workloads.layers import MAX_DIM, load_trace
from workloads.scalesim_csv import read_topology

CONV = {"name": "c", "kind": "conv", "inputs": ["input"], "in_shape": [3, 8, 8], "out_shape": [4, 8, 8],
        "cin": 3, "cout": 4, "h": 8, "w": 8, "ho": 8, "wo": 8, "kh": 3, "kw": 3, "padding": 1,
        "weight_elems": 108}


def _trace(tmp_path, layers, **top):
    doc = {"workload": "t", "input_shape": [3, 8, 8], "layers": layers, **top}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_yaml12_numbers_are_numbers():
    doc = yamlio.parse_yaml("a: 1e6\nb: .5\nc: -2E-3\nd: 3\ne: 1.0\nf: abc\n", "x")
    assert doc == {"a": 1e6, "b": 0.5, "c": -2e-3, "d": 3, "e": 1.0, "f": "abc"}
    assert type(doc["d"]) is int


def test_billion_laughs_is_refused_before_expansion():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(UserError, match=r"x: YAML refused \(more than 1,000,000 values"):
        yamlio.parse_yaml("\n".join(lines), "x")


@pytest.mark.parametrize("text, message", [
    ("[" * 100 + "]" * 100, r"nested deeper than 64"),
    ("&a [*a]", r"recursive document"),
    ("a: [1, 2", r"not valid YAML"),
])
def test_hostile_yaml_is_one_line(text, message):
    with pytest.raises(UserError, match=message) as info:
        yamlio.parse_yaml(text, "x")
    assert "\n" not in str(info.value)


def test_files_that_are_not_regular_text_are_refused(tmp_path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin.yaml: not UTF-8 text \(byte 9"):
        yamlio.load_yaml_file(latin, "a config")
    with pytest.raises(UserError, match=r"/dev/zero: not a regular file"):
        yamlio.load_yaml_file("/dev/zero", "a config")
    with pytest.raises(UserError, match=r"is a folder|not a regular file|cannot read"):
        yamlio.load_yaml_file(tmp_path, "a config")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(yamlio.MAX_BYTES + 1)
    with pytest.raises(UserError, match=r"big.yaml: larger than"):
        yamlio.load_yaml_file(big, "a config")


def test_error_values_are_cut_short():
    assert shown("x" * 10_000) == "x" * 77 + "..."
    assert shown([1, 2]) == "[1, 2]"


def test_a_valid_conv_layer_loads(tmp_path):
    trace = load_trace(_trace(tmp_path, [CONV]))
    assert trace.layers[0].gemm_mkn() == (64, 27, 4, 1)


@pytest.mark.parametrize("change, message", [
    ({"groups": 0}, r"layers\[0\].groups = 0 \(must be from 1 to"),
    ({"cin": -3}, r"layers\[0\].cin = -3 \(must be from 0 to"),
    ({"stride": 0}, r"layers\[0\].stride = 0"),
    ({"groups": 2}, r"layers\[0\].groups = 2 \(must divide cin = 3\)"),
    ({"ho": 7}, r"layers\[0\].ho = 7 \(input, kernel, padding and stride give 8\)"),
    ({"cin": 3.5}, r"layers\[0\].cin = 3.5 \(must be an integer\)"),
    ({"cin": True}, r"layers\[0\].cin = True \(must be an integer\)"),
    ({"in_shape": [3, -8, 8]}, r"layers\[0\].in_shape = \[3, -8, 8\]"),
    ({"inputs": ["nowhere"]}, r"layers\[0\].inputs names 'nowhere'"),
    ({"inputs": []}, r"layers\[0\].inputs = \[\] \(a conv layer reads 1 to 1"),
    ({"name": ""}, r"layers\[0\].name = "),
    ({"kind": "lstm"}, r"layers\[0\].kind = lstm \(accepted: conv"),
    ({"cout": MAX_DIM + 1}, r"layers\[0\].cout = 16777217 \(must be from 0 to 16,777,216\)"),
    ({"dilation": 2}, r"unknown key 'dilation'"),
])
def test_bad_layer_fields_are_named(tmp_path, change, message):
    with pytest.raises(UserError, match=message) as info:
        load_trace(_trace(tmp_path, [{**CONV, **change}]))
    assert str(info.value).startswith(str(tmp_path / "t.yaml"))


def test_a_layer_too_large_to_simulate_is_refused(tmp_path):
    huge = {"name": "g", "kind": "linear", "inputs": ["input"], "in_shape": [1 << 14, 1 << 14],
            "out_shape": [1 << 14, 1 << 14], "cin": 1 << 14, "cout": 1 << 14, "rows": 1 << 14}
    with pytest.raises(UserError, match=r"4,398,046,511,104 MACs per sample \(at most 1,099,511,627,776"):
        load_trace(_trace(tmp_path, [huge]))


@pytest.mark.parametrize("layers, message", [([], r"layers = \[\] \(must be a list of 1 to"),
                                             ("abc", r"layers = abc"), ([[1, 2]], r"layers\[0\] = \[1, 2\]")])
def test_bad_layer_lists(tmp_path, layers, message):
    with pytest.raises(UserError, match=message):
        load_trace(_trace(tmp_path, layers))


def test_csv_sizes_are_bounded(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("Layer, M, N, K,\ng,1000000000,1000000000,1000000000,\n")
    with pytest.raises(UserError, match=r"line 2: M = 1000000000 \(at most 16,777,216 is simulated\)"):
        read_topology(path)
    path.write_text("Layer, M, N, K,\ng," + "9" * 5000 + ",2,3,\n")
    with pytest.raises(UserError, match=r"line 2: M = 9{77}\.\.\. \(at most"):
        read_topology(path)
    path.write_text("Layer, M, N, K,\ng,16777216,16777216,16777216,\n")
    with pytest.raises(UserError, match=r"line 2: .* MACs per sample"):
        read_topology(path)


_values = st.one_of(st.integers(-5, 40), st.floats(allow_nan=True), st.text(max_size=5), st.booleans(), st.none(),
                    st.lists(st.integers(-2, 9), max_size=5))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(CONV) + ["bogus"]), _values, max_size=4))
def test_fuzzed_layer_records_give_a_valid_trace_or_one_line(tmp_path_factory, change):
    path = _trace(tmp_path_factory.mktemp("f"), [{**CONV, **change}])
    try:
        trace = load_trace(path)
    except UserError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc) and len(str(exc)) < 400
        return
    layer = trace.layers[0]
    m, k, n, count = layer.gemm_mkn()
    assert min(m, k, n, count) >= 1 and layer.stride >= 1 and layer.cin % layer.groups == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_fuzzed_yaml_bytes_parse_or_give_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("y") / "f.yaml"
    path.write_bytes(data)
    try:
        yamlio.load_yaml_file(path, "a config")
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    assert os.path.exists(path)


def test_set_values_are_yaml12_and_never_silently_empty():
    from simulator.config import load_config
    cfg = load_config(None, ["dram.bandwidth_gbps=1.6e1"])
    assert cfg.dram.bandwidth_gbps == 16.0
    with pytest.raises(UserError, match=r"--set 'training.batch=': empty value"):
        load_config(None, ["training.batch="])


def test_config_errors_show_values_cut_short():
    from simulator.config import load_config
    with pytest.raises(UserError) as info:
        load_config(None, ["training.optimizer=" + "x" * 5000])
    assert len(str(info.value)) < 300 and "..." in str(info.value)


def test_libyaml_path_reads_what_the_pure_python_loader_reads():
    """The bounded reader parses with libyaml when present; it must build the same documents (YAML 1.2
    numbers included) as the pure-Python loader that carries the same limits."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = sorted(root.glob("configs/**/*.yaml")) + sorted(root.glob("traces/layers/*.yaml"))
    texts = [f.read_text() for f in files] + ["a: 1e6\nb: .5\nc: -1.5E-3\nd: .inf\ne: 0x10\nf: 1_000\ng: '1e6'\n"]
    assert len(files) > 20
    for text in texts:
        assert yamlio._load(text) == yaml.load(text, Loader=yamlio._Loader)  # noqa: S506

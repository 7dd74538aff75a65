"""Layer records: the torch-free description of a network that the simulator reads.

A layer trace is a YAML file (``traces/layers/<workload>.yaml``) holding one `Layer` per module, in
forward execution order. Shapes are per sample: the batch is a training setting and is multiplied in
by `workloads.phases` when a run expands layers into training ops.

GEMM geometry per kind (per sample, per group):
- ``conv``: input ``cin x h x w``, kernel ``kh x kw``, ``stride``, ``padding``, ``groups``, output
  ``cout x ho x wo``. GEMM: M = ho*wo, K = (cin/groups)*kh*kw, N = cout/groups, ``groups`` times.
- ``linear``: ``cin`` in features, ``cout`` out features, ``rows`` rows per sample (1 for a CNN's
  classifier, the sequence length in a transformer). GEMM: M = rows, K = cin, N = cout.
- ``matmul``: two activation operands (``inputs[0]`` is A, ``inputs[1]`` is B), ``m x k`` times
  ``k x n``, ``heads`` independent products per sample. No weights.
Vector kinds (``batchnorm``, ``layernorm``, ``relu``, ``gelu``, ``maxpool``, ``avgpool``, ``add``,
``softmax``) only need ``in_shape``/``out_shape`` (and ``kh``, ``kw``, ``stride`` for pools).
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from models.errors import UserError, shown
from models.yamlio import load_yaml_file

GEMM_KINDS = ("conv", "linear", "matmul")
VECTOR_KINDS = ("batchnorm", "layernorm", "relu", "gelu", "maxpool", "avgpool", "add", "softmax")
KINDS = GEMM_KINDS + VECTOR_KINDS
NETWORK_INPUT = "input"


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    inputs: tuple[str, ...]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    cin: int = 0
    cout: int = 0
    h: int = 0
    w: int = 0
    ho: int = 0
    wo: int = 0
    kh: int = 1
    kw: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    rows: int = 1
    m: int = 0
    k: int = 0
    n: int = 0
    heads: int = 1
    weight_elems: int = 0

    @property
    def is_gemm(self) -> bool:
        return self.kind in GEMM_KINDS

    @property
    def in_elems(self) -> int:
        return math.prod(self.in_shape)

    @property
    def out_elems(self) -> int:
        return math.prod(self.out_shape)

    def gemm_mkn(self) -> tuple[int, int, int, int]:
        """(M, K, N, count) of the forward GEMM per sample: ``count`` independent products."""
        if self.kind == "conv":
            return self.ho * self.wo, (self.cin // self.groups) * self.kh * self.kw, self.cout // self.groups, self.groups
        if self.kind == "linear":
            return self.rows, self.cin, self.cout, 1
        if self.kind == "matmul":
            return self.m, self.k, self.n, self.heads
        raise ValueError(f"layer {self.name}: kind {self.kind} is not a GEMM")


@dataclass(frozen=True)
class LayerTrace:
    workload: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...] = field(default_factory=tuple)
    source: str = ""


def _layer_to_dict(layer: Layer) -> dict:
    d = asdict(layer)
    out = {"name": d.pop("name"), "kind": d.pop("kind"), "inputs": list(d.pop("inputs")),
           "in_shape": list(d.pop("in_shape")), "out_shape": list(d.pop("out_shape"))}
    for f in fields(Layer):
        if f.name in d and d[f.name] != f.default:
            out[f.name] = d[f.name]
    return out


# Bounds that keep a run in bounded time and memory; a larger layer is refused, naming the bound.
MAX_DIM = 1 << 24
MAX_MACS_PER_SAMPLE = 1 << 40
MAX_LAYERS = 100_000
_POSITIVE = ("kh", "kw", "stride", "groups", "rows", "heads")
_NEEDS = {"conv": ("cin", "cout", "h", "w", "ho", "wo"), "linear": ("cin", "cout"), "matmul": ("m", "k", "n")}
_INPUTS = {"matmul": (2, 2), "add": (2, 64)}


def _int_field(d: dict, name: str, default: int, where: str) -> int:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}.{name} = {shown(value)} (must be an integer)")
    low = 1 if name in _POSITIVE else 0
    high = MAX_MACS_PER_SAMPLE if name == "weight_elems" else MAX_DIM
    if not low <= value <= high:
        raise UserError(f"{where}.{name} = {shown(value)} (must be from {low} to {high:,})")
    return value


def _shape(d: dict, name: str, where: str) -> tuple[int, ...]:
    value = d.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise UserError(f"{where}.{name} = {shown(value)} (must be a list of 1 to 4 positive integers)")
    for x in value:
        if isinstance(x, bool) or not isinstance(x, int) or not 1 <= x <= MAX_DIM:
            raise UserError(f"{where}.{name} = {shown(value)} (each size must be an integer from 1 to {MAX_DIM:,})")
    return tuple(value)


def check_geometry(layer: Layer, where: str) -> None:
    """Refuse a layer whose sizes are inconsistent or beyond the simulated bounds."""
    for name in _NEEDS.get(layer.kind, ()):
        if getattr(layer, name) < 1:
            raise UserError(f"{where}.{name} = {getattr(layer, name)} (a {layer.kind} layer needs it >= 1)")
    if layer.kind == "conv":
        for n in ("cin", "cout"):
            if getattr(layer, n) % layer.groups:
                raise UserError(f"{where}.groups = {layer.groups} (must divide {n} = {getattr(layer, n)})")
        for size, k, out, axis in ((layer.h, layer.kh, layer.ho, "ho"), (layer.w, layer.kw, layer.wo, "wo")):
            span = size + 2 * layer.padding - k
            expected = span // layer.stride + 1 if span >= 0 else 0
            if out != expected:
                raise UserError(f"{where}.{axis} = {out} (input, kernel, padding and stride give {expected})")
    if layer.is_gemm:
        m, k, n, count = layer.gemm_mkn()
        if m * k * n * count > MAX_MACS_PER_SAMPLE:
            raise UserError(f"{where}: {m * k * n * count:,} MACs per sample (at most {MAX_MACS_PER_SAMPLE:,} "
                            "are simulated)")


def _layer_from_dict(d: object, where: str) -> Layer:
    if not isinstance(d, dict):
        raise UserError(f"{where} = {shown(d)} (must be a mapping of layer fields)")
    allowed = {f.name for f in fields(Layer)}
    unknown = sorted(str(k) for k in set(d) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key {shown(unknown[0])!r} (accepted: {', '.join(sorted(allowed))})")
    if d.get("kind") not in KINDS:
        raise UserError(f"{where}.kind = {shown(d.get('kind'))} (accepted: {', '.join(KINDS)})")
    name, inputs = d.get("name"), d.get("inputs")
    if not isinstance(name, str) or not name or len(name) > 200 or name == NETWORK_INPUT:
        raise UserError(f"{where}.name = {shown(name)} (must be a non-empty string of at most 200 characters, "
                        f"not {NETWORK_INPUT!r})")
    low, high = _INPUTS.get(d["kind"], (1, 1))
    if (not isinstance(inputs, list) or not low <= len(inputs) <= high
            or not all(isinstance(x, str) for x in inputs)):
        raise UserError(f"{where}.inputs = {shown(inputs)} (a {d['kind']} layer reads {low} to {high} "
                        "earlier layers, by name)")
    kw = {f.name: _int_field(d, f.name, f.default, where) for f in fields(Layer) if f.type == "int"}
    layer = Layer(name=name, kind=d["kind"], inputs=tuple(inputs), in_shape=_shape(d, "in_shape", where),
                  out_shape=_shape(d, "out_shape", where), **kw)
    check_geometry(layer, where)
    return layer


def save_trace(trace: LayerTrace, path: str | Path) -> None:
    """Write a layer trace as YAML, one flow-style line per layer, atomically."""
    path = Path(path)
    lines = [f"# layer trace of {trace.workload}, per sample; made by workloads.extract",
             f"workload: {trace.workload}",
             f"input_shape: {list(trace.input_shape)}",
             "layers:"]
    for layer in trace.layers:
        lines.append("  - " + yaml.safe_dump(_layer_to_dict(layer), default_flow_style=True, width=10_000).strip())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def load_trace(path: str | Path) -> LayerTrace:
    path = Path(path)
    doc = load_yaml_file(path, "a layer trace")
    if not isinstance(doc, dict) or "layers" not in doc:
        raise UserError(f"{path}: not a layer trace (needs keys workload, input_shape, layers)")
    unknown = sorted(str(k) for k in doc if k not in ("workload", "input_shape", "layers"))
    if unknown:
        raise UserError(f"{path}: unknown key {shown(unknown[0])!r} (accepted: workload, input_shape, layers)")
    records = doc["layers"]
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_LAYERS:
        raise UserError(f"{path}: layers = {shown(records)} (must be a list of 1 to {MAX_LAYERS:,} layers)")
    layers = tuple(_layer_from_dict(d, f"{path}: layers[{i}]") for i, d in enumerate(records))
    seen: set[str] = {NETWORK_INPUT}
    for i, layer in enumerate(layers):
        for src in layer.inputs:
            if src not in seen:
                raise UserError(f"{path}: layers[{i}].inputs names {shown(src)!r}, which is not an earlier layer")
        if layer.name in seen:
            raise UserError(f"{path}: layers[{i}].name = {shown(layer.name)} (layer names must be unique)")
        seen.add(layer.name)
    workload = doc.get("workload", path.stem)
    if not isinstance(workload, str) or not workload or len(workload) > 200:
        raise UserError(f"{path}: workload = {shown(workload)} (must be a name of at most 200 characters)")
    input_shape = _shape(doc, "input_shape", f"{path}: ") if "input_shape" in doc else ()
    return LayerTrace(workload=workload, input_shape=input_shape, layers=layers, source=str(path))

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

from models.errors import UserError

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


def _layer_from_dict(d: dict, where: str) -> Layer:
    allowed = {f.name for f in fields(Layer)}
    unknown = set(d) - allowed
    if unknown:
        raise UserError(f"{where}: unknown key {sorted(unknown)[0]!r} (accepted: {', '.join(sorted(allowed))})")
    if d.get("kind") not in KINDS:
        raise UserError(f"{where}: kind = {d.get('kind')!r} (accepted: {', '.join(KINDS)})")
    try:
        kw = dict(d)
        kw["inputs"] = tuple(kw["inputs"])
        kw["in_shape"] = tuple(int(x) for x in kw["in_shape"])
        kw["out_shape"] = tuple(int(x) for x in kw["out_shape"])
        return Layer(**kw)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: malformed layer record ({exc})") from None


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
    try:
        doc = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise UserError(f"{path}: cannot read layer trace ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or "layers" not in doc:
        raise UserError(f"{path}: not a layer trace (needs keys workload, input_shape, layers)")
    layers = tuple(_layer_from_dict(d, f"{path}: layers[{i}]") for i, d in enumerate(doc["layers"]))
    names = [layer.name for layer in layers]
    seen: set[str] = {NETWORK_INPUT}
    for i, layer in enumerate(layers):
        for src in layer.inputs:
            if src not in seen:
                raise UserError(f"{path}: layers[{i}].inputs names {src!r}, which is not an earlier layer")
        seen.add(layer.name)
    if len(set(names)) != len(names):
        raise UserError(f"{path}: layer names must be unique")
    return LayerTrace(workload=str(doc.get("workload", path.stem)),
                      input_shape=tuple(doc.get("input_shape", ())), layers=layers, source=str(path))

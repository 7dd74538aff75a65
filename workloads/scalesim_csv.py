"""Import SCALE-Sim 3.0.0 topology CSVs as layer traces.

Two forms, told apart by the header (case, spaces and trailing commas do not matter; the first
column may be headed ``Layer`` or ``Layer name``):
- conv: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter,
  Strides,``. IFMAP sizes already include the padding, so ``padding = 0`` and
  ``ho = (H - kh) // stride + 1`` (likewise ``wo``).
- GEMM: ``Layer, M, N, K,``: a ``linear`` layer with ``rows = M``, ``cin = K``, ``cout = N``, which is
  SCALE-Sim's own reading (it runs the GEMM as an M x K input with N 1 x K filters: on a ws array
  Sr = K, Sc = N and M rows stream through).
Layers chain in file order (each reads the previous one; the first reads the network input), and
``weight_elems = kh * kw * Channels * Num Filter`` (``K * N`` for the GEMM form). The chaining is
nominal: a SCALE-Sim topology lists GEMM layers only, so a layer's padded IFMAP need not equal the
previous layer's output. SCALE-Sim 3's optional ``Sparsity`` column (``N:M``) is accepted when every
layer is dense (N = M); sparse layers are refused, since the simulator models dense layers only.
"""

from __future__ import annotations

from pathlib import Path

from models.errors import UserError, shown
from models.yamlio import read_text
from workloads.layers import MAX_DIM, MAX_LAYERS, NETWORK_INPUT, Layer, LayerTrace, check_geometry

CONV_HEADER = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
               "Num Filter", "Strides")
GEMM_HEADER = ("Layer", "M", "N", "K")


def _fields(line: str) -> list[str]:
    cells = [cell.strip() for cell in line.split(",")]
    while cells and cells[-1] == "":
        cells.pop()
    return cells


def _positive_int(cell: str) -> int | None:
    if not (cell.isascii() and cell.isdigit()):
        return None
    if len(cell) > 18:  # beyond any bound, and int() of thousands of digits is refused by Python
        return MAX_DIM + 1
    return int(cell) if int(cell) > 0 else None


def _normal(cells: list[str]) -> tuple[str, ...]:
    return tuple(" ".join(cell.lower().split()) for cell in cells)


def _conv_layer(name: str, inputs: tuple[str, ...], v: dict[str, int], where: str) -> Layer:
    h, w, kh, kw = v["IFMAP Height"], v["IFMAP Width"], v["Filter Height"], v["Filter Width"]
    cin, cout, stride = v["Channels"], v["Num Filter"], v["Strides"]
    if kh > h or kw > w:
        raise UserError(f"{where}: filter {kh}x{kw} is larger than the IFMAP {h}x{w} "
                        "(IFMAP sizes must include the padding)")
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    return Layer(name=name, kind="conv", inputs=inputs, in_shape=(cin, h, w), out_shape=(cout, ho, wo),
                 cin=cin, cout=cout, h=h, w=w, ho=ho, wo=wo, kh=kh, kw=kw, stride=stride,
                 weight_elems=kh * kw * cin * cout)


def _gemm_layer(name: str, inputs: tuple[str, ...], v: dict[str, int], where: str) -> Layer:
    m, n, k = v["M"], v["N"], v["K"]
    return Layer(name=name, kind="linear", inputs=inputs, in_shape=(m, k), out_shape=(m, n), cin=k, cout=n,
                 rows=m, weight_elems=k * n)


def _form(header: list[str], where: str):
    """(columns, layer maker, has a Sparsity column) for a header row."""
    cells = _normal(header)
    sparsity = bool(cells) and cells[-1] == "sparsity"
    body = cells[1:len(cells) - sparsity]
    if cells and cells[0] in ("layer", "layer name"):
        for columns, make in ((CONV_HEADER, _conv_layer), (GEMM_HEADER, _gemm_layer)):
            if body == _normal(list(columns[1:])):
                return columns, make, sparsity
    raise UserError(f"{where}: header {shown(', '.join(header))!r} is not a SCALE-Sim topology header (expected "
                    f"{', '.join(CONV_HEADER)!r} or {', '.join(GEMM_HEADER)!r}, optionally then 'Sparsity')")


def _check_dense(cell: str, where: str) -> None:
    parts = [_positive_int(p.strip()) for p in cell.split(":")]
    if len(parts) != 2 or None in parts:
        raise UserError(f"{where}: Sparsity = {shown(cell)!r} (must be N:M with positive integers)")
    nonzero, block = parts
    if nonzero != block:
        raise UserError(f"{where}: Sparsity = {shown(cell)!r} (sparse layers are not modelled: only dense N:N)")


def read_topology(path: str | Path) -> LayerTrace:
    """Read a SCALE-Sim topology CSV (conv or GEMM form) into a `LayerTrace` named after the file."""
    path = Path(path)
    lines = read_text(path, "topology (a SCALE-Sim CSV)").splitlines()
    rows = [(i + 1, _fields(line)) for i, line in enumerate(lines) if line.strip()]
    if not rows:
        raise UserError(f"{path}: empty file (expected a SCALE-Sim topology CSV header: "
                        f"{', '.join(CONV_HEADER)} or {', '.join(GEMM_HEADER)})")
    header_line, header = rows[0]
    columns, make, sparsity = _form(header, f"{path}: line {header_line}")
    layers: list[Layer] = []
    names: set[str] = set()
    previous = NETWORK_INPUT
    width = len(columns) + sparsity
    if len(rows) - 1 > MAX_LAYERS:
        raise UserError(f"{path}: {len(rows) - 1:,} layers (at most {MAX_LAYERS:,})")
    for lineno, cells in rows[1:]:
        where = f"{path}: line {lineno}"
        if len(cells) != width:
            expected = ", ".join(columns + (("Sparsity",) if sparsity else ()))
            raise UserError(f"{where}: {len(cells)} fields (expected {width}: {expected})")
        name = cells[0]
        if not name or name == NETWORK_INPUT:
            raise UserError(f"{where}: layer name {shown(name)!r} (must be non-empty and not {NETWORK_INPUT!r})")
        if name in names:
            raise UserError(f"{where}: layer name {shown(name)!r} repeats an earlier line (names must be unique)")
        values: dict[str, int] = {}
        for column, cell in zip(columns[1:], cells[1:]):
            value = _positive_int(cell)
            if value is None:
                raise UserError(f"{where}: {column} = {shown(cell)!r} (must be a positive integer)")
            if value > MAX_DIM:
                raise UserError(f"{where}: {column} = {shown(cell)} (at most {MAX_DIM:,} is simulated)")
            values[column] = value
        if sparsity:
            _check_dense(cells[-1], where)
        layer = make(name, (previous,), values, where)
        check_geometry(layer, where)
        layers.append(layer)
        names.add(name)
        previous = name
    if not layers:
        raise UserError(f"{path}: no layers after the header (expected rows of {', '.join(columns)})")
    return LayerTrace(workload=path.stem, input_shape=layers[0].in_shape, layers=tuple(layers),
                      source=str(path))

"""GEMM -> systolic-array folds, with exact cycle and access arithmetic; the ``dataflow:`` registry.

For Y[M x N] = A[M x K] · B[K x N] on R x C PEs (CONTRACT.md):
- ``ws`` holds B: Sr = K, Sc = N, streams T = M; ``is`` holds A: Sr = K, Sc = M, streams T = N;
  ``os`` holds Y: Sr = M, Sc = N, streams T = K.
- folds = ceil(Sr/R) · ceil(Sc/C); cycles per fold = 2R + C + T − 2 (ws, is: R cycles to load the
  stationary operand, T + R − 1 to stream with the row skew, C − 1 to drain the column skew) or
  R + C + T − 2 (os: no preload; the drain of the accumulated outputs is the R + C − 2 skew).
  Of each fold, T cycles stream useful operands (``compute``), the rest is ``fill_drain``.
- Each dataflow is one `Dataflow` entry of `DATAFLOWS`; the tiler scores tiles with the same
  functions, applied to numpy arrays.
- SCALE-Sim 3.0.0's "Total Cycles" is folds · per_fold − 1 (it counts the last cycle from 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from models.errors import UserError


def ceil_div(a, b):
    """ceil(a / b) for integers, and elementwise for numpy arrays of whole numbers."""
    return -(-a // b)


@dataclass(frozen=True)
class Dataflow:
    """One entry of the ``array.dataflow`` registry; every function works on ints and numpy arrays.

    ``dims(m, k, n) -> (Sr, Sc, T)``: the stationary rows and columns and the streamed dimension (a
    permutation, so it also maps dimension names). ``preload_rows``: R-cycle passes spent loading
    the stationary operand before streaming (per fold = preload_rows R + R + C + T - 2). ``accesses(mt, kt, nt, fr, fc) -> (a_reads, b_reads, y_writes,
    psum_reads)``: element accesses of one tile with fr x fc folds.
    """

    name: str
    dims: Callable
    preload_rows: int
    accesses: Callable

    def per_fold_cycles(self, rows, cols, t):
        return self.preload_rows * rows + rows + cols + t - 2

    def unit(self, rows: int, cols: int) -> tuple[int, int, int]:
        """Per GEMM dimension (M, K, N): the array side it folds over (1 if streamed)."""
        sr, sc, _ = self.dims("m", "k", "n")
        return tuple(rows if d == sr else cols if d == sc else 1 for d in ("m", "k", "n"))


DATAFLOWS: dict[str, Dataflow] = {}


def register_dataflow(df: Dataflow) -> Dataflow:
    if df.name in DATAFLOWS:
        raise ValueError(f"dataflow {df.name!r} already registered")
    DATAFLOWS[df.name] = df
    return df


# ws/is: R cycles to load the stationary operand, T + R - 1 to stream with the row skew, C - 1 to
# drain the column skew; os: no preload, the drain of the accumulated outputs is the R + C - 2 skew.
register_dataflow(Dataflow("os", lambda m, k, n: (m, n, k), 0,
                           lambda mt, kt, nt, fr, fc: (mt * kt * fc, kt * nt * fr, mt * nt, 0)))
register_dataflow(Dataflow("ws", lambda m, k, n: (k, n, m), 1,
                           lambda mt, kt, nt, fr, fc: (mt * kt * fc, kt * nt, mt * nt * fr, mt * nt * (fr - 1))))
register_dataflow(Dataflow("is", lambda m, k, n: (k, m, n), 1,
                           lambda mt, kt, nt, fr, fc: (mt * kt, kt * nt * fc, mt * nt * fr, mt * nt * (fr - 1))))


def dataflow(name: str, where: str = "array.dataflow") -> Dataflow:
    if name not in DATAFLOWS:
        raise UserError(f"{where} = {name!r} (accepted: {', '.join(DATAFLOWS)})")
    return DATAFLOWS[name]


def stationary_dims(dataflow_name: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) of a GEMM under a dataflow."""
    return dataflow(dataflow_name).dims(m, k, n)


def per_fold_cycles(dataflow_name: str, rows: int, cols: int, t: int) -> int:
    return dataflow(dataflow_name).per_fold_cycles(rows, cols, t)


def fold_count(dataflow_name: str, rows: int, cols: int, m: int, k: int, n: int) -> int:
    sr, sc, _ = stationary_dims(dataflow_name, m, k, n)
    return ceil_div(sr, rows) * ceil_div(sc, cols)


def ideal_cycles(dataflow_name: str, rows: int, cols: int, m: int, k: int, n: int, count: int = 1) -> int:
    """Cycles of ``count`` GEMMs with ideal memory: the contract's cycle rule. Works elementwise
    on numpy arrays of tile sizes (the tiler's scoring)."""
    df = dataflow(dataflow_name)
    sr, sc, t = df.dims(m, k, n)
    return count * ceil_div(sr, rows) * ceil_div(sc, cols) * df.per_fold_cycles(rows, cols, t)


@dataclass(frozen=True)
class TileWork:
    """What the array does for one tile (mt x kt x nt) of a GEMM: cycles and element accesses.

    ``a_reads``/``b_reads`` count elements read from the operands' memories, ``y_writes`` the
    output (or partial-sum) elements written, ``psum_reads`` the partial sums read back to
    accumulate across K-folds inside the tile.
    """

    folds: int
    ideal_cycles: int
    stream_cycles: int
    a_reads: int
    b_reads: int
    y_writes: int
    psum_reads: int

    @property
    def fill_drain_cycles(self) -> int:
        return self.ideal_cycles - self.stream_cycles


def tile_work(dataflow_name: str, rows: int, cols: int, mt: int, kt: int, nt: int) -> TileWork:
    df = dataflow(dataflow_name)
    sr, sc, t = df.dims(mt, kt, nt)
    fr, fc = ceil_div(sr, rows), ceil_div(sc, cols)
    folds = fr * fc
    cycles = folds * df.per_fold_cycles(rows, cols, t)
    a, b, y, psum = df.accesses(mt, kt, nt, fr, fc)
    return TileWork(folds, cycles, folds * t, a, b, y, psum)

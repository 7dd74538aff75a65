"""GEMM -> systolic-array folds, with exact cycle and access arithmetic.

For Y[M x N] = A[M x K] · B[K x N] on R x C PEs (CONTRACT.md):
- ``ws`` holds B: Sr = K, Sc = N, streams T = M; ``is`` holds A: Sr = K, Sc = M, streams T = N;
  ``os`` holds Y: Sr = M, Sc = N, streams T = K.
- folds = ceil(Sr/R) · ceil(Sc/C); cycles per fold = 2R + C + T − 2 (ws, is: R cycles to load the
  stationary operand, T + R − 1 to stream with the row skew, C − 1 to drain the column skew) or
  R + C + T − 2 (os: no preload; the drain of the accumulated outputs is the R + C − 2 skew).
  Of each fold, T cycles stream useful operands (``compute``), the rest is ``fill_drain``.
- SCALE-Sim 3.0.0's "Total Cycles" is folds · per_fold − 1 (it counts the last cycle from 0).
"""

from __future__ import annotations

from dataclasses import dataclass


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def stationary_dims(dataflow: str, m: int, k: int, n: int) -> tuple[int, int, int]:
    """(Sr, Sc, T) of a GEMM under a dataflow."""
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    if dataflow == "os":
        return m, n, k
    raise ValueError(f"unknown dataflow {dataflow!r}")


def per_fold_cycles(dataflow: str, rows: int, cols: int, t: int) -> int:
    if dataflow == "os":
        return rows + cols + t - 2
    return 2 * rows + cols + t - 2


def fold_count(dataflow: str, rows: int, cols: int, m: int, k: int, n: int) -> int:
    sr, sc, _ = stationary_dims(dataflow, m, k, n)
    return ceil_div(sr, rows) * ceil_div(sc, cols)


def ideal_cycles(dataflow: str, rows: int, cols: int, m: int, k: int, n: int, count: int = 1) -> int:
    """Cycles of ``count`` GEMMs with ideal memory: the contract's cycle rule."""
    sr, sc, t = stationary_dims(dataflow, m, k, n)
    return count * ceil_div(sr, rows) * ceil_div(sc, cols) * per_fold_cycles(dataflow, rows, cols, t)


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


def tile_work(dataflow: str, rows: int, cols: int, mt: int, kt: int, nt: int) -> TileWork:
    sr, sc, t = stationary_dims(dataflow, mt, kt, nt)
    fr, fc = ceil_div(sr, rows), ceil_div(sc, cols)
    folds = fr * fc
    cycles = folds * per_fold_cycles(dataflow, rows, cols, t)
    if dataflow == "ws":
        a, b = mt * kt * fc, kt * nt
        y, psum = mt * nt * fr, mt * nt * (fr - 1)
    elif dataflow == "is":
        a, b = mt * kt, kt * nt * fc
        y, psum = mt * nt * fr, mt * nt * (fr - 1)
    else:
        a, b = mt * kt * fc, kt * nt * fr
        y, psum = mt * nt, 0
    return TileWork(folds, cycles, folds * t, a, b, y, psum)

"""Slow, obviously-correct references for the mapping: fold enumeration element by element."""

from __future__ import annotations


def enumerate_folds(dataflow: str, rows: int, cols: int, m: int, k: int, n: int):
    """Yield (sr_used, sc_used, t) for every fold, walking the stationary matrix tile by tile."""
    sr, sc, t = {"ws": (k, n, m), "is": (k, m, n), "os": (m, n, k)}[dataflow]
    r0 = 0
    while r0 < sr:
        c0 = 0
        while c0 < sc:
            yield min(rows, sr - r0), min(cols, sc - c0), t
            c0 += cols
        r0 += rows


def naive_tile_work(dataflow: str, rows: int, cols: int, m: int, k: int, n: int) -> dict:
    """Counts by walking folds: cycles as SCALE-Sim's compute model defines them per fold, and the
    elements each fold reads and writes."""
    out = dict(folds=0, cycles=0, stream=0, a=0, b=0, y=0, psum=0)
    seen_rowfold = {}
    for sr_used, sc_used, t in enumerate_folds(dataflow, rows, cols, m, k, n):
        out["folds"] += 1
        fill = rows if dataflow in ("ws", "is") else 0
        # fill the stationary operand, stream T vectors skewed over the rows, drain the column skew
        out["cycles"] += fill + (t + rows - 1) + (cols - 1)
        out["stream"] += t
        if dataflow == "ws":      # B stationary (sr_used x sc_used); stream A rows (t x sr_used)
            out["b"] += sr_used * sc_used
            out["a"] += t * sr_used
            out["y"] += t * sc_used
        elif dataflow == "is":    # A stationary; stream B columns
            out["a"] += sr_used * sc_used
            out["b"] += t * sr_used
            out["y"] += t * sc_used
        else:                      # Y stationary; stream A rows and B columns over K
            out["a"] += sr_used * t
            out["b"] += t * sc_used
            out["y"] += sr_used * sc_used
        key = sc_used
        seen_rowfold[key] = seen_rowfold.get(key, 0) + 1
    if dataflow in ("ws", "is"):
        out["psum"] = out["y"] - m * n
    return out

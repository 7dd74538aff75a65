"""DRAM addresses: every tensor gets a 4 KiB-aligned region in first-use order; a tile's transfer
addresses its share of the region; `box_bytes` splits a tensor's bytes exactly over tiles."""

from __future__ import annotations

import numpy as np

from simulator.mapping import ceil_div
from simulator.plan import Transfer
from workloads.phases import Operand

DRAM_ALIGN_BYTES = 4096


class DramLayout:
    def __init__(self):
        self.addr: dict[str, int] = {}
        self.next_addr = 0
        self.classes: dict[str, str] = {}
        self.tensor_bytes: dict[str, int] = {}

    def register(self, o: Operand) -> None:
        if o.tensor not in self.addr:
            self.addr[o.tensor] = self.next_addr
            self.next_addr += ceil_div(max(o.nbytes, 1), DRAM_ALIGN_BYTES) * DRAM_ALIGN_BYTES
            self.classes[o.tensor] = o.tclass
            self.tensor_bytes[o.tensor] = o.nbytes

    def transfer(self, o: Operand, mem: str, nbytes: int, to_dram: bool, idx: int, n: int,
                 offset: int | None = None) -> Transfer:
        """Tile ``idx`` of ``n`` of tensor ``o``: its address is the tile's share (or ``offset``
        bytes into the tensor), 64-byte aligned."""
        if offset is None:
            offset = o.nbytes * idx // max(n, 1)
        return Transfer(o.tensor, o.tclass, mem, nbytes, to_dram, self.addr[o.tensor] + offset // 64 * 64)


def box_bytes(nbytes: int, dims: tuple[int, ...], lo: tuple[int, ...], hi: tuple[int, ...]) -> int:
    """Bytes of the box [lo, hi) of a tensor of ``nbytes`` viewed as ``dims``, rounded so that the
    boxes of any partition add up to exactly ``nbytes`` (inclusion-exclusion of a floored
    cumulative measure)."""
    total = 1
    for d in dims:
        total *= d
    if nbytes % total == 0:  # whole bytes per element: no rounding to spread
        vol = 1
        for a, b in zip(lo, hi):
            vol *= b - a
        return nbytes // total * vol
    acc = 0
    n = len(dims)
    for corner in range(1 << n):
        vol, sign = 1, 1
        for j in range(n):
            if corner >> j & 1:
                vol *= hi[j]
            else:
                vol *= lo[j]
                sign = -sign
        acc += sign * (nbytes * vol // total)
    return acc


def chunk_bytes(nbytes: int, c, chunks: int):
    """Bytes of chunk ``c`` (an int or a numpy array) when a tensor of ``nbytes`` streams in
    ``chunks`` chunks of ceil(nbytes / chunks) bytes, as a DMA engine cuts it: the last chunk that
    has bytes takes the remainder, any after it none. Every chunk but the op's last is then equal
    (the fast-forward skips runs of equal chunks), and none exceeds the equal share rounded up."""
    size = -(-nbytes // max(chunks, 1))
    if isinstance(c, np.ndarray):
        return np.clip(nbytes - c * size, 0, size)
    return min(max(nbytes - c * size, 0), size)


def chunk_offset(nbytes: int, c, chunks: int):
    """Where chunk ``c`` of `chunk_bytes` starts in its tensor (an int or a numpy array)."""
    size = -(-nbytes // max(chunks, 1))
    if isinstance(c, np.ndarray):
        return np.minimum(c * size, nbytes)
    return min(c * size, nbytes)


def offsets_np(nbytes: int, idx: np.ndarray, n: int) -> np.ndarray:
    """`DramLayout.transfer`'s address offsets of tiles ``idx`` of ``n``, vectorised."""
    return (nbytes * np.asarray(idx, dtype=np.int64) // max(n, 1)) // 64 * 64


def box_bytes_np(nbytes: int, dims: tuple[int, ...], lo: tuple, hi: tuple) -> np.ndarray:
    """`box_bytes` of many boxes at once (``lo``, ``hi``: one array per dimension), exact: with
    nbytes = q * total + r, each floored term is q * vol + (r * vol) // total, and r * vol fits
    int64 while total < 2**31 (else Python integers are used)."""
    total = 1
    for d in dims:
        total *= d
    q, r = divmod(nbytes, total)
    kind = np.int64 if total < 1 << 31 else object
    lo = [np.asarray(x, dtype=np.int64).astype(kind) for x in lo]
    hi = [np.asarray(x, dtype=np.int64).astype(kind) for x in hi]
    vol = 1
    for a, b in zip(lo, hi):
        vol = vol * (b - a)
    acc = q * vol
    if r:
        n = len(dims)
        for corner in range(1 << n):
            v, sign = 1, 1
            for j in range(n):
                if corner >> j & 1:
                    v = v * hi[j]
                else:
                    v = v * lo[j]
                    sign = -sign
            acc = acc + sign * (r * v // total)
    return np.asarray(acc).astype(np.int64)

"""Word-by-word reference of the scratchpad timing rules (no contention): every word goes to bank
(word index mod banks, every stream's buffer aligned to bank 0), each bank serves its words one after another, a read word holds its bank
``read_ii`` cycles and a write word ``write_occ``; reads are prefetched as fast as banks allow and
writes drain through the write path, so a tile ends when the array's ideal schedule, the last read
(plus read latency) and the last write are all done."""

from __future__ import annotations


def tile_end(t0: int, ideal_cycles: int, accesses: list[dict]) -> int:
    """``accesses``: per memory, dict(banks, word_bytes, read_ii, write_occ, read_latency,
    read_bytes, write_bytes)."""
    end = t0 + ideal_cycles
    for a in accesses:
        bank_free = [t0] * a["banks"]
        n_read = -(-a["read_bytes"] // a["word_bytes"])
        n_write = -(-a["write_bytes"] // a["word_bytes"])
        last_read = t0
        for w in range(n_read):
            b = w % a["banks"]
            bank_free[b] += a["read_ii"]
            last_read = max(last_read, bank_free[b])
        for w in range(n_write):
            b = w % a["banks"]  # each stream's buffer starts on a bank-row boundary (bank 0)
            bank_free[b] += a["write_occ"]
        lat = a["read_latency"] if n_read else 0
        end = max(end, last_read + lat, max(bank_free) + lat)
    return end

"""Export a run's timeline: Chrome trace-event JSON (Perfetto, chrome://tracing) and DRAM request
traces for DRAMSim3 and Ramulator 2.

Both writers stream: they read the timeline a chunk at a time (`Trace.iter_timeline`) and write as
they go, to a temporary name in the target folder renamed when complete (`simulator.outputs`).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numba import njit

from models.errors import UserError
from models.limits import checked
from simulator import h5read, schema
from simulator.outputs import atomic_output, check_out
from simulator.trace import NO_STALL_CODE, STALL_NAMES, Trace

DRAM_FORMATS = ("dramsim3", "ramulator")
# requests formatted per batch: bounds the memory of the DRAM writer (about 100 bytes per request)
REQUEST_BATCH = 1 << 18
_SLICE_FIELDS = ("t_start_cycles", "t_end_cycles", "hw_unit", "slot", "layer_id", "phase", "op", "tensor_class",
                 "bytes", "dram_addr", "stall", "is_write")


def check_outputs(source: str | Path, perfetto: str | None, dram: str | None) -> None:
    """Before any work: each output is writable and is neither the run file nor the other output."""
    done: dict[str, Path] = {}
    for flag, out, accepted in (("--perfetto", perfetto, "a new or regular .json file path in a writable folder"),
                                ("--dram", dram, "a new or regular trace file path in a writable folder")):
        if out is not None:
            done[flag] = check_out(out, flag, {"FILE": source, **done}, accepted=accepted)


@contextmanager
def _atomic_text(path: str | Path, what: str):
    with atomic_output(path, what) as tmp, open(tmp, "wb") as fh:
        yield fh


# ---------------------------------------------------------------------------------- Perfetto


def track_name(unit: str, slot: int, cfg: dict) -> str:
    if unit == "pe_array":
        return "PE array"
    if unit == "vector":
        return "vector unit"
    if unit == "dma":
        if slot < 2:
            return f"DMA slot {slot} (in, {'even' if slot == 0 else 'odd'} tiles)"
        return f"DMA slot {slot} (out)"
    if unit == "dram":
        ch = cfg.get("dram", {}).get("channels", "?")
        return f"DRAM ({ch} channels, interleaved)"
    mem = cfg.get("memories", {}).get(unit, {})
    return f"{unit} ({mem.get('technology', '?')}, {mem.get('banks', '?')} banks as one group)"


def _us(ns: np.ndarray) -> list[str]:
    """Integer nanoseconds as exact decimal microseconds."""
    q, r = np.divmod(ns, 1000)
    return [f"{a}.{b:03d}" for a, b in zip(q.tolist(), r.tolist())]


class _Lanes:
    """Places slices of one track on lanes (sub-tracks) so slices on a lane never overlap."""

    def __init__(self):
        self.ends: list[int] = []

    def assign(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Lanes for slices sorted by start: the first lane free at the slice's start."""
        if len(starts) and len(self.ends) <= 1 and starts[0] >= (self.ends[0] if self.ends else starts[0]) \
                and np.all(starts[1:] >= np.maximum.accumulate(ends)[:-1]):
            self.ends[:] = [max(self.ends[0] if self.ends else 0, int(ends.max()))]
            return np.zeros(len(starts), np.int64)
        lanes = np.empty(len(starts), np.int64)
        for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            for lane, end in enumerate(self.ends):
                if end <= s:
                    break
            else:
                lane = len(self.ends)
                self.ends.append(0)
            self.ends[lane] = e
            lanes[i] = lane
        return lanes


def export_perfetto(trace: Trace, out: str | Path, layer=None, phases=None, hw_unit=None, window=None) -> dict:
    """Write the (filtered) timeline as Chrome trace-event JSON; returns counts.

    One thread per (hardware unit, slot); slices of one track that overlap (DMA transfers issued
    together) go to extra lanes, threads named ``... [lane 2]``. Times are in microseconds, rounded
    to whole nanoseconds (the finest unit Perfetto keeps); ``args.cycles`` holds the exact cycles.
    """
    cfg = trace.config
    units = trace.hw_units
    ns_per_cycle = 1.0 / trace.clock_ghz
    names = trace.layer_names
    layer_json = {i: json.dumps(n) for i, n in names.items()}
    lanes: dict[tuple[int, int], _Lanes] = {}
    tids: dict[tuple[int, int, int], int] = {}
    counts = {"events": 0, "slices": 0, "stall_slices": 0, "tracks": 0, "extra_lanes": 0}
    other = {"workload": trace.workload, "schema_version": trace.schema_version, "clock_ghz": trace.clock_ghz,
             "total_cycles": trace.total_cycles, "source": str(trace.path)}
    with _atomic_text(out, "--perfetto") as fh:
        fh.write(b'{"displayTimeUnit":"ns","otherData":' + json.dumps(other).encode() + b',"traceEvents":[\n')
        head = {"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
                "args": {"name": f"{trace.workload} accelerator ({trace.path.name})"}}
        fh.write(json.dumps(head).encode())
        for rows in trace.iter_timeline(layer=layer, phases=phases, hw_unit=hw_unit, window=window):
            order = np.lexsort((rows["t_end_cycles"], rows["t_start_cycles"], rows["slot"], rows["hw_unit"]))
            rows = rows[order]
            track = rows["hw_unit"].astype(np.int64) * 65536 + rows["slot"].astype(np.int64)
            bounds = np.r_[0, np.nonzero(np.diff(track))[0] + 1, len(rows)]
            lane = np.empty(len(rows), np.int64)
            for a, b in zip(bounds[:-1], bounds[1:]):
                key = (int(rows["hw_unit"][a]), int(rows["slot"][a]))
                lane[a:b] = lanes.setdefault(key, _Lanes()).assign(rows["t_start_cycles"][a:b],
                                                                   rows["t_end_cycles"][a:b])
            lines = []
            for u, s, ln in sorted(set(zip(rows["hw_unit"].tolist(), rows["slot"].tolist(), lane.tolist()))):
                if (u, s, ln) in tids:
                    continue
                tid = tids[(u, s, ln)] = len(tids) + 1
                name = track_name(units[u], s, cfg) + (f" [lane {ln + 1}]" if ln else "")
                counts["tracks"] += 1
                counts["extra_lanes"] += bool(ln)
                lines.append(json.dumps({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                                         "args": {"name": name}}))
                lines.append(json.dumps({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid,
                                         "args": {"sort_index": u * 100000 + s * 100 + ln}}))
            t0 = np.rint(rows["t_start_cycles"] * ns_per_cycle).astype(np.int64)
            t1 = np.rint(rows["t_end_cycles"] * ns_per_cycle).astype(np.int64)
            ts, dur = _us(t0), _us(t1 - t0)
            cols = [rows[f].tolist() for f in _SLICE_FIELDS]
            for i, (c0, c1, u, s, lid, ph, op, tc, nbytes, addr, stall, is_write) in enumerate(zip(*cols)):
                tid = tids[(u, s, int(lane[i]))]
                label = f"{names.get(lid, lid)}/{schema.PHASES[ph]}/{schema.OPS[op]}"
                lj = layer_json.get(lid, f'"{lid}"')
                args = (f'"layer":{lj},"phase":"{schema.PHASES[ph]}","op":"{schema.OPS[op]}",'
                        f'"cycles":[{c0},{c1}]')
                if stall != NO_STALL_CODE:
                    name, cat = json.dumps(f"{STALL_NAMES[stall]} stall"), "stall"
                    counts["stall_slices"] += 1
                else:
                    name, cat = json.dumps(label), units[u] if u < 4 else "spm"
                    if nbytes:
                        args += (f',"bytes":{nbytes},"tensor_class":"{schema.TENSOR_CLASSES[tc]}",'
                                 f'"direction":"{"write" if is_write else "read"}"')
                    if addr >= 0:
                        args += f',"dram_addr":"0x{addr:x}"'
                lines.append(f'{{"name":{name},"cat":"{cat}","ph":"X","ts":{ts[i]},"dur":{dur[i]},"pid":1,'
                             f'"tid":{tid},"args":{{{args}}}}}')
            counts["slices"] += len(rows)
            if lines:
                fh.write(b",\n" + ",\n".join(lines).encode())
        fh.write(b"\n]}\n")
    counts["events"] = counts["slices"] + 2 * counts["tracks"] + 1
    return counts


# ---------------------------------------------------------------------------------- DRAM traces


@njit(cache=True)
def _write_int(out, pos, value, base, digits):
    """Write non-negative ``value`` in ``base`` (10 or 16, lowercase) at ``out[pos:]``; return the new pos."""
    n = 0
    while True:
        d = value % base
        digits[n] = 48 + d if d < 10 else 87 + d
        value //= base
        n += 1
        if value == 0:
            break
    for j in range(n):
        out[pos + j] = digits[n - 1 - j]
    return pos + n


@njit(cache=True)
def _format_lines(addr, is_write, cycle, dramsim3, out):
    """Write one text line per request into ``out`` (uint8), return the bytes used.

    dramsim3: ``0x<addr hex> READ|WRITE <cycle decimal>``, the text DRAMSim3's trace reader
    parses (``is >> std::hex >> addr >> op >> std::dec >> cycle``); otherwise Ramulator 2's
    LoadStoreTrace form ``LD|ST 0x<addr hex>``. Lowercase hex, no leading zeros.
    """
    digits = np.empty(24, np.uint8)
    read_word = np.array([82, 69, 65, 68], np.uint8)  # READ
    write_word = np.array([87, 82, 73, 84, 69], np.uint8)  # WRITE
    pos = 0
    for i in range(addr.shape[0]):
        if not dramsim3:
            out[pos] = 83 if is_write[i] else 76  # S / L
            out[pos + 1] = 84 if is_write[i] else 68  # T / D
            out[pos + 2] = 32
            pos += 3
        out[pos] = 48  # 0
        out[pos + 1] = 120  # x
        pos += 2
        pos = _write_int(out, pos, addr[i], 16, digits)
        if dramsim3:
            out[pos] = 32
            pos += 1
            word = write_word if is_write[i] else read_word
            for j in range(word.shape[0]):
                out[pos + j] = word[j]
            pos += word.shape[0]
            out[pos] = 32
            pos += 1
            pos = _write_int(out, pos, cycle[i], 10, digits)
        out[pos] = 10
        pos += 1
    return pos


def format_requests(addr: np.ndarray, is_write: np.ndarray, cycle: np.ndarray | None, fmt: str) -> bytes:
    """Text lines ``0xADDR READ|WRITE CYCLE`` (dramsim3) or ``LD|ST 0xADDR`` (ramulator)."""
    n = len(addr)
    if not n:
        return b""
    cyc = np.zeros(n, np.int64) if cycle is None else np.ascontiguousarray(cycle, np.int64)
    out = np.empty(n * 48, np.uint8)
    used = _format_lines(np.ascontiguousarray(addr, np.int64), np.ascontiguousarray(is_write, np.bool_), cyc,
                         fmt == "dramsim3", out)
    return out[:used].tobytes()


def dram_requests(rows: np.ndarray, burst_bytes: int, dram_cycles_per_cycle: float, batch: int = REQUEST_BATCH):
    """Expand DRAM transfers into burst requests: yields (addr, is_write, dram_cycle) arrays.

    A transfer of B bytes at ``dram_addr`` over [t_start, t_end) accelerator cycles becomes
    n = ceil(B / burst) requests at dram_addr + k * burst, request k issued at
    t_start + k * (t_end - t_start) / n, converted to DRAM clock cycles and rounded down.
    """
    n = np.maximum(1, -(-rows["bytes"].astype(np.int64) // burst_bytes))
    first = np.r_[0, np.cumsum(n)]
    total = int(first[-1])
    for g0 in range(0, total, batch):
        g = np.arange(g0, min(total, g0 + batch), dtype=np.int64)
        r = np.searchsorted(first, g, side="right") - 1
        k = g - first[r]
        s = rows["t_start_cycles"][r].astype(np.float64)
        e = rows["t_end_cycles"][r].astype(np.float64)
        t = s + k * (e - s) / n[r]
        cyc = np.floor(t * dram_cycles_per_cycle + 1e-9).astype(np.int64)
        addr = rows["dram_addr"][r].astype(np.int64) + k * burst_bytes
        yield addr, rows["is_write"][r].astype(bool), cyc


def export_dram(trace: Trace, out: str | Path, fmt: str = "dramsim3", layer=None, phases=None, window=None) -> dict:
    """Write the DRAM request stream (one burst per line); returns counts.

    Cycles are DRAM clock cycles (``dram.clock_mhz`` of the resolved config); requests come out in
    time order (the engine's DRAM serves transfers in arrival order, so its rows are time-ordered;
    a row that is not is moved to the latest cycle seen, and counted in ``reordered``).
    """
    if fmt not in DRAM_FORMATS:
        raise UserError(f"--format {fmt}: unknown DRAM trace format (accepted: {', '.join(DRAM_FORMATS)})")
    dram_cfg = trace.config.get("dram") or {}
    if not isinstance(dram_cfg, dict) or "clock_mhz" not in dram_cfg:
        raise UserError(f"{trace.path}: config_yaml dram section lacks burst_bytes / clock_mhz")
    burst = checked(dram_cfg.get("burst_bytes", 64), f"{trace.path}: config_yaml dram.burst_bytes", integer=True)
    clock_mhz = float(checked(dram_cfg["clock_mhz"], f"{trace.path}: config_yaml dram.clock_mhz"))
    ratio = clock_mhz / (trace.clock_ghz * 1000.0)
    counts = {"transfers": 0, "requests": 0, "read_requests": 0, "write_requests": 0, "bytes": 0, "reordered": 0,
              "last_dram_cycle": 0, "burst_bytes": burst, "dram_clock_mhz": clock_mhz, "no_address": 0}
    last = 0
    budget = h5read.dram_budget_bytes(trace, out, burst)  # bounds the output by the run's own DRAM traffic
    with _atomic_text(out, "--dram") as fh:
        for rows in trace.iter_timeline(layer=layer, phases=phases, hw_unit="dram", window=window):
            rows = rows[rows["bytes"] > 0]
            counts["no_address"] += int((rows["dram_addr"] < 0).sum())
            rows = rows[rows["dram_addr"] >= 0]
            rows = rows[np.argsort(rows["t_start_cycles"], kind="stable")]
            counts["transfers"] += len(rows)
            counts["bytes"] += int(rows["bytes"].astype(object).sum())
            h5read.check_dram_bytes(trace, counts["bytes"], budget)
            for addr, w, cyc in dram_requests(rows, burst, ratio, REQUEST_BATCH):
                low = cyc < np.maximum.accumulate(np.r_[last, cyc])[:-1]
                if low.any():
                    counts["reordered"] += int(low.sum())
                    cyc = np.maximum.accumulate(np.r_[last, cyc])[1:]
                last = int(cyc[-1])
                fh.write(format_requests(addr, w, cyc, fmt))
                counts["requests"] += len(addr)
                counts["write_requests"] += int(w.sum())
        counts["read_requests"] = counts["requests"] - counts["write_requests"]
        counts["last_dram_cycle"] = last
    return counts


def dram_summary_line(counts: dict, fmt: str) -> str:
    mib = counts["bytes"] / (1 << 20)
    return (f"{counts['requests']:,} {counts['burst_bytes']}-byte requests ({counts['read_requests']:,} read, "
            f"{counts['write_requests']:,} write; {mib:.1f} MiB in {counts['transfers']:,} transfers) up to "
            f"DRAM cycle {counts['last_dram_cycle']:,} at {counts['dram_clock_mhz']:g} MHz, {fmt} format"
            + (f"; {counts['no_address']} transfers without an address skipped" if counts["no_address"] else "")
            + (f"; {counts['reordered']} requests delayed to keep time order" if counts["reordered"] else ""))

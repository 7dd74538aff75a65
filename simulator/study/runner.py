"""One study point: a pure function of (resolved config, workload trace, simulator version) -> a flat row.

It runs on a Dask worker, so it takes the validated `Config` and `LayerTrace` objects (no file needs to
exist on the worker) and returns plain numbers; a failure comes back as a one-line error, not an
exception, so one bad point never stops a study.
"""

from __future__ import annotations

import time

from models.errors import ConfigError, UserError
from simulator import schema

# Columns every successful point has, in results.csv order; per-memory columns follow them.
RESULT_COLUMNS = (
    ("total_cycles", "simulated_seconds", "energy_total_pj")
    + tuple(f"energy_{c}_pj" for c in schema.ENERGY_COMPONENTS)
    + ("energy_delay_pj_s", "dram_read_bytes", "dram_write_bytes", "dram_bytes", "expected_wrong_bits",
       "capacity_total_kib", "area_total_mm2")
)
MEMORY_COLUMNS = ("technology_{}", "capacity_{}_kib", "area_{}_mm2", "write_voltage_{}_v", "write_pulse_{}_ns",
                  "write_energy_{}_pj_per_bit", "p_write_p2ap_{}", "p_write_ap2p_{}")


def memory_columns(memory_names) -> tuple[str, ...]:
    return tuple(pattern.format(m) for m in memory_names for pattern in MEMORY_COLUMNS)


def hardware_columns(cfg) -> dict:
    """What the config itself says about the memories (known before the run)."""
    row = {"capacity_total_kib": sum(m.capacity_bytes // 1024 for m in cfg.memories.values()),
           "area_total_mm2": float(sum(m.area_mm2 for m in cfg.memories.values()))}
    for name, m in cfg.memories.items():
        row[f"technology_{name}"] = m.technology
        row[f"capacity_{name}_kib"] = m.capacity_bytes // 1024
        row[f"area_{name}_mm2"] = float(m.area_mm2)
        written = cfg.resolved["memories"][name]
        row[f"write_voltage_{name}_v"] = written.get("write_voltage_v", "")
        row[f"write_pulse_{name}_ns"] = written.get("write_pulse_ns", "")
        row[f"write_energy_{name}_pj_per_bit"] = float(m.write_energy_pj) / m.word_bits
        row[f"p_write_p2ap_{name}"] = float(m.p_write_p2ap)
        row[f"p_write_ap2p_{name}"] = float(m.p_write_ap2p)
    return row


def run_point(cfg, trace) -> dict:
    """Simulate one training step of ``trace`` on ``cfg``; returns ``{"row": {...}, "error": None,
    "run_seconds": s, "errors": the ledger rows that can flip a bit (for replays)}`` or ``{"row": None, "error": "one line", "error_kind": "config" | "run" | "crash", ...}``."""
    from simulator.api import run
    from simulator.report import expected_bit_errors

    t0 = time.perf_counter()
    try:
        result = run(cfg, trace, write=False, timeline=False)
    except UserError as exc:  # the config or the run refused: the same again next time, so cached
        return {"row": None, "error": str(exc).splitlines()[0], "run_seconds": time.perf_counter() - t0,
                "error_kind": "config" if isinstance(exc, ConfigError) else "run", "deterministic": True}
    except Exception as exc:  # a simulator bug: reported for this point, the study goes on
        return {"row": None, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                "error_kind": "crash", "run_seconds": time.perf_counter() - t0, "deterministic": False}
    s = result.summary()
    energy = {f"energy_{c}_pj": float(v) for c, v in s["energy_pj"].items()}
    total_pj = float(sum(energy.values()))
    row = {"total_cycles": int(s["total_cycles"]), "simulated_seconds": float(s["simulated_seconds"]),
           "energy_total_pj": total_pj, **energy,
           "energy_delay_pj_s": total_pj * float(s["simulated_seconds"]),
           "dram_read_bytes": int(s["dram_read_bytes"]), "dram_write_bytes": int(s["dram_write_bytes"]),
           "dram_bytes": int(s["dram_read_bytes"] + s["dram_write_bytes"]),
           "expected_wrong_bits": float(expected_bit_errors(result.errors).sum()) if len(result.errors) else 0.0}
    row.update(hardware_columns(cfg))
    from simulator.study.replay import ledger_records

    return {"row": row, "error": None, "run_seconds": time.perf_counter() - t0, "deterministic": True,
            "errors": ledger_records(result)}

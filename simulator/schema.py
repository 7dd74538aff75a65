"""The public names of the contract and the HDF5 field lists built from them.

Precisions, bytes per element, switching directions and tensor classes are defined in `models.names`
(models/ cannot import simulator/) and re-exported here; dataflow names come from `simulator.mapping`.

Everything that writes or reads a run's file takes its enums and fields from here, and a test checks
produced files against it, so names cannot drift.
"""

from __future__ import annotations

import h5py
import numpy as np

from models.names import BYTES_PER_ELEMENT, DIRECTIONS, PERSISTENT_CLASSES, PLACED_CLASSES, PRECISIONS, TENSOR_CLASSES
from simulator.mapping import DATAFLOWS as _DATAFLOW_REGISTRY

SCHEMA_VERSION = "1.1"

PHASES = ("fwd", "bwd_data", "bwd_weight", "wu")
OPS = ("gemm", "batchnorm", "relu", "pool", "add", "softmax", "col2im", "optimizer", "layernorm", "gelu")
# Precedence order: when several causes hold in one cycle, the first wins.
STALLS = ("dram", "bank_conflict", "spm_write", "spm_read", "vector", "fill_drain", "compute", "idle")
# The order stall columns are shown in reports (useful work first).
STALL_REPORT_ORDER = ("compute", "fill_drain", "spm_read", "spm_write", "bank_conflict", "dram", "vector", "idle")
ENERGY_COMPONENTS = ("mac", "spm_read", "spm_write", "leakage", "dram", "vector")
FIXED_HW_UNITS = ("pe_array", "vector", "dma", "dram")
DATAFLOWS = tuple(_DATAFLOW_REGISTRY)  # the built-in entries; the registry itself is mapping.DATAFLOWS
NO_STALL = "none"


def _enum(names: tuple[str, ...]) -> np.dtype:
    return h5py.enum_dtype({name: i for i, name in enumerate(names)}, basetype="i1")


def enum_codes(names: tuple[str, ...]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


PHASE_DT = _enum(PHASES)
OP_DT = _enum(OPS)
CLASS_DT = _enum(TENSOR_CLASSES)
STALL_DT = _enum(STALLS + (NO_STALL,))
NAME_DT = h5py.string_dtype("utf-8")

LAYERS_FIELDS = (
    [("layer", NAME_DT), ("layer_id", "i4"), ("op", OP_DT), ("phase", PHASE_DT), ("macs", "i8"),
     ("total_cycles", "i8")]
    + [(f"{s}_cycles", "i8") for s in STALL_REPORT_ORDER]
    + [("dram_read_bytes", "i8"), ("dram_write_bytes", "i8")]
    + [(f"energy_{c}_pj", "f8") for c in ENERGY_COMPONENTS]
)
TRAFFIC_FIELDS = [("layer_id", "i4"), ("phase", PHASE_DT), ("tensor_class", CLASS_DT), ("memory", NAME_DT),
                  ("read_bytes", "i8"), ("write_bytes", "i8")]
ENERGY_FIELDS = [("layer_id", "i4"), ("phase", PHASE_DT), ("tensor_class", CLASS_DT), ("memory", NAME_DT),
                 ("component", h5py.enum_dtype(enum_codes(ENERGY_COMPONENTS), basetype="i1")), ("energy_pj", "f8")]
# hw_unit is an index into the root attribute `hw_units` (pe_array, vector, dma, dram, then each memory);
# is_write (an extension) is 1 for a DMA or DRAM transfer towards DRAM and for scratchpad writes.
TIMELINE_FIELDS = [("t_start_cycles", "i8"), ("t_end_cycles", "i8"), ("hw_unit", "i1"), ("slot", "i2"),
                   ("layer_id", "i4"), ("phase", PHASE_DT), ("op", OP_DT), ("tensor_class", CLASS_DT),
                   ("bytes", "i8"), ("dram_addr", "i8"), ("stall", STALL_DT), ("is_write", "i1")]
ERRORS_FIELDS = [("layer_id", "i4"), ("tensor_class", CLASS_DT), ("memory", NAME_DT), ("bits_written", "i8"),
                 ("bits_read", "i8"), ("switch_fraction", "f8"), ("mean_residence_ns", "f8"),
                 ("p_write_p2ap", "f8"), ("p_write_ap2p", "f8"), ("p_read_disturb", "f8"), ("p_retention", "f8"),
                 ("p_residual", "f8")]
# Runs where a memory uses per-field write pulses add a `field` column: one row per field of those
# memories, `all` for every other memory's rows (simulator/field_pulses.py).
ERROR_FIELD_NAMES = ("all", "sign", "exponent", "mantissa")
ERROR_FIELD_DT = _enum(ERROR_FIELD_NAMES)
ERRORS_FIELDS_PER_FIELD = ERRORS_FIELDS + [("field", ERROR_FIELD_DT)]

MEMORIES_FIELDS = [("name", NAME_DT), ("technology", NAME_DT), ("capacity_kib", "i8"), ("banks", "i4"),
                   ("word_bits", "i4"), ("area_mm2", "f8"), ("leakage_mw", "f8"), ("read_energy_pj", "f8"),
                   ("write_energy_pj", "f8"), ("read_latency_ns", "f8"), ("write_latency_ns", "f8"),
                   ("write_occupancy_ns", "f8"), ("ecc", NAME_DT), ("power_gating", "?"), ("temperature_k", "f8")]

ROOT_ATTRS = ("schema_version", "simulator_version", "workload", "seed", "config_yaml")

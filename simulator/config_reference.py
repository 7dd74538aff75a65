"""The config reference (docs/config-reference.md), generated from the code so that it cannot drift.

`KEYS` is the declarative table: one `Key` per config key (dotted path, type, unit, default when
omitted, accepted values, meaning). The MTJ and SOT device keys come from the device models' own
range tables (`models.mtj._RANGES`, `models.sot._RANGES`), their defaults from the device files.
tests/test_config_reference.py checks that every key the validation accepts has a row here, that
the numeric ranges stated are refused outside, and that the committed document equals `render()`.
Regenerate: ``python -m simulator.config_reference > docs/config-reference.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.package_data import data_dir

MEM = "memories.<name>"


@dataclass(frozen=True)
class Key:
    path: str
    type: str
    unit: str
    default: str
    accepted: str
    meaning: str
    range: tuple[float, float] | None = None  # numeric bounds the validation enforces (tested)


def _k(path, type_, unit, default, accepted, meaning, range_=None) -> Key:
    return Key(path, type_, unit, default, accepted, meaning, range_)


KEYS: tuple[Key, ...] = (
    _k("base", "string", "", "none", "path, relative to this file", "config whose keys this one overrides"),
    _k("clock_ghz", "number", "GHz", "required", "0.01 to 20", "accelerator clock; simulated time is in its cycles",
       (0.01, 20.0)),
    _k("temperature_k", "number", "K", "300", "200 to 400", "operating temperature of every memory (MRAM barrier "
       "and periphery follow it)", (200, 400)),
    _k("array.rows", "integer", "PEs", "required", "1 to 4096", "PE array rows", (1, 4096)),
    _k("array.cols", "integer", "PEs", "required", "1 to 4096", "PE array columns", (1, 4096)),
    _k("array.dataflow", "string", "", "ws", "ws, os, is", "weight-, output- or input-stationary dataflow"),
    _k("array.precision", "string", "", "bf16", "see simulator/schema.py PRECISIONS", "operand precision of the MACs"),
    _k("vector.lanes", "integer", "lanes", "32", "1 to 65536", "vector unit width (element ops per cycle)",
       (1, 65536)),
    _k("training.batch", "integer", "samples", "32", "1 to 1048576", "batch size of the simulated step",
       (1, 1 << 20)),
    _k("training.optimizer", "string", "", "sgd_momentum", "see workloads/optimizers.py",
       "optimizer of the weight update (sets the optimizer state per weight)"),
    _k("placement.<class>", "string", "", "required", "a memory name or dram",
       "where tensors of a class live: activation, error, weight, weight_gradient, optimizer_state"),
    _k("accumulator", "string or null", "", "none", "null or a memory name",
       "memory holding the fp32 partial sums across K tiles"),
    _k("dram.preset", "string", "", "required", "ddr4, lpddr4, hbm2", "off-chip DRAM whose figures are the defaults"),
    _k("dram.channels", "integer", "channels", "preset", "positive", "DRAM channels"),
    _k("dram.bandwidth_gbps", "number", "GB/s", "preset", "positive", "bandwidth per channel"),
    _k("dram.latency_ns", "number", "ns", "preset", "positive", "access latency"),
    _k("dram.energy_pj_per_bit", "number", "pJ/bit", "preset", "positive", "energy per bit moved"),
    _k("dram.burst_bytes", "integer", "bytes", "preset", "positive power of two", "bytes per burst"),
    _k("dram.clock_mhz", "number", "MHz", "preset", "positive", "DRAM clock (for exported DRAM traces)"),
    _k("energy.node_nm", "number", "nm", "22", "a node the PE model knows", "process node of the MAC and vector units"),
    _k("energy.mac_pj", "number", "pJ", "from node_nm", "0 to 1e6", "energy of one MAC", (0.0, 1e6)),
    _k("energy.vector_op_pj", "number", "pJ", "from node_nm", "0 to 1e6", "energy of one vector element op",
       (0.0, 1e6)),
    _k(f"{MEM}.technology", "string", "", "required", "sram, stt_mram, sot_mram", "memory technology"),
    _k(f"{MEM}.capacity_kib", "integer", "KiB", "required", "1 to 16777216; whole words in every bank",
       "capacity (computed with iso_area_with or organize: auto)", (1, 1 << 24)),
    _k(f"{MEM}.banks", "integer", "banks", "required", "power of two, 1 to 4096", "independent banks", (1, 4096)),
    _k(f"{MEM}.word_bits", "integer", "bits", "required", "power of two, 8 to 4096", "bits per access", (8, 4096)),
    _k(f"{MEM}.node_nm", "number", "nm", "technology", "a node the periphery model knows", "process node"),
    _k(f"{MEM}.cell_area_f2", "number", "F²", "technology", "positive", "bit-cell area"),
    _k(f"{MEM}.nvsim_file", "string", "", "none", "path of an NVSim output", "take the figures from an NVSim run"),
    _k(f"{MEM}.sram_flavor", "string", "", "hp", "hp, lp (sram)", "SRAM periphery flavour"),
    _k(f"{MEM}.periphery_flavor", "string", "", "hp", "hp, lp (MRAM)", "MRAM periphery flavour"),
    _k(f"{MEM}.organize", "string", "", "fixed", "fixed, auto", "auto: capacity, banks and word width chosen for the "
       "write bandwidth the placement needs"),
    _k(f"{MEM}.iso_area_with", "mapping", "", "none", "a memory description",
       "size the capacity to the largest that fits that memory's area"),
    _k(f"{MEM}.write_buffer_words", "integer, auto or list", "words", "0",
       "0 to 1048576; auto or a list of depths with organize: auto", "write buffer that hides write "
       "occupancy (auto: searched with the organisation)", (0, 1 << 20)),
    _k(f"{MEM}.power_gating", "boolean", "", "false", "true, false (true only for a technology that keeps its "
       "data gated: stt_mram, sot_mram)", "gate the periphery in idle gaps longer than wake-up plus break-even"),
    _k(f"{MEM}.ecc", "string", "", "none", "see models/ecc.py CODES", "error-correcting code per word"),
    _k(f"{MEM}.write_verify", "integer", "tries", "1", "1 to 64", "most write attempts with verify", (1, 64)),
    _k(f"{MEM}.endurance_cycles", "number", "writes", "technology", "1 to 1e30", "writes a cell survives",
       (1.0, 1e30)),
    _k(f"{MEM}.write_voltage_v", "number", "V", "0.9 (STT), 0.7 (SOT)", "positive", "write voltage (MRAM)"),
    _k(f"{MEM}.write_pulse_ns", "number", "ns", "10 (STT), 5 (SOT)", "positive", "write pulse width (MRAM)"),
    _k(f"{MEM}.read_voltage_v", "number", "V", "0.1", "positive", "read voltage (MRAM)"),
    _k(f"{MEM}.read_pulse_ns", "number", "ns", "technology", "positive", "read pulse width (MRAM)"),
    _k(f"{MEM}.differential_write", "boolean", "", "false", "true, false", "write only the bits that change (MRAM)"),
    _k(f"{MEM}.wer_method", "string", "", "fokker_planck (STT), closed_form (SOT)", "fokker_planck, closed_form",
       "write-error-rate model (MRAM)"),
    _k(f"{MEM}.wer_target", "number", "", "1e-9", "below 0.5", "write error rate the write point is chosen for (MRAM)"),
    _k(f"{MEM}.mtj", "mapping", "", "configs/devices/mtj_default.yaml", "mtj.* keys below",
       "MTJ device overrides (MRAM)"),
    _k(f"{MEM}.sot", "mapping", "", "configs/devices/sot_default.yaml", "sot.* keys below",
       "SOT write-line overrides (SOT-MRAM)"),
    *(_k(f"{MEM}.{k}", "number", {"ns": "ns", "pj": "pJ", "mw": "mW", "m2": "mm²"}[k.rsplit("_", 1)[1][-2:]],
         "model", "0 to 1e9", f"overrides the model's {k.rsplit('_', 1)[0].replace('_', ' ')}", (0.0, 1e9))
      for k in ("read_latency_ns", "read_occupancy_ns", "write_latency_ns", "write_occupancy_ns", "read_energy_pj",
                "write_energy_pj", "leakage_mw", "area_mm2")),
)


DEVICE_MEANINGS = {
    "delta": "thermal stability factor Δ (barrier over kT)", "ic0_p2ap_ua": "critical switching current, P to AP",
    "ic0_ap2p_ua": "critical switching current, AP to P", "r_p_ohm": "MTJ resistance in the parallel state",
    "tmr": "tunnel magnetoresistance ratio (R_AP = R_P (1 + tmr))", "tau0_ns": "thermal attempt time",
    "alpha": "Gilbert damping", "ms_a_per_m": "free-layer saturation magnetisation",
    "diameter_nm": "free-layer diameter", "thickness_nm": "free-layer thickness",
    "temperature_k": "device temperature (follows the top-level temperature_k)",
    "r_access_ohm": "access transistor on-resistance", "beta": "exponent of the thermal switching-current law",
    "theta_sh": "effective spin Hall angle", "hm_resistivity_uohm_cm": "heavy-metal line resistivity",
    "hm_width_nm": "heavy-metal line width", "hm_thickness_nm": "heavy-metal line thickness",
    "hm_length_nm": "line length between the write contact and its other end",
    "mu0_meff_t": "effective out-of-plane demagnetising field of the free layer",
    "fl_width_nm": "free-layer extent across the line", "fm_resistivity_uohm_cm": "free-layer resistivity",
    "r_write_access_ohm": "write transistor on-resistance",
}
UNITS = {"ua": "µA", "ohm": "Ω", "ns": "ns", "nm": "nm", "k": "K", "m": "A/m", "t": "T", "cm": "µΩ·cm"}


def device_keys() -> tuple[Key, ...]:
    """mtj.* and sot.* keys from the device models' range tables, defaults from the device files."""
    from models import mtj, sot
    from models.yamlio import load_yaml_file

    out = []
    for prefix, module, name in (("mtj", mtj, "mtj_default.yaml"), ("sot", sot, "sot_default.yaml")):
        doc = load_yaml_file(data_dir("configs") / "devices" / name, "device")
        flat = {k: v for sec in doc.values() if isinstance(sec, dict) for k, v in sec.items()} | doc
        for k, spec in module._RANGES.items():
            unit = UNITS.get(k.rsplit("_", 1)[1], "") if "_" in k else ""
            out.append(_k(f"{MEM}.{prefix}.{k}", "number", unit, f"{flat[k]:g}" if k in flat else "device file",
                          spec[-1], DEVICE_MEANINGS.get(k, "")))
    return tuple(out)


def all_keys() -> tuple[Key, ...]:
    return KEYS + device_keys()


def render() -> str:
    lines = ["# Config reference", "",
             "Generated by `python -m simulator.config_reference` from the code (simulator/config_reference.py);",
             "do not edit by hand. A config is a YAML mapping; `--set dotted.key=value` overrides one key.",
             "`<name>` is a memory's name under `memories:`. *default* is what applies when the key is left",
             "out (*required*: it must be given; *model*/*technology*/*preset*: computed from the other keys).", "",
             "| key | type | unit | default | accepted | meaning |", "|---|---|---|---|---|---|"]
    for k in all_keys():
        cells = [f"`{k.path}`", k.type, k.unit, k.default, k.accepted, k.meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")

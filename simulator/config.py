"""YAML config -> frozen dataclasses, validated at load.

Every error is one line naming the file (or the ``--set`` argument), the dotted key, the bad value
and what is accepted, e.g. ``configs/x.yaml: memories.spm_act.banks = 12 (must be a power of two)``.
Memory figures (latency, occupancy, energy, leakage, area) come from `models.technologies` for the
memory's technology and operating point; any figure key given in the YAML overrides the model's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from models.errors import ConfigError, UnknownKeyError, UserError, shown
from models.package_data import data_dir
from models.yamlio import load_yaml_file, parse_yaml
from workloads import optimizers
from simulator import field_pulses, mapping, schema

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = data_dir("configs")  # the clone's configs/ or the installed package data
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"

PLACED_CLASSES = schema.PLACED_CLASSES
FIGURE_KEYS = ("read_latency_ns", "read_occupancy_ns", "write_latency_ns", "write_occupancy_ns",
               "read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2")
ENGINE_KEYS = ("write_buffer_words", "power_gating")
ORGANIZE_MODES = ("fixed", "auto")  # models.technologies.organize.ORGANIZE_MODES
# Reliability keys of every memory (simulator/protection.py, models/ecc.py, models/endurance.py).
PROTECTION_KEYS = ("ecc", "write_verify", "endurance_cycles")
DEFAULT_TEMPERATURE_K = 300.0
MAX_CLOCK_GHZ = 20.0  # issue 13: beyond any CMOS accelerator clock
SWITCH_FRACTION = 0.5  # as simulator.stats: half the written bits change value
OPERATING_POINT_KEYS = ("write_voltage_v", "write_pulse_ns", "read_voltage_v", "wer_target")


def ns_to_cycles(ns: float, clock_ghz: float) -> int:
    """Whole accelerator cycles covering ``ns`` (the one ns -> cycles conversion: ceil)."""
    return max(0, math.ceil(ns * clock_ghz - 1e-9))


@dataclass(frozen=True)
class ArrayConfig:
    rows: int
    cols: int
    dataflow: str
    precision: str


@dataclass(frozen=True)
class VectorConfig:
    lanes: int


@dataclass(frozen=True)
class TrainingConfig:
    batch: int
    optimizer: str


@dataclass(frozen=True)
class MemoryConfig:
    """One scratchpad: geometry, per-access figures (from the circuit model or the YAML) and the
    per-bit error probabilities at its operating point (zero for an error-free technology)."""

    name: str
    technology: str
    capacity_bytes: int
    banks: int
    word_bits: int
    read_latency_ns: float
    read_occupancy_ns: float
    write_latency_ns: float
    write_occupancy_ns: float
    read_energy_pj: float
    write_energy_pj: float
    leakage_mw: float
    area_mm2: float
    write_buffer_words: int = 0
    differential_write: bool = False
    write_energy_pj_per_switched_bit: float = 0.0
    write_energy_pj_fixed: float = 0.0
    p_write_p2ap: float = 0.0
    p_write_ap2p: float = 0.0
    p_read_disturb: float = 0.0
    figures: object = None  # models.figures.ArrayFigures when the model made the figures
    ecc: str = "none"
    write_verify: int = 1
    write_attempts: float = 1.0  # expected write attempts per word write (write-verify)
    endurance_cycles: float = float("inf")
    temperature_k: float = DEFAULT_TEMPERATURE_K
    operating_point: dict = field(default_factory=dict)  # the write/read point the figures are at
    power_gating: bool = False  # idle banks' periphery gated (simulator/power_gating.py)
    wake_latency_ns: float = 0.0  # the technology's wake-up (models/technologies/gating.py)
    wake_energy_pj: float = 0.0
    field_writes: tuple = ()  # simulator.field_pulses.FieldWrite per field with per-field write pulses

    @property
    def code(self):
        from models import ecc

        return ecc.code_for(self.ecc, self.word_bits)

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    def p_retention(self, residence_ns: float) -> float:
        return float(self.figures.p_retention(residence_ns)) if self.figures is not None else 0.0


@dataclass(frozen=True)
class DramConfig:
    preset: str
    channels: int
    bandwidth_gbps: float  # GB/s per channel
    latency_ns: float
    energy_pj_per_bit: float
    burst_bytes: int = 64
    clock_mhz: float = 1600.0


@dataclass(frozen=True)
class EnergyConfig:
    mac_pj: float
    vector_op_pj: float


@dataclass(frozen=True)
class Config:
    clock_ghz: float
    array: ArrayConfig
    vector: VectorConfig
    training: TrainingConfig
    memories: dict[str, MemoryConfig]
    placement: dict[str, str]
    accumulator: str | None
    dram: DramConfig
    energy: EnergyConfig
    source: str = ""
    resolved: dict = field(default_factory=dict)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.resolved, sort_keys=False)


class _Where:
    """Builds error messages: `file: dotted.key = value (accepted ...)`."""

    def __init__(self, source: str, overrides: dict[str, str]):
        self.source = source
        self.overrides = overrides

    def reattribute(self, message: str) -> str:
        """A model's message about this file: name the ``--set`` argument if one set that key."""
        prefix = f"{self.source}: "
        if message.startswith(prefix):
            rest = message[len(prefix):]
            for key in sorted(self.overrides, key=len, reverse=True):
                if rest.startswith(key) or rest.startswith(key.rsplit(".", 1)[0] + ":"):
                    return f"--set {key}: {rest}"
        return message

    def fail(self, key: str, value, accepted: str, error: type[ConfigError] = ConfigError):
        origin = f"--set {key}" if key in self.overrides else self.source
        raise error(f"{origin}: {key} = {shown(repr(value))} ({accepted})")

    def refused(self, exc: UserError) -> ConfigError:
        """A model's refusal of this config, reattributed, as a `ConfigError` (its own subclass kept)."""
        return (type(exc) if isinstance(exc, ConfigError) else ConfigError)(self.reattribute(str(exc)))


def _parse_override(item: str) -> tuple[str, object]:
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. memories.spm_act.banks=32")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. memories.spm_act.banks=32")
    if not text.strip():
        raise UserError(f"--set {item!r}: empty value (give a value, or null to remove the key)")
    try:
        value = parse_yaml(text, f"--set {key}")
    except UserError:
        value = text
    return key, value


def _apply_override(doc: dict, key: str, value) -> None:
    node = doc
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise UnknownKeyError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a section")
        node = nxt
    node[parts[-1]] = value


def _section(doc: dict, key: str, where: _Where, allowed: tuple[str, ...], required: bool = True) -> dict:
    sec = doc.get(key.split(".")[-1])
    if sec is None:
        if required:
            where.fail(key, None, "missing section")
        return {}
    if not isinstance(sec, dict):
        where.fail(key, sec, "must be a mapping")
    for k in sec:
        if k not in allowed:
            where.fail(f"{key}.{k}", sec[k], f"unknown key; accepted: {', '.join(allowed)}",
                       UnknownKeyError)
    return sec


def _num(sec: dict, key: str, path: str, where: _Where, lo: float, hi: float, integer: bool = False,
         default=None):
    """``sec[key]``: a finite number (an int when ``integer``) in [lo, hi]."""
    value = sec.get(key, default)
    name = f"{path}.{key}" if path else key
    if value is None:
        where.fail(name, value, "required")
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        where.fail(name, value, f"must be {'an integer' if integer else 'a finite number'} in [{lo:g}, {hi:g}]")
    if not lo <= value <= hi:
        where.fail(name, value, f"must be in [{lo:g}, {hi:g}]")
    return value


def _choice(sec: dict, key: str, path: str, where: _Where, accepted, default=None):
    value = sec.get(key, default)
    if value not in accepted:
        where.fail(f"{path}.{key}", value, f"accepted: {', '.join(map(str, accepted))}")
    return value


def _organised(model_dict: dict, where_path: str, base_dir, demand_bytes_per_cycle: float, clock_ghz: float,
               target_area_mm2: float | None, where: _Where, buffer_words=None) -> tuple[dict, int]:
    """``organize: auto``: the memory's capacity, banks and word width (and, with ``buffer_words``
    candidates, its write buffer depth) by `models.technologies.organize`."""
    from models import technologies
    from models.technologies.organize import organise

    try:
        spec = technologies.parse(model_dict, where_path, base_dir)
        if spec.nvsim_file is not None:
            raise UserError(f"{where_path}.organize = 'auto' (an NVSim output fixes the organisation; use fixed)")
        choice = organise(spec, demand_bytes_per_cycle, clock_ghz, target_area_mm2, buffer_words)
    except UserError as exc:
        raise where.refused(exc) from None
    chosen = choice.figures
    return dict(model_dict, capacity_kib=chosen.capacity_bytes // 1024, banks=chosen.banks,
                word_bits=chosen.word_bits), choice.buffer_words


def _write_buffer_key(sec: dict, path: str, where: _Where, organize: str):
    """``write_buffer_words``: an integer depth (words), or with ``organize: auto`` the candidates to
    search: ``auto`` or a list of depths."""
    value = sec.get("write_buffer_words", 0)
    if value == "auto" or isinstance(value, list):
        if organize != "auto":
            where.fail(f"{path}.write_buffer_words", value, "a depth is searched only with organize: auto; "
                       "give an integer number of words")
        if isinstance(value, list):
            if not value or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 20 for v in value):
                where.fail(f"{path}.write_buffer_words", value,
                           f"accepted: an integer in [0, {1 << 20}], auto, or a non-empty list of such integers")
            return tuple(sorted(set(value)))
        return value
    return _num(sec, "write_buffer_words", path, where, 0, 1 << 20, integer=True, default=0)


def _write_demand(doc: dict, name: str, array: ArrayConfig, vector: VectorConfig, dram: DramConfig,
                  clock_ghz: float) -> float:
    """Required write bytes per cycle of memory ``name`` (`models.technologies.organize`'s rule)."""
    from models.technologies.organize import required_write_bytes_per_cycle

    pl = doc.get("placement") if isinstance(doc.get("placement"), dict) else {}
    classes = tuple(c for c in PLACED_CLASSES if pl.get(c) == name)
    return required_write_bytes_per_cycle(classes, doc.get("accumulator") == name, array.dataflow, array.rows,
                                          array.cols, schema.BYTES_PER_ELEMENT[array.precision], vector.lanes,
                                          dram.channels * dram.bandwidth_gbps / clock_ghz)


def _memory(name: str, sec, where: _Where, clock_ghz: float, demand_bytes_per_cycle: float = 0.0,
            temperature_k: float = DEFAULT_TEMPERATURE_K, precision: str = "bf16") -> MemoryConfig:
    """One memory: its technology (`models.technologies`) validates its technology keys and
    gives its figures; figure keys in the YAML override the model's; ``iso_area_with`` (a memory
    description) sizes the capacity to the largest that fits that memory's area."""
    from models import technologies
    from models.technologies.search import capacity_for_area

    path = f"memories.{name}"
    if not isinstance(sec, dict):
        where.fail(path, sec, "must be a mapping")
    sec = {k: v for k, v in sec.items() if v is not None}  # null removes a key a base config set
    tech = _choice(sec, "technology", path, where, technologies.names())
    tech_cls = technologies.get(tech)
    allowed = (tech_cls.accepted_keys() + ("iso_area_with", "organize") + ENGINE_KEYS + FIGURE_KEYS
               + PROTECTION_KEYS + (field_pulses.KEY,))
    for k in sec:
        if k not in allowed:
            where.fail(f"{path}.{k}", sec[k], f"unknown key for {tech}; accepted: {', '.join(allowed)}",
                       UnknownKeyError)
    model_dict = {k: v for k, v in sec.items()
                  if k not in FIGURE_KEYS + ENGINE_KEYS + PROTECTION_KEYS + ("iso_area_with", "organize",
                                                                             field_pulses.KEY)}
    organize = _choice(sec, "organize", path, where, ORGANIZE_MODES, "fixed")
    wbuf = _write_buffer_key(sec, path, where, organize)
    if "mtj" in tech_cls.accepted_keys():  # one temperature drives the device (Δ ∝ 1/T) and the periphery
        dev = model_dict.get("mtj") if isinstance(model_dict.get("mtj"), dict) else {}
        if "temperature_k" in dev and dev["temperature_k"] != temperature_k:
            where.fail(f"{path}.mtj.temperature_k", dev["temperature_k"],
                       f"contradicts temperature_k = {temperature_k:g}; set the top-level temperature_k only")
        if "mtj" not in model_dict or isinstance(model_dict["mtj"], dict):
            model_dict["mtj"] = dict(dev, temperature_k=temperature_k)
    base_dir = Path(where.source).parent if where.source else None
    if "iso_area_with" in sec:
        ref = sec["iso_area_with"]
        if "capacity_kib" in sec:
            where.fail(f"{path}.capacity_kib", sec["capacity_kib"], "leave it out with iso_area_with: it is computed")
        if not isinstance(ref, dict):
            where.fail(f"{path}.iso_area_with", ref, "must be a memory description (technology, capacity_kib, ...)")
        target = technologies.from_config(ref, f"{where.source}: {path}.iso_area_with", base_dir).area_mm2
        model_dict["capacity_kib"] = capacity_for_area(model_dict, target, f"{where.source}: {path}")
        sec = dict(sec, capacity_kib=model_dict["capacity_kib"])
    else:
        target = None
    if organize == "auto":
        model_dict, searched = _organised(model_dict, f"{where.source}: {path}", base_dir, demand_bytes_per_cycle,
                                          clock_ghz, target, where, None if isinstance(wbuf, int) else wbuf)
        wbuf = wbuf if isinstance(wbuf, int) else searched
        sec = dict(sec, **{k: model_dict[k] for k in ("capacity_kib", "banks", "word_bits")})
    cap_kib = _num(sec, "capacity_kib", path, where, 1, 1 << 24, integer=True)
    banks = _num(sec, "banks", path, where, 1, 4096, integer=True)
    if banks & (banks - 1):
        where.fail(f"{path}.banks", banks, "must be a power of two")
    word_bits = _num(sec, "word_bits", path, where, 8, 4096, integer=True)
    if word_bits % 8 or word_bits & (word_bits - 1):
        where.fail(f"{path}.word_bits", word_bits, "must be a power of two, at least 8")
    capacity_bytes = cap_kib * 1024
    if capacity_bytes % (banks * word_bits // 8):
        where.fail(f"{path}.capacity_kib", cap_kib, f"must divide into {banks} banks of whole {word_bits}-bit words")
    explicit = {k: _num(sec, k, path, where, 0.0, 1e9) for k in FIGURE_KEYS if k in sec}
    try:
        spec = technologies.parse(model_dict, f"{where.source}: {path}", base_dir)
        figures = spec.figures()
    except UserError as exc:
        raise where.refused(exc) from None
    base = {k: getattr(figures, k) for k in FIGURE_KEYS}
    extra = {k: getattr(figures, k) for k in ("differential_write", "write_energy_pj_per_switched_bit",
                                              "write_energy_pj_fixed", "p_write_p2ap", "p_write_ap2p",
                                              "p_read_disturb")}
    from models.technologies.write_buffer import buffer_figures, with_buffer
    writes = ()
    if field_pulses.KEY in sec:
        base, extra, writes = _field_writes(sec, path, spec, precision, base, extra, word_bits, where)
    from simulator.protection import operating_point, protect

    base, extra = with_buffer(base, extra, buffer_figures(spec.node_nm, word_bits, wbuf, f"{where.source}: {path}"))

    code = _choice(sec, "ecc", path, where, ecc_codes(), "none")
    verify = _num(sec, "write_verify", path, where, 1, 64, integer=True, default=1)
    endurance = (float(_num(sec, "endurance_cycles", path, where, 1.0, 1e30)) if "endurance_cycles" in sec
                 else float(getattr(tech_cls, "ENDURANCE_CYCLES", math.inf)))  # SRAM: unlimited

    # ECC, write-verify and temperature act on the model's figures; figure keys in the YAML are final.
    base, extra, attempts = protect(base, extra, word_bits, code, verify, SWITCH_FRACTION, temperature_k)
    writes = field_pulses.after_verify(writes, verify)
    base.update(explicit)
    for k in ("read_occupancy_ns", "write_occupancy_ns"):
        if base[k] <= 0:
            where.fail(f"{path}.{k}", base[k], "must be > 0")
    gating = _power_gating(sec, path, where, tech_cls, spec, figures, banks, base)
    return MemoryConfig(name=name, technology=tech, capacity_bytes=capacity_bytes, banks=banks,
                        word_bits=word_bits, write_buffer_words=wbuf, figures=figures, ecc=code, write_verify=verify,
                        write_attempts=attempts, endurance_cycles=endurance, temperature_k=temperature_k,
                        operating_point=operating_point(spec, OPERATING_POINT_KEYS), field_writes=writes,
                        **gating, **base, **extra)


def _power_gating(sec: dict, path: str, where: _Where, tech_cls, spec, figures, banks: int, base: dict) -> dict:
    """``power_gating``: refused for a technology that loses its data gated; else the wake-up its
    technology's circuit model gives for the memory as simulated (`models.technologies.gating`)."""
    from models.technologies import names, get
    from models.technologies.gating import peak_power_mw

    gating = sec.get("power_gating", False)
    if not isinstance(gating, bool):
        where.fail(f"{path}.power_gating", gating, "accepted: true, false")
    if not gating:
        return {}
    if not tech_cls.RETAINS_DATA_GATED:
        may = ", ".join(n for n in names() if get(n).RETAINS_DATA_GATED)
        where.fail(f"{path}.power_gating", gating, f"{tech_cls.NAME} is volatile: gating its periphery loses the "
                   f"data; accepted: false (technologies that may be gated: {may})")
    peak = peak_power_mw(banks, base["read_energy_pj"], base["read_occupancy_ns"], base["write_energy_pj"],
                         base["write_occupancy_ns"])
    wake = spec.wake_up(figures, base["area_mm2"], peak)
    return dict(power_gating=True, wake_latency_ns=wake.latency_ns, wake_energy_pj=wake.energy_pj)


def _field_writes(sec: dict, path: str, spec, precision: str, base: dict, extra: dict, word_bits: int,
                  where: _Where):
    """``field_write_pulse_ns`` of an MRAM memory: (figures, extra fields, field writes) (`simulator.field_pulses`)."""
    key, value = f"{path}.{field_pulses.KEY}", sec[field_pulses.KEY]
    if not field_pulses.is_mram(spec):
        where.fail(key, value, f"only for memories with a write pulse (stt_mram, sot_mram), not {spec.technology}")
    if spec.nvsim_file is not None:
        where.fail(key, value, "not with nvsim_file: the NVSim output fixes the write pulse")
    for k in ("write_energy_pj", "write_latency_ns", "write_occupancy_ns"):
        if k in sec:
            where.fail(f"{path}.{k}", sec[k], f"leave it out with {field_pulses.KEY}: the fields' pulses set it")
    pulses = field_pulses.parse(value, path, precision, where.fail)
    try:
        writes, longest = field_pulses.field_writes(spec, pulses, precision)
    except UserError as exc:
        origin = f"--set {key}" if any(k.startswith(key) for k in where.overrides) else where.source
        raise ConfigError(f"{origin}: {key} = {shown(repr(value))} (the device model refuses a field's pulse: "
                        f"{shown(str(exc), 200)})") from None
    base, extra = field_pulses.figures_with_fields(base, extra, writes, longest, word_bits, spec.pulse_ns())
    return base, extra, writes


def ecc_codes() -> tuple[str, ...]:
    from models.ecc import CODES

    return CODES


def _dram(sec: dict, where: _Where) -> DramConfig:
    allowed = ("preset", "channels", "bandwidth_gbps", "latency_ns", "energy_pj_per_bit", "burst_bytes", "clock_mhz")
    sec = _section({"dram": sec}, "dram", where, allowed)
    from models.dram import dram_from_config

    figs = dram_from_config(sec, f"{where.source}: dram")
    return DramConfig(**{f.name: getattr(figs, f.name) for f in fields(DramConfig)})


def _energy(sec: dict, where: _Where, precision: str) -> EnergyConfig:
    from models.pe import mac_energy_pj, vector_op_energy_pj

    from models.pe import NODE_RANGE_NM

    node = _num(sec, "node_nm", "energy", where, *NODE_RANGE_NM, default=22)
    mac = sec.get("mac_pj", None)
    vec = sec.get("vector_op_pj", None)
    return EnergyConfig(
        mac_pj=_num(sec, "mac_pj", "energy", where, 0.0, 1e6) if mac is not None else mac_energy_pj(precision, node),
        vector_op_pj=(_num(sec, "vector_op_pj", "energy", where, 0.0, 1e6) if vec is not None
                      else vector_op_energy_pj(precision, node)))


def read_yaml(path: Path) -> dict:
    doc = load_yaml_file(path, "config")
    if not isinstance(doc, dict):
        raise UserError(f"{path}: a config must be a YAML mapping")
    return doc


def _deep_merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def read_with_base(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """A config file, merged over the file its ``base:`` key names (relative to it), recursively."""
    doc = read_yaml(path)
    if "base" not in doc:
        return doc
    base = doc.pop("base")
    if not isinstance(base, str):
        raise UserError(f"{path}: base = {base!r} (must be the path of another config, relative to this one)")
    base_path = (path.parent / base).resolve()
    if base_path in seen:
        raise UserError(f"{path}: base = {base!r} (configs include each other in a loop)")
    return _deep_merge(read_with_base(base_path, seen + (base_path,)), doc)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                ideal_memory: bool = False) -> Config:
    """Load (with its ``base:`` chain), override (dotted ``key=value``), validate and resolve a config."""
    path = Path(path) if path else DEFAULT_CONFIG
    doc = read_with_base(path, (path.resolve(),))
    parsed = dict(_parse_override(item) for item in overrides)
    for key, value in parsed.items():
        _apply_override(doc, key, value)
    where = _Where(str(path), {k: str(v) for k, v in parsed.items()})
    top = ("clock_ghz", "array", "vector", "training", "memories", "placement", "accumulator", "dram", "energy",
           "temperature_k")
    for k in doc:
        if k not in top:
            where.fail(k, doc[k], f"unknown key; accepted: {', '.join(top)}", UnknownKeyError)
    clock = _num(doc, "clock_ghz", "", where, 0.01, MAX_CLOCK_GHZ)
    arr = _section(doc, "array", where, ("rows", "cols", "dataflow", "precision"))
    array = ArrayConfig(rows=_num(arr, "rows", "array", where, 1, 4096, integer=True),
                        cols=_num(arr, "cols", "array", where, 1, 4096, integer=True),
                        dataflow=_choice(arr, "dataflow", "array", where, tuple(mapping.DATAFLOWS), "ws"),
                        precision=_choice(arr, "precision", "array", where, schema.PRECISIONS, "bf16"))
    vec = _section(doc, "vector", where, ("lanes",), required=False)
    vector = VectorConfig(lanes=_num(vec, "lanes", "vector", where, 1, 65536, integer=True, default=32))
    tr = _section(doc, "training", where, ("batch", "optimizer"))
    training = TrainingConfig(batch=_num(tr, "batch", "training", where, 1, 1 << 20, integer=True, default=32),
                              optimizer=_choice(tr, "optimizer", "training", where, optimizers.names(), "sgd_momentum"))
    mems = doc.get("memories")
    if not isinstance(mems, dict) or not mems:
        where.fail("memories", mems, "must be a mapping of at least one memory name to its settings")
    for name in mems:
        if name in schema.FIXED_HW_UNITS or name == "dram" or not str(name).isidentifier():
            where.fail(f"memories.{name}", name, "a memory name must be an identifier other than pe_array, vector, dma, dram")
    dram = _dram(doc.get("dram") or {}, where)
    temperature = float(_num(doc, "temperature_k", "", where, 200, 400, default=DEFAULT_TEMPERATURE_K))
    memories = {name: _memory(name, sec, where, clock, _write_demand(doc, name, array, vector, dram, clock),
                              temperature, array.precision) for name, sec in mems.items()}
    pl = _section(doc, "placement", where, PLACED_CLASSES)
    targets = tuple(memories) + ("dram",)
    placement = {c: _choice(pl, c, "placement", where, targets) for c in PLACED_CLASSES}
    acc = doc.get("accumulator")
    if acc is not None and (not isinstance(acc, str) or acc not in memories):
        where.fail("accumulator", acc, f"accepted: null, {', '.join(memories)}")
    field_pulses.check_not_accumulator(memories, acc, array.precision, where.fail)
    energy = _energy(_section(doc, "energy", where, ("mac_pj", "vector_op_pj", "node_nm"), required=False), where,
                     array.precision)
    resolved = copy.deepcopy(doc)
    resolved["ideal_memory"] = bool(ideal_memory)
    for name, mem in memories.items():
        resolved["memories"][name].update(capacity_kib=mem.capacity_bytes // 1024, banks=mem.banks,
                                          word_bits=mem.word_bits)
        if "write_buffer_words" in resolved["memories"][name]:
            resolved["memories"][name]["write_buffer_words"] = mem.write_buffer_words
        resolved["memories"][name]["resolved_figures"] = {k: float(getattr(mem, k)) for k in FIGURE_KEYS} | {
            "p_write_p2ap": mem.p_write_p2ap, "p_write_ap2p": mem.p_write_ap2p, "p_read_disturb": mem.p_read_disturb,
            "write_attempts": mem.write_attempts} | mem.operating_point | (
            {"wake_latency_ns": mem.wake_latency_ns, "wake_energy_pj": mem.wake_energy_pj} if mem.power_gating else {})
        if mem.field_writes:
            resolved["memories"][name]["resolved_figures"]["field_write_pulse_ns"] = {
                w.name: w.pulse_ns for w in mem.field_writes}
    resolved["temperature_k"] = temperature
    resolved["dram"] = {f.name: getattr(dram, f.name) for f in fields(DramConfig)}
    resolved["energy"] = {"mac_pj": energy.mac_pj, "vector_op_pj": energy.vector_op_pj}
    return Config(clock_ghz=clock, array=array, vector=vector, training=training, memories=memories,
                  placement=placement, accumulator=acc, dram=dram, energy=energy, source=str(path), resolved=resolved)

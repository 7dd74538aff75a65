"""Run SCALE-Sim 3.0.0 and record its stall-free cycle counts as reference figures.

Needs `scalesim==3.0.0` and `numpy<2.3` in a virtualenv of its own (the project does not depend on
SCALE-Sim; nothing in the project or its tests imports this script):

    python3 -m venv /work/scalesim-venv
    /work/scalesim-venv/bin/pip install scalesim==3.0.0 'numpy<2.3'

Small GEMM and conv cases, all three dataflows, written to a CSV (tests/data/scalesim_cycles.csv):

    /work/scalesim-venv/bin/python benchmarks/scalesim_runner.py cases --out tests/data/scalesim_cycles.csv

One topology file (e.g. ResNet-18), reports kept in --out-dir:

    /work/scalesim-venv/bin/python benchmarks/scalesim_runner.py topology resnet18_imagenet.csv \
        --rows 32 --cols 32 --dataflow ws --sram-kb 512,512,256 --out-dir /tmp/scalesim_r18

SCALE-Sim is driven from Python because its command line ignores `-s` and always writes traces
(gigabytes on a real network); `save_disk_space=True` turns them off. It needs a layout CSV even with
custom layouts off: a header-only file is enough. `InterfaceBandwidth: CALC` gives stall-free runs.
Every row is checked against the closed-form rule (see `rule_total_cycles`); mismatches are printed.
"""

import argparse
import csv
import math
import os
import sys
import tempfile
import time
from pathlib import Path

CONFIG_TEMPLATE = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:  {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB:  {ofmap_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

LAYOUT_HEADER = (
    "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
    "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel Intraline Factor, "
    "Num Filter Intraline Factor,\n"
)
GEMM_HEADER = "Layer, M, N, K,\n"
CONV_HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
    "Strides,\n"
)
CONV_KEYS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filter", "stride")
CSV_COLUMNS = (
    ("case", "form", "M", "N", "K") + CONV_KEYS
    + ("rows", "cols", "dataflow", "total_cycles", "total_cycles_incl_prefetch", "stall_cycles",
       "wall_s")
)
# IFMAP, filter, OFMAP SRAM sizes; they change only "Total Cycles (incl. prefetch)" under CALC.
SRAM_KB = (64, 64, 64)

# (name, form, shape, rows, cols, dataflows); gemm shape = (M, N, K),
# conv shape = (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filter, stride).
CASES = (
    ("g100x70x50_8x16", "gemm", (100, 70, 50), 8, 16, ("ws", "is", "os")),
    ("g100x70x50_16x8", "gemm", (100, 70, 50), 16, 8, ("ws", "is", "os")),
    ("g37x23x19_4x12", "gemm", (37, 23, 19), 4, 12, ("ws", "is", "os")),
    ("g5x3x7_12x20", "gemm", (5, 3, 7), 12, 20, ("ws", "is", "os")),
    ("g64x48x40_32x32", "gemm", (64, 48, 40), 32, 32, ("ws", "is", "os")),
    ("g200x17x33_12x20", "gemm", (200, 17, 33), 12, 20, ("ws", "is", "os")),
    ("g13x29x9_8x8", "gemm", (13, 29, 9), 8, 8, ("ws", "is", "os")),
    ("g1x40x30_16x8", "gemm", (1, 40, 30), 16, 8, ("ws", "is", "os")),
    ("c3x3s1_10x10x3x8_8x16", "conv", (10, 10, 3, 3, 3, 8, 1), 8, 16, ("ws", "is", "os")),
    ("c7x7s2_23x23x3x16_16x8", "conv", (23, 23, 7, 7, 3, 16, 2), 16, 8, ("ws", "is", "os")),
    ("c5x5s1_12x9x4x6_4x12", "conv", (12, 9, 5, 5, 4, 6, 1), 4, 12, ("ws",)),
    ("c1x1s2_15x15x16x32_32x32", "conv", (15, 15, 1, 1, 16, 32, 2), 32, 32, ("is", "os")),
    # (12 - 3) % 2 != 0: SCALE-Sim computes Ho = ceil((H - Fh + S) / S) = 6, not (H - Fh) // S + 1 = 5.
    ("c3x3s2_12x12x2x4_8x8", "conv", (12, 12, 3, 3, 2, 4, 2), 8, 8, ("ws",)),
)


def implied_gemm(form, shape):
    """(M, N, K) of a layer; for conv M = Ho*Wo with Ho = (H - Fh) // S + 1, K = Fh*Fw*C, N = filters."""
    if form == "gemm":
        return shape
    ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filter, stride = shape
    out_h = (ifmap_h - filter_h) // stride + 1
    out_w = (ifmap_w - filter_w) // stride + 1
    return out_h * out_w, num_filter, filter_h * filter_w * channels


def rule_total_cycles(m, n, k, rows, cols, dataflow):
    """SCALE-Sim 3.0.0 "Total Cycles" for a stall-free layer.

    folds = ceil(Sr/R)*ceil(Sc/C); per fold 2R + C + T - 2 (ws: Sr=K, Sc=N, T=M; is: Sr=K, Sc=M,
    T=N) or R + C + T - 2 (os: Sr=M, Sc=N, T=K); SCALE-Sim reports folds*per_fold - 1.
    R = ArrayHeight (rows), C = ArrayWidth (cols).
    """
    if dataflow == "ws":
        s_rows, s_cols, streamed, fill = k, n, m, 2 * rows + cols - 2
    elif dataflow == "is":
        s_rows, s_cols, streamed, fill = k, m, n, 2 * rows + cols - 2
    else:
        s_rows, s_cols, streamed, fill = m, n, k, rows + cols - 2
    folds = math.ceil(s_rows / rows) * math.ceil(s_cols / cols)
    return folds * (fill + streamed) - 1


def run_scalesim(work_dir, run_name, topology_text, rows, cols, dataflow, gemm_input,
                 sram_kb=SRAM_KB):
    """Run SCALE-Sim once in work_dir; return (COMPUTE_REPORT rows as dicts, wall seconds)."""
    from scalesim.scale_sim import scalesim

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path = work_dir / "scale.cfg"
    config_path.write_text(CONFIG_TEMPLATE.format(
        run_name=run_name, rows=rows, cols=cols, dataflow=dataflow,
        ifmap_kb=sram_kb[0], filter_kb=sram_kb[1], ofmap_kb=sram_kb[2]))
    topology_path = work_dir / "topology.csv"
    topology_path.write_text(topology_text)
    layout_path = work_dir / "layout.csv"
    layout_path.write_text(LAYOUT_HEADER)

    start_s = time.perf_counter()
    sim = scalesim(save_disk_space=True, verbose=False, config=str(config_path),
                   topology=str(topology_path), layout=str(layout_path),
                   input_type_gemm=gemm_input)
    sim.run_scale(top_path=str(work_dir / "out"))
    wall_s = time.perf_counter() - start_s

    report_path = work_dir / "out" / run_name / "COMPUTE_REPORT.csv"
    with open(report_path, newline="") as handle:
        rows_out = [
            {key.strip(): value.strip() for key, value in row.items() if key and key.strip()}
            for row in csv.DictReader(handle)
        ]
    return rows_out, wall_s


def topology_line(name, form, shape):
    if form == "gemm":
        return GEMM_HEADER + f"{name},{shape[0]},{shape[1]},{shape[2]},\n"
    return CONV_HEADER + name + "," + ",".join(str(v) for v in shape) + ",\n"


def run_cases(out_path):
    records = []
    deviations = []
    with tempfile.TemporaryDirectory(prefix="scalesim_cases_") as tmp:
        for name, form, shape, rows, cols, dataflows in CASES:
            for dataflow in dataflows:
                case = f"{name}_{dataflow}"
                report, wall_s = run_scalesim(Path(tmp) / case, case, topology_line(name, form, shape),
                                              rows, cols, dataflow, gemm_input=(form == "gemm"))
                layer = report[0]
                m, n, k = implied_gemm(form, shape)
                record = {"case": case, "form": form, "M": m, "N": n, "K": k}
                record.update(zip(CONV_KEYS, shape if form == "conv" else ("",) * len(CONV_KEYS)))
                record.update({
                    "rows": rows, "cols": cols, "dataflow": dataflow,
                    "total_cycles": int(layer["Total Cycles"]),
                    "total_cycles_incl_prefetch": int(layer["Total Cycles (incl. prefetch)"]),
                    "stall_cycles": int(layer["Stall Cycles"]),
                    "wall_s": f"{wall_s:.3f}",
                })
                records.append(record)
                expected = rule_total_cycles(m, n, k, rows, cols, dataflow)
                if expected != record["total_cycles"]:
                    deviations.append((case, record["total_cycles"], expected))
                print(f"{case:34s} total={record['total_cycles']:7d} rule={expected:7d} "
                      f"prefetch={record['total_cycles_incl_prefetch']:7d} "
                      f"stall={record['stall_cycles']} wall={wall_s:.2f}s", flush=True)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    with open(tmp_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    os.replace(tmp_path, out_path)
    report_deviations(deviations, len(records))


def run_topology(topology_file, rows, cols, dataflow, gemm_input, out_dir, sram_kb):
    text = Path(topology_file).read_text()
    run_name = f"{Path(topology_file).stem}_{rows}x{cols}_{dataflow}_calc"
    report, wall_s = run_scalesim(out_dir, run_name, text, rows, cols, dataflow, gemm_input,
                                  sram_kb)
    layer_lines = [line for line in text.splitlines()[1:] if line.strip()]
    deviations = []
    for line, layer in zip(layer_lines, report):
        fields = [field.strip() for field in line.split(",")]
        if gemm_input:
            shape = tuple(int(v) for v in fields[1:4])
        else:
            shape = tuple(int(v) for v in fields[1:8])
        m, n, k = implied_gemm("gemm" if gemm_input else "conv", shape)
        expected = rule_total_cycles(m, n, k, rows, cols, dataflow)
        got = int(layer["Total Cycles"])
        if got != expected:
            deviations.append((fields[0], got, expected))
        print(f"{fields[0]:12s} M={m:6d} N={n:5d} K={k:5d} total={got:8d} rule={expected:8d}")
    print(f"wall_s={wall_s:.1f} layers={len(report)} reports in {Path(out_dir) / 'out' / run_name}")
    report_deviations(deviations, len(report))


def report_deviations(deviations, count):
    if not deviations:
        print(f"all {count} rows match the rule")
        return
    for case, got, expected in deviations:
        print(f"DEVIATION {case}: SCALE-Sim {got}, rule {expected}, diff {got - expected:+d}")
    print(f"{len(deviations)} of {count} rows deviate from the rule")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cases = sub.add_parser("cases", help="run the built-in small cases and write a CSV")
    cases.add_argument("--out", required=True, help="CSV file to write")
    topo = sub.add_parser("topology", help="run one SCALE-Sim topology file")
    topo.add_argument("topology_file")
    topo.add_argument("--rows", type=int, default=32)
    topo.add_argument("--cols", type=int, default=32)
    topo.add_argument("--dataflow", choices=("ws", "is", "os"), default="ws")
    topo.add_argument("--gemm", action="store_true", help="topology is in 'Layer, M, N, K' form")
    topo.add_argument("--out-dir", required=True, help="folder for config and SCALE-Sim reports")
    topo.add_argument("--sram-kb", default="64,64,64",
                      help="IFMAP,FILTER,OFMAP SRAM sizes in kB (default 64,64,64)")
    args = parser.parse_args(argv)
    if args.command == "cases":
        run_cases(args.out)
    else:
        sram_kb = tuple(int(v) for v in args.sram_kb.split(","))
        if len(sram_kb) != 3:
            parser.error(f"--sram-kb = {args.sram_kb} (must be three integers: IFMAP,FILTER,OFMAP)")
        run_topology(args.topology_file, args.rows, args.cols, args.dataflow, args.gemm,
                     args.out_dir, sram_kb)
    return 0


if __name__ == "__main__":
    sys.exit(main())

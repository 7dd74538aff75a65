"""The coarser timeline (`run(timeline="op")`, `workload --coarse-timeline`): one row per op and
stream, equal to folding the per-slice timeline by hand, and the same with and without fast-forward."""

from __future__ import annotations

import h5py
import pytest

from models.errors import UserError
from simulator import run, schema
from simulator.cli import main
from simulator.config import load_config
from tests.test_fast_forward import _same

FWD = ("fwd",)


def _fold_by_hand(fine) -> list[tuple]:
    """Rows grouped by (op, hw_unit, slot, tensor_class, stall, is_write) in order of first slice."""
    groups: dict[tuple, list] = {}
    op_of = {}
    for r in fine.tolist():
        t0, t1, unit, slot, layer, phase, op, tclass, nbytes, addr, stall, w = r
        key = (layer, phase, op, unit, slot, tclass, stall, w)
        op_of.setdefault((layer, phase, op), len(op_of))
        g = groups.get(key)
        if g is None:
            groups[key] = [t0, t1, nbytes, addr]
        else:
            g[0], g[1], g[2], g[3] = min(g[0], t0), max(g[1], t1), g[2] + nbytes, min(g[3], addr)
    out = []
    for (layer, phase, op, unit, slot, tclass, stall, w), (t0, t1, nbytes, addr) in groups.items():
        out.append((t0, t1, unit, slot, layer, phase, op, tclass, nbytes, addr, stall, w))
    return sorted(out, key=lambda r: op_of[(r[4], r[5], r[6])])  # stable: first-slice order within an op


@pytest.mark.parametrize("workload,batch", [("tiny_resnet", 2), ("resnet18", 1)])
def test_op_rows_fold_the_slices(workload, batch):
    cfg = load_config(None, [f"training.batch={batch}"])
    fine = run(cfg, workload, phases=FWD, write=False).timeline
    coarse = run(cfg, workload, phases=FWD, write=False, timeline="op")
    assert coarse.timeline.dtype == fine.dtype
    assert coarse.timeline.tolist() == _fold_by_hand(fine)
    assert coarse.timeline_rows == len(coarse.timeline) <= len(fine)
    if workload == "resnet18":  # its ops have many tiles each
        assert len(coarse.timeline) < len(fine) // 2


def test_op_rows_same_with_and_without_fast_forward(tmp_path):
    cfg = load_config(None, ["training.batch=4"])
    paths = []
    for ff in (False, True):
        paths.append(tmp_path / f"ff{int(ff)}.h5")
        res = run(cfg, "resnet18", phases=("fwd", "bwd_data"), out=paths[-1], timeline="op", fast_forward=ff)
        assert (res.skipped_tiles > 0) == ff
    with h5py.File(paths[0]) as a, h5py.File(paths[1]) as b:
        for name in ("layers", "energy", "traffic", "errors", "timeline", "timeline_index"):
            assert _same(a[name][()], b[name][()]), name


def test_cli_coarse_timeline(tmp_path, capsys):
    out = tmp_path / "coarse.h5"
    assert main(["workload", "tiny_cnn", "--set", "training.batch=2", "--coarse-timeline", "--out", str(out)]) == 0
    fine = run(load_config(None, ["training.batch=2"]), "tiny_cnn", write=False).timeline
    with h5py.File(out) as f:
        assert f["timeline"][()].tolist() == _fold_by_hand(fine)


def test_unknown_timeline_detail_refused():
    with pytest.raises(UserError, match="timeline = 'tile'"):
        run(None, "tiny_cnn", write=False, timeline="tile")


def test_gated_stretches_fold_per_op():
    """Power gating's rows arrive after the run, spanning every op: each op still gets its own rows."""
    cfg = load_config("configs/mram_iso_capacity.yaml", ["training.batch=2", "memories.spm_act.power_gating=true",
                                                         "memories.spm_weight.power_gating=true"])
    fine = run(cfg, "tiny_resnet", phases=FWD, write=False).timeline
    coarse = run(cfg, "tiny_resnet", phases=FWD, write=False, timeline="op").timeline
    codes = {schema.TIMELINE_STALLS.index(s) for s in schema.GATING_STATES}
    gated = [r for r in fine.tolist() if r[10] in codes]
    assert len({(r[4], r[5], r[6]) for r in gated}) > 1  # the check needs gating in several ops
    assert sorted(coarse.tolist()) == sorted(_fold_by_hand(fine))

"""The run file: root attributes, tables with the contract's fields, a chunked compressed timeline."""

from __future__ import annotations

import h5py
import numpy as np
import yaml

from simulator import run, schema
from simulator.config import load_config


def test_hdf5_contents_readable_with_h5py(tmp_path, config_file):
    out = tmp_path / "r.h5"
    res = run(load_config(config_file()), "tiny_resnet", out=out, seed=7)
    assert res.path == out and out.exists()
    assert not list(tmp_path.glob("*.tmp"))
    with h5py.File(out, "r") as f:
        for attr in schema.ROOT_ATTRS:
            assert attr in f.attrs
        assert f.attrs["workload"] == "tiny_resnet" and f.attrs["seed"] == 7
        cfg = yaml.safe_load(f.attrs["config_yaml"])
        assert cfg["array"]["rows"] == 8 and "resolved_figures" in cfg["memories"]["spm_act"]
        for name, fields in (("layers", schema.LAYERS_FIELDS), ("traffic", schema.TRAFFIC_FIELDS),
                             ("energy", schema.ENERGY_FIELDS), ("timeline", schema.TIMELINE_FIELDS),
                             ("errors", schema.ERRORS_FIELDS), ("memories", schema.MEMORIES_FIELDS)):
            assert list(f[name].dtype.names) == [n for n, _ in fields], name
        layers = f["layers"][()]
        assert np.array_equal(layers["total_cycles"], res.layers["total_cycles"])
        assert int(layers["total_cycles"].sum()) == f.attrs["total_cycles"]
        phase_enum = h5py.check_enum_dtype(f["layers"].dtype["phase"])
        assert set(phase_enum) == set(schema.PHASES)
        assert h5py.check_enum_dtype(f["timeline"].dtype["stall"]) is not None
        tl = f["timeline"]
        assert tl.chunks is not None and tl.compression == "gzip"
        rows = tl[()]
        assert (rows["t_end_cycles"] > rows["t_start_cycles"]).all()
        assert rows["t_end_cycles"].max() == f.attrs["total_cycles"]
        units = list(f.attrs["hw_units"])
        dma = rows[rows["hw_unit"] == units.index("dma")]
        assert len(dma) and (dma["dram_addr"] >= 0).all() and (dma["bytes"] > 0).all()
        names = [n.decode() if isinstance(n, bytes) else n for n in layers["layer"]]
        assert "conv1" in names
        traffic = f["traffic"][()]
        dram_rows = traffic[traffic["memory"] == b"dram"]
        assert int(dram_rows["read_bytes"].sum()) == int(layers["dram_read_bytes"].sum())
        energy = f["energy"][()]
        assert np.isclose(energy["energy_pj"].sum(),
                          sum(layers[f"energy_{c}_pj"].sum() for c in schema.ENERGY_COMPONENTS))

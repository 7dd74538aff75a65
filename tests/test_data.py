"""Replay datasets: the bundled digits and a CIFAR-10 folder in its python format (workloads.data)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.errors import UserError
from workloads import data


def write_cifar(root, n_train: int = 12, n_test: int = 6, batches: int = 2, seed: int = 0):
    """A tiny CIFAR-10 folder in the standard python format: data_batch_N, test_batch, batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / data.CIFAR10_FOLDER
    folder.mkdir(parents=True)

    def batch(n):
        return {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                b"labels": [int(v) for v in rng.integers(0, 10, size=n)], b"batch_label": b"tiny"}

    written = {}
    for i in range(1, batches + 1):
        written[f"data_batch_{i}"] = batch(n_train)
    written["test_batch"] = batch(n_test)
    for name, content in written.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(content, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [c.encode() for c in data.CIFAR10_CLASSES]}, fh)
    return folder, written


def test_digits_are_bundled_split_and_normalised():
    ds = data.load_digits()
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.num_classes == 10 and ds.in_channels == 1 and ds.image_size == 8
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3
    assert set(np.unique(ds.y_test)) == set(range(10))
    again = data.load_digits()
    np.testing.assert_array_equal(ds.y_test, again.y_test)  # a fixed split


def test_cifar_folder_in_python_format_loads(tmp_path):
    folder, written = write_cifar(tmp_path)
    for path in (folder, tmp_path):  # the batches folder or the folder holding it
        ds = data.load_dataset(path)
        assert ds.name == "cifar10" and ds.classes == data.CIFAR10_CLASSES
        assert ds.x_train.shape == (24, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
        want_labels = written["data_batch_1"][b"labels"] + written["data_batch_2"][b"labels"]
        np.testing.assert_array_equal(ds.y_train, want_labels)
        np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    # pixel layout: the first 1024 bytes are the red plane, row by row
    raw = written["data_batch_1"][b"data"][0]
    red = raw[:1024].reshape(32, 32).astype(np.float64) / 255
    x = ds.x_train[0, 0].astype(np.float64)
    assert np.corrcoef(red.ravel(), x.ravel())[0, 1] > 0.9999


def test_cifar_errors_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        data.load_cifar10(tmp_path / "missing")
    with pytest.raises(UserError, match="no CIFAR-10 batches"):
        data.load_cifar10(tmp_path)
    folder, _ = write_cifar(tmp_path / "bad")
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="test_batch: not a CIFAR-10 python batch"):
        data.load_cifar10(folder)
    folder, _ = write_cifar(tmp_path / "shape")
    with open(folder / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, fh)
    with pytest.raises(UserError, match="expected N x 3072"):
        data.load_cifar10(folder)


def test_cifar_trains_resized_to_the_models_input(tmp_path):
    from workloads import train

    write_cifar(tmp_path)
    ds = data.load_dataset(tmp_path)
    settings = train.TrainSettings(model="tiny_cnn", input_size=8, epochs=1, batch_size=8)
    model = train.build_model(settings.resolved(), ds)
    assert model.conv1.in_channels == 3 and model.fc.out_features == 10
    # sign and exponent protected: whether an exponent flip at 1e-3 diverges the run is luck of the draw
    run = train.train_run(settings, ds, {("conv1", "activation"): 1e-3}, "injected", protect=("sign", "exponent"))
    assert len(run.epochs) == 1 and run.flips["activation"] > 0


def test_cifar_binary_format_loads(tmp_path):
    """The binary format as distributed: records of one label byte and 3072 pixel bytes."""
    rng = np.random.default_rng(4)
    folder = tmp_path / data.CIFAR10_BIN_FOLDER
    folder.mkdir()
    written = {}
    for name, n in (("data_batch_1.bin", 7), ("data_batch_2.bin", 5), ("test_batch.bin", 4)):
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        np.concatenate([labels[:, None], pixels], axis=1).tofile(folder / name)
        written[name] = (labels, pixels)
    ds = data.load_dataset(tmp_path)
    assert ds.x_train.shape == (12, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(ds.y_train, np.concatenate([written["data_batch_1.bin"][0],
                                                              written["data_batch_2.bin"][0]]))
    green = written["test_batch.bin"][1][2, 1024:2048].reshape(32, 32).astype(np.float64)
    assert np.corrcoef(green.ravel(), ds.x_test[2, 1].ravel())[0, 1] > 0.9999
    (folder / "test_batch.bin").write_bytes(b"\x01" * 100)
    with pytest.raises(UserError, match="100 bytes, not a CIFAR-10 binary batch"):
        data.load_cifar10(folder)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path):
    folder, _ = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, fh)
    with pytest.raises(UserError) as err:
        data.load_cifar10(folder)
    message = str(err.value)
    assert "data_batch_2: not a CIFAR-10 python batch" in message and "refused to load" in message
    assert "system" in message and "\n" not in message
    assert not marker.exists()

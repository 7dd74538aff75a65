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
    run = train.train_run(settings, ds, {("conv1", "activation"): 1e-3}, "injected")
    assert len(run.epochs) == 1 and run.flips["activation"] > 0

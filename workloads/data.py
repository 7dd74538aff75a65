"""Datasets for the training replay, as numpy arrays (no torch here).

- `load_digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, no
  download), split 80/20 into train and test with a fixed permutation, so every run tests on the
  same images.
- `load_cifar10`: a CIFAR-10 folder in its standard python format (``cifar-10-batches-py``: pickled
  ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``, each a dict with ``data``, an N x 3072
  uint8 array of 32x32 RGB images channel by channel, and ``labels``). Pickle runs code from the file:
  only point it at a folder you trust.

Images are N x C x H x W float32, normalised per channel with the training set's mean and standard
deviation; labels are int64. Resizing to a model's input is done by the trainer.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import UserError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FOLDER = "cifar-10-batches-py"
_SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _normalised(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                classes: tuple[str, ...]) -> Dataset:
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return Dataset(name, ((x_train - mean) / std).astype(np.float32), y_train.astype(np.int64),
                   ((x_test - mean) / std).astype(np.float32), y_test.astype(np.int64), classes)


def load_digits(test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's handwritten digits, 1 x 8 x 8, split by a fixed permutation."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return _normalised("digits", x[train], y[train], x[test], y[test], tuple(str(d) for d in range(10)))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except OSError as exc:
        raise UserError(f"{path}: cannot read CIFAR-10 batch ({exc.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise UserError(f"{path}: not a CIFAR-10 python batch (expected a dict with data and labels)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise UserError(f"{path}: CIFAR-10 batch without data or labels")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise UserError(f"{path}: data has shape {data.shape} with {labels.shape[0]} labels "
                        "(expected N x 3072 and N labels)")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise UserError(f"{path}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


def load_cifar10(path: str | Path) -> Dataset:
    """CIFAR-10 from ``path``, the ``cifar-10-batches-py`` folder or a folder that contains it."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--data {path}: no such folder (expected CIFAR-10's {CIFAR10_FOLDER} folder)")
    if (root / CIFAR10_FOLDER).is_dir():
        root = root / CIFAR10_FOLDER
    train_files = sorted(root.glob("data_batch_[1-5]"))
    if not train_files or not (root / "test_batch").is_file():
        raise UserError(f"--data {path}: no CIFAR-10 batches (needs data_batch_1 ... data_batch_5 and test_batch)")
    parts = [_read_batch(f) for f in train_files]
    x_test, y_test = _read_batch(root / "test_batch")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return _normalised("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES)


def load_dataset(path: str | Path | None) -> Dataset:
    """The digits without a path, else the CIFAR-10 folder at ``path``."""
    return load_digits() if path is None else load_cifar10(path)

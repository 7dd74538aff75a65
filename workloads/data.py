"""Datasets for the training replay, as numpy arrays (no torch here).

- `load_digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, no
  download), split 80/20 into train and test with a fixed permutation, so every run tests on the
  same images. `digits_folds` gives stratified k-fold cross-validation instead (scikit-learn's
  StratifiedKFold, shuffled by the seed): the K folds' test sets cover all 1,797 images once.
- `load_cifar10`: a CIFAR-10 folder in its binary format (``cifar-10-batches-bin``:
  ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``, records of one label byte
  and 3,072 pixel bytes) or its python format (``cifar-10-batches-py``: pickled dicts with ``data``,
  an N x 3072 uint8 array, and ``labels``). The pickles are read by an unpickler that admits only
  numpy's array reconstruction (arrays, dtypes) besides plain dicts, lists and bytes: a file that
  names any other global is refused before anything in it runs.

Pixels are 32x32 RGB channel by channel. Images are N x C x H x W float32, normalised per channel
with the training set's mean and standard deviation; labels are int64. Resizing to a model's input
is done by the trainer.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import UserError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_BIN_FOLDER = "cifar-10-batches-bin"
_CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
# the globals a CIFAR-10 python batch needs: numpy's array reconstruction (module renamed in numpy 2)
_PICKLE_GLOBALS = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                             ("numpy", "ndarray"), ("numpy", "dtype")})
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


def digits_folds(folds: int, seed: int) -> list[Dataset]:
    """The digits as ``folds`` stratified train/test splits whose test sets partition all images."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise UserError(f"--folds {folds} (k-fold cross-validation needs at least 2)")
    bunch = sk_load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    classes = tuple(str(d) for d in range(10))
    return [_normalised(f"digits fold {k + 1}/{folds}", x[tr], y[tr], x[te], y[te], classes)
            for k, (tr, te) in enumerate(splitter.split(x, y))]


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module[:40]}.{name[:40]}: a CIFAR-10 batch holds only "
                                     "numpy arrays, lists, dicts and bytes")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            batch = _BatchUnpickler(fh, encoding="bytes").load()
    except OSError as exc:
        raise UserError(f"{path}: cannot read CIFAR-10 batch ({exc.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
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


def _read_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise UserError(f"{path}: cannot read CIFAR-10 batch ({exc.strerror})") from None
    if raw.size == 0 or raw.size % _CIFAR_RECORD_BYTES:
        raise UserError(f"{path}: {raw.size} bytes, not a CIFAR-10 binary batch "
                        f"(records of {_CIFAR_RECORD_BYTES} bytes: a label and 32x32x3 pixels)")
    records = raw.reshape(-1, _CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise UserError(f"{path}: labels outside 0..9 (not a CIFAR-10 binary batch)")
    return records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0, labels


def load_cifar10(path: str | Path) -> Dataset:
    """CIFAR-10 from ``path``: a folder of its binary or python batches, or a folder that contains one."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"--data {path}: no such folder (expected CIFAR-10's {CIFAR10_BIN_FOLDER} "
                        f"or {CIFAR10_FOLDER} folder)")
    for sub in (CIFAR10_BIN_FOLDER, CIFAR10_FOLDER):
        if (root / sub).is_dir():
            root = root / sub
            break
    if sorted(root.glob("data_batch_[1-5].bin")):
        train_files, test_file, read = sorted(root.glob("data_batch_[1-5].bin")), root / "test_batch.bin", _read_binary
    else:
        train_files, test_file, read = sorted(root.glob("data_batch_[1-5]")), root / "test_batch", _read_batch
    if not train_files or not test_file.is_file():
        raise UserError(f"--data {path}: no CIFAR-10 batches (needs data_batch_1 ... data_batch_5 and test_batch, "
                        "with .bin in the binary format)")
    parts = [read(f) for f in train_files]
    x_test, y_test = read(test_file)
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return _normalised("cifar10", x_train, y_train, x_test, y_test, CIFAR10_CLASSES)


def load_dataset(path: str | Path | None) -> Dataset:
    """The digits without a path, else the CIFAR-10 folder at ``path``."""
    return load_digits() if path is None else load_cifar10(path)


def load_splits(path: str | Path | None, folds: int, seed: int) -> list[Dataset]:
    """The train/test splits one seed trains on: the digits' ``folds`` cross-validation folds (the
    fixed 80/20 split for 1), or CIFAR-10's own training and test sets."""
    if path is not None:
        if folds != 1:
            raise UserError(f"--folds {folds}: CIFAR-10 is evaluated on its own 10,000 test images (use --folds 1)")
        return [load_cifar10(path)]
    return [load_digits()] if folds == 1 else digits_folds(folds, seed)

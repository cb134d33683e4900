"""Multi-MNIST (Sabour et al. 2017, as modified by Sener & Koltun 2018) for the BU-TD family.

Two digits on a 36×36 canvas, one at the top-left (rows/cols 0–27) and one at the bottom-right
(rows/cols 8–35), overlaid by pixel-wise maximum and resized (bilinear) to 28×28. Task 0 =
"left" (the top-left digit's class), task 1 = "right". Pairs are drawn by a seeded NumPy
generator, so a split is the same array on every machine.

* ``multi_mnist5k`` — over the offline ``mnist5k`` digits (3,600 / 400 / 1,000); each split pairs
  its own digits only (``pairs_per_digit`` pairs per source digit, default 2).
* ``multi_mnist`` — over tensorflow-datasets MNIST like Kurin et al. (2022): train from the first
  50,000 train images, validation from the last 10,000, test from the official test set; one
  pair per source digit.

Loaders yield ``((image, task), label)``. In the ``train`` split the task of each example is
drawn at random every epoch (the paper samples one task per training instance, appendix B);
in ``validation``/``test`` every pair appears once per task, so accuracies are over both tasks.
:func:`load_pairs` gives the arrays with both labels, for per-task evaluation.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.typing import Dataset

TASKS = ("left", "right")
CANVAS = 36
SEEDS = {"train": 0, "validation": 1, "test": 2}
PREPROCESSING = {"source": "mnist5k", "canvas": 36, "offsets": {"left": [0, 0], "right": [8, 8]}, "overlay": "max",
                 "resize": "bilinear 36→28", "range": [0.0, 1.0], "shape": [28, 28, 1], "tasks": list(TASKS),
                 "inputs": "(image float32 (28, 28, 1), task int32)"}
TFDS_PREPROCESSING = {**PREPROCESSING, "source": "tfds:mnist (train: first 50k, validation: last 10k, test: test)"}


def make_multi_mnist(images: np.ndarray, labels: np.ndarray, n: int, seed: int,
                     size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Multi-MNIST pairs from ``images`` (N, 28, 28[, 1]) in [0, 1]; deterministic in ``seed``.

    Returns (images float32 (n, size, size, 1), labels int32 (n, 2) as [left, right])."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype="float32").reshape(len(images), 28, 28)
    left = rng.integers(0, len(images), size=n)
    right = rng.integers(0, len(images), size=n)
    canvas = np.zeros((n, CANVAS, CANVAS), dtype="float32")
    canvas[:, :28, :28] = images[left]
    canvas[:, 8:, 8:] = np.maximum(canvas[:, 8:, 8:], images[right])
    out = tf.image.resize(canvas[..., None], (size, size), method="bilinear").numpy()
    return np.clip(out, 0.0, 1.0).astype("float32"), np.stack([labels[left], labels[right]], axis=1).astype("int32")


@lru_cache(maxsize=8)
def _mnist5k_pairs(split: str, smoke: bool, pairs_per_digit: int) -> tuple[np.ndarray, np.ndarray]:
    from topdown_zoo.data.mnist5k import load_arrays

    x, y = load_arrays(split, smoke=smoke)
    return make_multi_mnist(x, y, pairs_per_digit * len(x), seed=SEEDS[split])


@lru_cache(maxsize=4)
def _tfds_pairs(split: str, smoke: bool, data_dir: str | Path | None = None,
                download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    from topdown_zoo.data.tfds_benchmarks import _load

    tfds_split = {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"}[split]
    ds = _load("mnist", tfds_split, data_dir=data_dir, download=download)
    if smoke:
        ds = ds.take(32)
    xs, ys = [], []
    for ex in ds.as_numpy_iterator():
        xs.append(ex["image"])
        ys.append(ex["label"])
    x = np.stack(xs).astype("float32") / 255.0
    return make_multi_mnist(x, np.asarray(ys), len(x), seed=SEEDS[split])


def load_pairs(split: str, smoke: bool = False, source: str = "mnist5k", pairs_per_digit: int = 2,
               **tfds_kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28, 1), labels (N, 2)) of a Multi-MNIST split."""
    from topdown_zoo.errors import DatasetError

    if split not in SEEDS:
        raise DatasetError(f"multi-MNIST has no split {split!r}; allowed: {', '.join(SEEDS)}")
    if source == "mnist5k":
        return _mnist5k_pairs(split, smoke, int(pairs_per_digit))
    if source == "tfds":
        return _tfds_pairs(split, smoke, **tfds_kw)
    raise DatasetError(f"unknown multi-MNIST source {source!r}; allowed: mnist5k, tfds")


def as_task_dataset(images: np.ndarray, labels: np.ndarray, split: str, seed: int = 0) -> Dataset:
    """``((image, task), label)`` examples: a random task per example every epoch for ``train``;
    every (pair, task) once otherwise."""
    import tensorflow as tf

    num_tasks = labels.shape[1]
    if split == "train":
        base = tf.data.Dataset.from_tensor_slices((images, labels))
        rand = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        return tf.data.Dataset.zip((base, rand)).map(
            lambda xy, r: ((xy[0], tf.cast(r % num_tasks, tf.int32)), tf.gather(xy[1], tf.cast(r % num_tasks, tf.int32))))
    n = len(images)
    idx = np.repeat(np.arange(n), num_tasks)
    task = np.tile(np.arange(num_tasks, dtype="int32"), n)
    return tf.data.Dataset.from_tensor_slices(((images[idx], task), labels[idx, task]))


def load_mnist5k(split: str, smoke: bool = False, pairs_per_digit: int = 2, **_: Any) -> Dataset:
    x, y = load_pairs(split, smoke=smoke, source="mnist5k", pairs_per_digit=pairs_per_digit)
    return as_task_dataset(x, y, split)


def load_tfds(split: str, smoke: bool = False, data_dir: str | Path | None = None, download: bool = True,
              **_: Any) -> Dataset:
    x, y = load_pairs(split, smoke=smoke, source="tfds", data_dir=data_dir, download=download)
    return as_task_dataset(x, y, split)


DATASETS = {"multi_mnist5k": load_mnist5k, "multi_mnist": load_tfds}

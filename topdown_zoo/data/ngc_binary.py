"""Binarised digit/clothing datasets of the GNCN paper (Ororbia & Kifer, section 4.1).

Pixels are divided by 255 and thresholded at 0.5 (deterministic binarisation), then flattened to
784-vectors. ``mnist5k_binary`` is offline (the package's 5,000 MNIST digits, same split as
``mnist5k``); the TFDS loaders (``binarized_mnist``, ``binarized_fashion_mnist``,
``binarized_kmnist``) use the standard test split and hold the last 2,000 training images out as
the validation set (the paper's protocol). ``smoke=True`` keeps 64 examples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import ArrayLike, Dataset, Tensor

PREPROCESSING = {"scale": "x / 255", "binarize": "x > 0.5 -> 1.0 else 0.0", "layout": "flat", "shape": [784],
                 "range": [0.0, 1.0]}
VALIDATION_SIZE = 2000
SMOKE = 64


def binarize(images: ArrayLike) -> np.ndarray:
    """[0, 1] floats (any shape (N, ...)) -> {0, 1} float32 vectors (N, D), threshold 0.5."""
    images = np.asarray(images, dtype="float32")
    return (images.reshape(len(images), -1) > 0.5).astype("float32")


def load_mnist5k_binary_arrays(split: str, smoke: bool = False) -> tuple[np.ndarray, np.ndarray]:
    from topdown_zoo.data.mnist5k import load_arrays

    x, y = load_arrays(split, smoke)
    return binarize(x), y


def load_mnist5k_binary(split: str, smoke: bool = False) -> Dataset:
    import tensorflow as tf

    x, y = load_mnist5k_binary_arrays(split, smoke)
    return tf.data.Dataset.from_tensor_slices((x, y))


def tfds_split_for(split: str) -> str:
    """The TFDS split string: the last 2,000 training images are the validation set."""
    return {"train": f"train[:-{VALIDATION_SIZE}]", "validation": f"train[-{VALIDATION_SIZE}:]", "test": "test"}[split]


def _tfds_binary(name: str, split: str, smoke: bool = False, data_dir: str | Path | None = None,
                 download: bool = True) -> Dataset:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if split not in ("train", "validation", "test"):
        raise DatasetError(f"{name} has no split {split!r}; allowed: train, validation, test")
    tfds_split = tfds_split_for(split)
    try:
        ds = tfds.load(name, split=tfds_split, shuffle_files=False, data_dir=data_dir, download=download,
                       as_supervised=True)
    except Exception as err:
        raise DatasetError(f"could not load tensorflow-datasets {name!r} ({tfds_split}): {err}. Build it once with "
                           f"network (tfds build {name}) and pass data_dir=, or use mnist5k_binary.") from err

    def prep(image: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
        x = tf.cast(tf.reshape(image, (-1,)), tf.float32) / 255.0
        return tf.cast(x > 0.5, tf.float32), tf.cast(label, tf.int32)

    ds = ds.map(prep)
    return ds.take(SMOKE) if smoke else ds


def binarized_mnist(split: str, smoke: bool = False, **options: Any) -> Dataset:
    return _tfds_binary("mnist", split, smoke, **options)


def binarized_fashion_mnist(split: str, smoke: bool = False, **options: Any) -> Dataset:
    return _tfds_binary("fashion_mnist", split, smoke, **options)


def binarized_kmnist(split: str, smoke: bool = False, **options: Any) -> Dataset:
    return _tfds_binary("kmnist", split, smoke, **options)


DATASETS = {"mnist5k_binary": load_mnist5k_binary, "binarized_mnist": binarized_mnist,
            "binarized_fashion_mnist": binarized_fashion_mnist, "binarized_kmnist": binarized_kmnist}

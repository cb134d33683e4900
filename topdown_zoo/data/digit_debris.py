"""Digit debris (Spoerer, McClure & Kriegeskorte 2017): digits occluded by debris made of random
crops of other digits, at several debris levels.

For each target digit, ``fragments`` square crops (``fragment_size`` = 6 px, taken from the
central 20×20 of randomly drawn digits of the same split) are pasted at random positions of a
debris layer; where the debris has ink (> 0.1) it **replaces** the target's pixels (an occluder,
not a transparent overlay). Debris level = number of fragments; the default levels are
``(0, 5, 10, 20, 40)``. Everything is fixed by ``seed`` (default 0), the split and the level.

* ``digit_debris_mnist5k``: over the offline ``mnist5k`` digits (3,600 / 400 / 1,000).
* ``digit_debris_mnist``: over tensorflow-datasets MNIST (train 55,000 / validation the last
  5,000 train digits / official 10,000 test).

Options: ``levels`` (tuple of fragment counts), ``level`` (one count: every example at that
level), ``seed``. Without ``level`` the *train* split gives each example a level drawn
uniformly from ``levels`` and the *validation/test* splits hold every digit once per level
(levels concatenated in order), so a plain accuracy over the test split averages the levels.
Pixels float32 in [0, 1], shape (28, 28, 1).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import Dataset

LEVELS = (0, 5, 10, 20, 40)
FRAGMENT_SIZE = 6
INK = 0.1
_SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
PREPROCESSING = {"source": "mnist5k + digit debris (Spoerer et al. 2017)", "scale": "x / 255", "range": [0.0, 1.0],
                 "layout": "NHWC", "shape": [28, 28, 1], "debris_levels_fragments": list(LEVELS),
                 "fragment_size": FRAGMENT_SIZE, "occlusion": "debris ink (> 0.1) replaces the target's pixels"}


def add_debris(images: np.ndarray, sources: np.ndarray, fragments: int | np.ndarray, rng: np.random.Generator,
               fragment_size: int = FRAGMENT_SIZE) -> np.ndarray:
    """Occlude ``images`` (N, H, W, 1) in [0, 1] with debris cut from ``sources`` (M, H, W, 1).

    ``fragments``: an int or one count per image. Returns a new array; pixels where the debris has
    ink take the debris' value, the others keep the target's.
    """
    images = np.asarray(images, dtype="float32")
    n, height, width = images.shape[:3]
    counts = np.broadcast_to(np.asarray(fragments, dtype=int), (n,))
    f = int(fragment_size)
    margin = max(0, min(4, (height - f) // 2))
    out = images.copy()
    for i in range(n):
        k = int(counts[i])
        if k == 0:
            continue
        src = rng.integers(len(sources), size=k)
        oy = rng.integers(margin, height - margin - f + 1, size=k)
        ox = rng.integers(margin, width - margin - f + 1, size=k)
        py = rng.integers(0, height - f + 1, size=k)
        px = rng.integers(0, width - f + 1, size=k)
        debris = np.zeros((height, width, images.shape[3]), dtype="float32")
        for j in range(k):
            patch = sources[src[j], oy[j]:oy[j] + f, ox[j]:ox[j] + f]
            region = debris[py[j]:py[j] + f, px[j]:px[j] + f]
            np.maximum(region, patch, out=region)
        out[i] = np.where(debris > INK, debris, out[i])
    return out


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(int(v) for v in levels)
    if not levels or any(v < 0 for v in levels):
        raise DatasetError(f"debris levels must be non-negative fragment counts, got {levels!r}")
    return levels


def make_split(images: np.ndarray, labels: np.ndarray, split: str, *, levels: Sequence[int] = LEVELS,
               level: int | None = None, seed: int = 0,
               sources: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, debris_level_per_example) of one split, deterministic in (seed, split, level)."""
    if split not in _SPLIT_IDS:
        raise DatasetError(f"digit debris has no split {split!r}; allowed: {', '.join(_SPLIT_IDS)}")
    levels = _check_levels(levels)
    sources = images if sources is None else sources
    if level is not None:
        level = int(level)
        rng = np.random.default_rng([seed, _SPLIT_IDS[split], level])
        return add_debris(images, sources, level, rng), labels, np.full(len(labels), level)
    if split == "train":
        rng = np.random.default_rng([seed, 0, 1_000_003])
        counts = rng.choice(levels, size=len(labels))
        return add_debris(images, sources, counts, rng), labels, counts
    xs, ys, ls = [], [], []
    for lv in levels:
        x, y, l = make_split(images, labels, split, levels=levels, level=lv, seed=seed, sources=sources)
        xs.append(x)
        ys.append(y)
        ls.append(l)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ls)


@lru_cache(maxsize=16)
def _mnist5k_arrays(split: str, smoke: bool, levels: tuple[int, ...], level: int | None,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from topdown_zoo.data.mnist5k import load_arrays

    images, labels = load_arrays(split, smoke=smoke)
    return make_split(images, labels, split, levels=levels, level=level, seed=seed)


def load_arrays(split: str, smoke: bool = False, levels: Sequence[int] = LEVELS, level: int | None = None,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, levels) NumPy arrays of ``digit_debris_mnist5k``."""
    return _mnist5k_arrays(split, bool(smoke), _check_levels(levels), None if level is None else int(level), int(seed))


def load_mnist5k(split: str, smoke: bool = False, levels: Sequence[int] = LEVELS, level: int | None = None,
                 seed: int = 0) -> Dataset:
    import tensorflow as tf

    x, y, _ = load_arrays(split, smoke, levels, level, seed)
    return tf.data.Dataset.from_tensor_slices((x, y))


@lru_cache(maxsize=4)
def _tfds_mnist(split: str, data_dir: str | Path | None = None,
                download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    source = {"train": "train[:55000]", "validation": "train[55000:]", "test": "test"}[split]
    try:
        ds = tfds.load("mnist", split=source, as_supervised=True, data_dir=data_dir, download=download,
                       shuffle_files=False)
    except Exception as err:  # missing data / offline
        raise DatasetError(f"could not load tensorflow-datasets 'mnist' ({source}): {err}. "
                           "Use digit_debris_mnist5k offline.") from err
    xs, ys = [], []
    for x, y in tfds.as_numpy(ds.batch(4096)):
        xs.append(x)
        ys.append(y)
    return (np.concatenate(xs).astype("float32") / 255.0).reshape(-1, 28, 28, 1), np.concatenate(ys).astype("int32")


def load_tfds_mnist(split: str, smoke: bool = False, levels: Sequence[int] = LEVELS, level: int | None = None,
                    seed: int = 0, data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    import tensorflow as tf

    if split not in _SPLIT_IDS:
        raise DatasetError(f"digit debris has no split {split!r}; allowed: {', '.join(_SPLIT_IDS)}")
    images, labels = _tfds_mnist(split, data_dir, download)
    if smoke:
        images, labels = images[:32], labels[:32]
    x, y, _ = make_split(images, labels, split, levels=levels, level=level, seed=seed)
    return tf.data.Dataset.from_tensor_slices((x, y))


DATASETS = {"digit_debris_mnist5k": load_mnist5k, "digit_debris_mnist": load_tfds_mnist}

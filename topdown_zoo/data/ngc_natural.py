"""``natural32``: 32×32 RGB patches cut from the photographs that ship with scikit-image.

Offline stand-in for the Conv-NGC paper's natural-image benchmarks. In-distribution images:
astronaut, chelsea, rocket, hubble_deep_field, retina. Each image is cut
into vertical bands: the left 70 % gives training patches, the next 10 % validation, the last
20 % test, so no test pixel is ever seen in training. Held out for the out-of-distribution test
(``load_ood_arrays``, dataset ``natural32_ood``): coffee and immunohistochemistry, never used
in training. Patches are drawn at seeded random positions; pixels float32 in [0, 1], (32, 32, 3).
Labels are the index of the source image (unused by the models).
"""
from __future__ import annotations

from functools import cache
from typing import Sequence

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import Dataset

TRAIN_IMAGES = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "retina")
OOD_IMAGES = ("coffee", "immunohistochemistry")
BANDS = {"train": (0.0, 0.7), "validation": (0.7, 0.8), "test": (0.8, 1.0)}
COUNTS = {"train": 3000, "validation": 300, "test": 600, "ood": 600}
SMOKE = 32
PATCH = 32
PREPROCESSING = {"source": "scikit-image sample photographs", "scale": "x / 255", "range": [0.0, 1.0],
                 "layout": "NHWC", "shape": [32, 32, 3]}


@cache
def _image(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[..., :3].astype("float32") / 255.0


def _patches(names: Sequence[str], band: tuple[float, float], count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    per = int(np.ceil(count / len(names)))
    for label, name in enumerate(names):
        img = _image(name)
        h, w = img.shape[:2]
        lo, hi = int(band[0] * w), int(band[1] * w)
        if hi - lo < PATCH:
            raise DatasetError(f"image {name} band {band} is narrower than {PATCH} pixels")
        rows = rng.integers(0, h - PATCH + 1, size=per)
        cols = rng.integers(lo, hi - PATCH + 1, size=per)
        xs.extend(img[r:r + PATCH, c:c + PATCH] for r, c in zip(rows, cols))
        ys.extend([label] * per)
    x, y = np.stack(xs)[:count], np.asarray(ys, dtype="int32")[:count]
    return x.astype("float32"), y


@cache
def load_arrays(split: str, smoke: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(patches (N, 32, 32, 3) in [0, 1], source-image index (N,)) of ``split``."""
    if split not in BANDS:
        raise DatasetError(f"natural32 has no split {split!r}; allowed: {', '.join(BANDS)}")
    seed = {"train": 0, "validation": 1, "test": 2}[split]
    return _patches(TRAIN_IMAGES, BANDS[split], SMOKE if smoke else COUNTS[split], seed)


@cache
def load_ood_arrays(smoke: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Patches of the held-out photographs (whole images), for out-of-distribution reconstruction."""
    return _patches(OOD_IMAGES, (0.0, 1.0), SMOKE if smoke else COUNTS["ood"], 3)


def load(split: str, smoke: bool = False) -> Dataset:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(load_arrays(split, smoke))


def load_ood(split: str = "test", smoke: bool = False) -> Dataset:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(load_ood_arrays(smoke))


DATASETS = {"natural32": load, "natural32_ood": load_ood}

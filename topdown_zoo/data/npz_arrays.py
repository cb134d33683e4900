"""``npz``: your own labelled arrays, for fine-tuning a zoo model with a recipe.

A recipe names the file in ``data.options.path``::

    data: {dataset: npz, options: {path: my_data.npz}}

The ``.npz`` file holds ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optionally
``x_val``, ``y_val`` (without them the last 10 % of a seeded permutation of the training arrays
is held out for validation). ``x_*`` must already be preprocessed the way the model expects
(``topdown-zoo info NAME`` shows its input shape and range): float32, channels-last, one
example per row. ``y_*`` are integer class ids ``0 … C−1``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import Dataset

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
VALIDATION_FRACTION = 0.1
SMOKE_EXAMPLES = 64


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> dict[str, np.ndarray]:
    """All arrays of ``path`` (cached per path and modification time)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path!r} as a .npz file of arrays: {err}") from None
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise DatasetError(f"{path} lacks {', '.join(missing)}; an npz dataset needs {', '.join(REQUIRED)} "
                           "(and optionally x_val, y_val): np.savez(path, x_train=..., y_train=..., ...)")
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DatasetError(f"{path} has only one of x_val / y_val; give both or neither")
    for split in ("train", "val", "test"):
        if f"x_{split}" in arrays:
            _check(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"])
    return arrays


def _check(path: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype != np.float32:
        hint = " (for 8-bit images: x.astype('float32') / 255)" if x.dtype == np.uint8 else ""
        raise DatasetError(f"x_{split} in {path} is {x.dtype}; store float32 inputs preprocessed as the model "
                           f"expects{hint}")
    if x.ndim < 2:
        raise DatasetError(f"x_{split} in {path} has shape {x.shape}; it needs one example per row")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"y_{split} in {path} must be a 1-D array of integer class ids, got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise DatasetError(f"x_{split} and y_{split} in {path} have {len(x)} and {len(y)} rows")
    if len(y) and y.min() < 0:
        raise DatasetError(f"y_{split} in {path} has negative class ids; use 0 … C−1")


def arrays(path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of ``split`` (``train``, ``validation`` or ``test``) in the npz file ``path``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"npz dataset file {str(path)!r} does not exist; set data.options.path to your .npz file")
    data = _read(str(path.resolve()), path.stat().st_mtime)
    if split == "test":
        return data["x_test"], data["y_test"]
    if "x_val" in data:
        return (data["x_train"], data["y_train"]) if split == "train" else (data["x_val"], data["y_val"])
    order = np.random.default_rng(0).permutation(len(data["y_train"]))
    n_val = max(1, int(round(VALIDATION_FRACTION * len(order))))
    chosen = np.sort(order[-n_val:] if split == "validation" else order[:-n_val])
    return data["x_train"][chosen], data["y_train"][chosen]


def load_npz(split: str, smoke: bool = False, path: str | None = None) -> Dataset:
    """The ``(x, y)`` pairs of ``split`` as an unbatched ``tf.data.Dataset``."""
    import tensorflow as tf

    if path is None:
        raise DatasetError("the npz dataset needs its file: set data.options.path (--set data.options.path=FILE.npz)")
    x, y = arrays(path, split)
    if smoke:
        x, y = x[:SMOKE_EXAMPLES], y[:SMOKE_EXAMPLES]
    return tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))


DATASETS = {"npz": load_npz}

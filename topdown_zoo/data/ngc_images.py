"""Natural-image benchmarks of the Conv-NGC paper (section 4 and its appendix), as [0, 1] floats.

* ``ngc_cifar10``: CIFAR-10, 5,000 training images held out for validation (the paper's protocol).
* ``ngc_svhn``: SVHN (``svhn_cropped``), 5,000 training images held out for validation.
* ``color_mnist``: the Color-MNIST generator: MNIST digits resized to 32×32 (bilinear) and coloured
  red or green; in the training splits the colour agrees with the label's parity (even → red)
  with probability ``p_train`` (0.9), in the test split with ``p_test`` (0.1) — the spurious
  colour/label correlation reversed at test time.
* ``cinic10``: CINIC-10 from a local directory (``data_dir`` option, or ``$TOPDOWN_ZOO_CINIC10``)
  laid out as released: ``<dir>/<train|valid|test>/<class>/*.png``; only used as an OOD test set.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import ArrayLike, Dataset, Tensor

PREPROCESSING = {"scale": "x / 255", "range": [0.0, 1.0], "layout": "NHWC", "shape": [32, 32, 3]}
HOLDOUT = 5000
SMOKE = 32
CINIC_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _tfds_rgb(name: str, split: str, smoke: bool, data_dir: str | Path | None = None,
              download: bool = True) -> Dataset:
    import tensorflow as tf
    import tensorflow_datasets as tfds

    tfds_split = {"train": f"train[:-{HOLDOUT}]", "validation": f"train[-{HOLDOUT}:]", "test": "test"}.get(split)
    if tfds_split is None:
        raise DatasetError(f"{name} has no split {split!r}; allowed: train, validation, test")
    try:
        ds = tfds.load(name, split=tfds_split, shuffle_files=False, data_dir=data_dir, download=download,
                       as_supervised=True)
    except Exception as err:
        raise DatasetError(f"could not load tensorflow-datasets {name!r}: {err}. Build it once with network "
                           f"(tfds build {name}) and pass data_dir=, or use natural32.") from err
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, tf.cast(y, tf.int32)))
    return ds.take(SMOKE) if smoke else ds


def ngc_cifar10(split: str, smoke: bool = False, **options: Any) -> Dataset:
    return _tfds_rgb("cifar10", split, smoke, **options)


def ngc_svhn(split: str, smoke: bool = False, **options: Any) -> Dataset:
    return _tfds_rgb("svhn_cropped", split, smoke, **options)


def colorize(images: ArrayLike, labels: ArrayLike, p_agree: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28, 1) uint8/float digits -> (N, 32, 32, 3) float32 red/green digits, NumPy."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = np.asarray(images, dtype="float32")
    if x.max() > 1.0:
        x = x / 255.0
    x = tf.image.resize(x.reshape(len(x), 28, 28, 1), (32, 32), method="bilinear").numpy()[..., 0]
    parity_red = (np.asarray(labels) % 2 == 0)
    red = np.where(rng.random(len(x)) < p_agree, parity_red, ~parity_red)
    out = np.zeros((len(x), 32, 32, 3), dtype="float32")
    out[red, :, :, 0] = x[red]
    out[~red, :, :, 1] = x[~red]
    return np.clip(out, 0.0, 1.0), red


def color_mnist(split: str, smoke: bool = False, p_train: float = 0.9, p_test: float = 0.1, source: str = "tfds",
                data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    """Color-MNIST from TFDS MNIST (``source="tfds"``) or from the offline mnist5k digits (``"mnist5k"``)."""
    import tensorflow as tf

    if source == "mnist5k":
        from topdown_zoo.data.mnist5k import load_arrays

        x, y = load_arrays(split, smoke)
    else:
        import tensorflow_datasets as tfds

        tfds_split = {"train": "train[:-5000]", "validation": "train[-5000:]", "test": "test"}[split]
        ds = tfds.load("mnist", split=tfds_split, data_dir=data_dir, download=download, as_supervised=True)
        if smoke:
            ds = ds.take(SMOKE)
        pairs = list(tfds.as_numpy(ds))
        x = np.stack([p[0] for p in pairs])
        y = np.asarray([p[1] for p in pairs])
    p = p_test if split == "test" else p_train
    images, _ = colorize(x, y, p, seed={"train": 0, "validation": 1, "test": 2}[split])
    return tf.data.Dataset.from_tensor_slices((images, np.asarray(y, dtype="int32")))


def cinic10(split: str = "test", smoke: bool = False, data_dir: str | Path | None = None) -> Dataset:
    import tensorflow as tf

    root = Path(data_dir or os.environ.get("TOPDOWN_ZOO_CINIC10", ""))
    folder = root / {"train": "train", "validation": "valid", "test": "test"}[split]
    if not data_dir and not os.environ.get("TOPDOWN_ZOO_CINIC10") or not folder.is_dir():
        raise DatasetError(f"CINIC-10 not found at {folder!s}: download it (https://github.com/BayesWatch/cinic-10), "
                           "unpack it and pass data_dir=<dir> or set TOPDOWN_ZOO_CINIC10=<dir>.")
    files, labels = [], []
    for idx, cls in enumerate(CINIC_CLASSES):
        found = sorted(str(p) for p in (folder / cls).glob("*.png"))
        files += found
        labels += [idx] * len(found)
    if smoke:
        files, labels = files[:SMOKE], labels[:SMOKE]

    def read(path: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
        img = tf.io.decode_png(tf.io.read_file(path), channels=3)
        return tf.cast(tf.reshape(img, (32, 32, 3)), tf.float32) / 255.0, label

    return tf.data.Dataset.from_tensor_slices((files, np.asarray(labels, dtype="int32"))).map(read)


DATASETS = {"ngc_cifar10": ngc_cifar10, "ngc_svhn": ngc_svhn, "color_mnist": color_mnist, "cinic10": cinic10}

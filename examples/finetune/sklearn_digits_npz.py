"""Write scikit-learn's 1,797 handwritten digits (8×8, a different dataset from MNIST) as an
``npz`` dataset shaped like the zoo's MNIST models expect: 28×28×1 float32 in [0, 1].

    python examples/finetune/sklearn_digits_npz.py runs/sklearn-digits.npz [--classes 0 1 2 3 4] [--train-per-class 10]

The 8×8 images are resized to 20×20 and centred on a 28×28 canvas (MNIST's own layout);
20 % of each class is the test split (seeded), and the npz loader holds out 10 % of the rest
for validation.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np


def digits_as_mnist(classes=tuple(range(10))) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x (N, 28, 28, 1) float32 in [0, 1]; y relabelled 0 … len(classes)−1."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    small = (digits.images[keep] / 16.0).astype("float32")[..., None]
    resized = tf.image.resize(small, (20, 20), method="bilinear").numpy().clip(0.0, 1.0)
    x = np.zeros((len(small), 28, 28, 1), "float32")
    x[:, 4:24, 4:24] = resized
    y = np.searchsorted(np.asarray(sorted(classes)), digits.target[keep]).astype("int64")
    return x, y


def write_npz(path: str | Path, classes=tuple(range(10)), test_fraction: float = 0.2, seed: int = 0,
              train_per_class: int | None = None) -> Path:
    """Write the train/test split (stratified, seeded) atomically to ``path``; ``train_per_class``
    keeps only that many training digits per class (a few-shot fine-tuning set)."""
    x, y = digits_as_mnist(classes)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    drop = np.zeros(len(y), bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(test_fraction * len(members)))
        test[members[:n_test]] = True
        if train_per_class is not None:
            drop[members[n_test + train_per_class:]] = True
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, x_train=x[~test & ~drop], y_train=y[~test & ~drop], x_test=x[test], y_test=y[test])
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--train-per-class", type=int, help="keep only N training digits per class (few-shot)")
    args = parser.parse_args()
    print(write_npz(args.out, tuple(args.classes), train_per_class=args.train_per_class))

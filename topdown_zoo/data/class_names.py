"""The class names of each dataset's labels: the one place that maps a label id to its name.

``class_names(dataset)`` gives the names of a registry entry's ``dataset`` in label-id order
(``names[label]``), or ``None`` where the labels have no names (generative data) or the names
cannot be had offline. Hub folders (``metadata.json``), model cards, ONNX and SavedModel exports
and ``interpret`` / ``topdown-zoo predict`` all read them from here. For a task-conditioned
dataset (BU-TD multi-MNIST) the names are those of every task's labels.

Sources: MNIST-style digits are ``"0"`` … ``"9"``; CIFAR-10 and Speech Commands use the label
order of their TensorFlow Datasets builders (``tfds.features.ClassLabel``), which the loaders in
:mod:`topdown_zoo.data.tfds_benchmarks` keep; ImageNet-2012 reads ``labels.txt`` (the 1000
WordNet ids, in label order) shipped inside the ``tensorflow-datasets`` package, when installed.
Nothing here imports TensorFlow.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

DIGITS = tuple(str(d) for d in range(10))
#: tfds ``cifar10`` ClassLabel names, in label order
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: tfds ``speech_commands`` (v0.02) ClassLabel names: its WORDS + [SILENCE, UNKNOWN], in label order
SPEECH_COMMANDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_")
#: the file of ImageNet-2012 label names inside the tensorflow-datasets package
IMAGENET_LABELS = Path("datasets") / "imagenet2012" / "labels.txt"
_STEP = re.compile(r"label_step\d+")

_FIXED: dict[str, tuple[str, ...]] = {
    "mnist5k": DIGITS,
    "digit_debris_mnist5k": DIGITS,
    "multi_mnist5k": DIGITS,
    "multi_mnist": DIGITS,
    "cifar10": CIFAR10,
    "speech_commands": SPEECH_COMMANDS,
}


def class_names(dataset: str) -> list[str] | None:
    """The names of ``dataset``'s labels in label-id order, or ``None`` when it has none
    (generative datasets, CelebA's per-attribute 0/1 labels) or they are not available offline
    (ImageNet without ``tensorflow-datasets`` installed)."""
    if dataset in _FIXED:
        return list(_FIXED[dataset])
    if dataset == "imagenet2012":
        names = _imagenet_names()
        return list(names) if names else None
    return None


@functools.lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...] | None:
    """The 1000 WordNet ids of ``tensorflow_datasets/datasets/imagenet2012/labels.txt`` (read
    as a file, without importing the package), or ``None`` when it is not installed."""
    try:
        found = find_spec("tensorflow_datasets")
    except (ImportError, ValueError):
        return None
    for root in (found.submodule_search_locations or []) if found else []:
        path = Path(root) / IMAGENET_LABELS
        if path.is_file():
            names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
            return names if len(names) == 1000 else None
    return None


def model_class_names(model: Any) -> list[str] | None:
    """The class names of a zoo model: its registry entry's dataset's names, unless the model's
    classifier head was resized (``tz.load(name, num_classes=N)``) so that they no longer fit.
    ``None`` for a model built by hand or without named classes."""
    from topdown_zoo.registry import all_specs

    spec = all_specs().get(getattr(model, "registry_name", None) or "")
    if spec is None:
        return None
    return spec_class_names(spec, getattr(model, "registry_overrides", None), type(model))


def spec_class_names(spec: Any, overrides: Any = None, model_class: Any = None) -> list[str] | None:
    """The class names of registry entry ``spec`` built with ``overrides``: ``None`` when the
    overrides change the head's size (checked through the contract's ``num_classes_overrides``)."""
    from topdown_zoo.errors import TopdownZooError

    names = class_names(spec.dataset)
    if names is None or not overrides:
        return names
    if model_class is None:
        model_class = getattr(spec.build_fn(), "model_class", None)
    if model_class is None:
        return names
    from topdown_zoo.api import model_config

    config = model_config(spec, dict(overrides))
    try:
        needed = model_class.num_classes_overrides(config, len(names))
    except TopdownZooError:  # no resizable head: the overrides cannot have changed it
        return names
    return names if all(config.get(k) == v for k, v in needed.items()) else None


def name_labels(columns: Mapping[str, Any], names: Sequence[str] | None) -> dict[str, Any]:
    """``columns`` (a :class:`~topdown_zoo.models.base.Prediction`'s) with a ``class_name`` column
    after ``label`` (and ``class_name_<task>`` after each ``label_<task>``; per-step labels
    ``label_step<k>`` are left unnamed), where ``names`` covers every label id in it. Columns
    already named are kept as they are."""
    import numpy as np

    if not names:
        return dict(columns)
    table = np.asarray(list(names))
    out: dict[str, Any] = {}
    for key, value in columns.items():
        out[key] = value
        if key != "label" and not (key.startswith("label_") and not _STEP.fullmatch(key)):
            continue
        named = "class_name" + key[len("label"):]
        if named in columns:
            continue
        ids = np.asarray(value)
        if ids.size and np.issubdtype(ids.dtype, np.integer) and 0 <= ids.min() and ids.max() < len(table):
            out[named] = table[ids]
    return out

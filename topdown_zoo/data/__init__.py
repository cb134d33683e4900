"""Datasets as ``tf.data`` pipelines with the preprocessing each registry entry records.

Every module in this package may define ``DATASETS = {name: loader}``; a loader is called as
``loader(split, smoke=False, **options)`` and returns an *unbatched* ``tf.data.Dataset`` of
``(x, y)`` pairs (or ``x`` alone for unsupervised data), already preprocessed. ``smoke=True``
returns a few dozen examples so that any recipe runs in seconds.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from topdown_zoo.errors import DatasetError, did_you_mean
from topdown_zoo.typing import Dataset

SPLITS = ("train", "validation", "test")
_LOADERS: dict[str, Callable[..., Dataset]] = {}


def _discover() -> dict[str, Callable[..., Dataset]]:
    if not _LOADERS:
        import topdown_zoo.data as pkg

        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"topdown_zoo.data.{info.name}")
            for name, loader in getattr(module, "DATASETS", {}).items():
                if name in _LOADERS and _LOADERS[name] is not loader:
                    raise DatasetError(f"dataset {name!r} is defined twice (topdown_zoo.data.{info.name})")
                _LOADERS[name] = loader
    return _LOADERS


def list_datasets() -> list[str]:
    return sorted(_discover())


def load_dataset(name: str, split: str, *, smoke: bool = False, **options: Any) -> Dataset:
    """The unbatched, preprocessed ``tf.data.Dataset`` of ``name``'s ``split``."""
    loaders = _discover()
    if name not in loaders:
        raise DatasetError(f"unknown dataset {name!r}.{did_you_mean(name, loaders)} Known: {', '.join(sorted(loaders))}")
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for dataset {name!r}; allowed: {', '.join(SPLITS)}")
    check_dataset_options(name, options)
    try:
        return loaders[name](split, smoke=smoke, **options)
    except TypeError as err:  # an option a forwarding loader passed on to a function that does not take it
        if "unexpected keyword argument" not in str(err):
            raise
        raise DatasetError(f"dataset {name!r} does not take the data.options given ({err})") from None


def check_dataset_options(name: str, options: dict[str, Any]) -> None:
    """Refuse ``data.options`` keys that dataset ``name``'s loader does not take (a
    :class:`DatasetError` listing the ones it takes), before anything is loaded."""
    from topdown_zoo.checks import check_options

    loaders = _discover()
    if name in loaders:
        check_options(f"data.options of dataset {name!r}", options, loaders[name], skip=("split", "smoke"),
                      error=DatasetError)

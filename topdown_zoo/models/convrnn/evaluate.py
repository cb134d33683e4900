"""Evaluator of the ConvRNN family: accuracy of the last step and of every time step, and for the
digit-debris datasets the same per debris level.

Keys: ``accuracy`` (last step), ``accuracy_t<k>`` (step k = 0 … T−1), and for digit debris
``accuracy_debris<n>`` / ``accuracy_debris<n>_t<k>`` (n = number of debris fragments), plus
``examples``. Over digit debris the overall numbers average the levels (every test digit once
per level).
"""
from __future__ import annotations

from typing import Any, Iterable

import keras
import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.models.base import ZooModel
from topdown_zoo.registry import ModelSpec


def _per_step_hits(model: ZooModel, ds: Iterable[Any]) -> tuple[list[int], int]:
    hits, total = None, 0
    for x, y in ds:
        x, y = np.asarray(x), np.asarray(y)  # tf.data batches → arrays every backend takes
        steps = model.step_outputs(x, training=False)
        h = [int((keras.ops.convert_to_numpy(s).argmax(-1) == y).sum()) for s in steps]
        hits = h if hits is None else [a + b for a, b in zip(hits, h)]
        total += len(y)
    return hits or [], total


def evaluate_anytime(model: ZooModel, spec: ModelSpec, *, smoke: bool = False, batch_size: int = 256,
                     split: str = "test", data_options: dict[str, Any] | None = None, **_: Any) -> dict[str, float]:
    """Accuracy of the last step and of every time step (and per debris level); see the module."""
    from topdown_zoo.data import load_dataset

    options = dict(data_options or {})
    metrics: dict[str, float] = {}
    if spec.dataset.startswith("digit_debris"):
        from topdown_zoo.data.digit_debris import LEVELS

        levels = [int(v) for v in options.pop("levels", LEVELS)]
        options.pop("level", None)
        all_hits: list[int] = []
        all_total = 0
        for level in levels:
            ds = load_dataset(spec.dataset, split, smoke=smoke, levels=levels, level=level, **options).batch(batch_size)
            hits, total = _per_step_hits(model, ds)
            metrics[f"accuracy_debris{level}"] = hits[-1] / total
            for k, h in enumerate(hits):
                metrics[f"accuracy_debris{level}_t{k}"] = h / total
            all_hits = [a + b for a, b in zip(all_hits, hits)] if all_hits else hits
            all_total += total
        hits, total = all_hits, all_total
    else:
        hits, total = _per_step_hits(model, load_dataset(spec.dataset, split, smoke=smoke, **options).batch(batch_size))
    if not total:
        raise DatasetError(f"the {split} split of {spec.dataset} is empty")
    metrics["accuracy"] = hits[-1] / total
    for k, h in enumerate(hits):
        metrics[f"accuracy_t{k}"] = h / total
    metrics["examples"] = total
    return dict(sorted(metrics.items()))

"""Evaluation of a registry entry on its own test data.

:func:`evaluate_entry` runs an entry's evaluator with the options of the recipe that trains it
(so ``topdown-zoo evaluate NAME`` reproduces the numbers a training run wrote to
``metrics.json``); :func:`evaluate_classifier` is the default evaluator: top-1 accuracy, per
refinement step.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from topdown_zoo.checks import check_int
from topdown_zoo.errors import DatasetError
from topdown_zoo.registry import ModelSpec


def evaluate_entry(model: Any, spec: ModelSpec, *, smoke: bool = False, recipe: dict[str, Any] | None = None,
                   **overrides: Any) -> dict[str, float]:
    """``spec``'s evaluator (``spec.evaluator``) with its recipe's ``evaluate`` options and ``data.options``.

    Args:
        recipe: a validated recipe; default: the entry's own (``recipes/<spec.recipe>``).
        overrides: evaluator options that replace the recipe's (e.g. ``batch_size``).
    """
    if recipe is None:
        from topdown_zoo.paths import recipes_dir
        from topdown_zoo.recipe import load_recipe

        recipe = load_recipe(recipes_dir() / spec.recipe)
    options = {**recipe["evaluate"], **overrides}
    if recipe["data"]["dataset"] != spec.dataset:  # a fine-tuning recipe: its own test data
        spec = dataclasses.replace(spec, dataset=recipe["data"]["dataset"])
    measured = spec.evaluate_fn()(model, spec, smoke=smoke, data_options=recipe["data"]["options"], **options)
    return {k: float(v) for k, v in measured.items()}


def evaluate_classifier(model: Any, spec: ModelSpec, *, smoke: bool = False, batch_size: int = 256,
                        split: str = "test", data_options: dict[str, Any] | None = None, verbose: int = 1,
                        **_: Any) -> dict[str, float]:
    """Top-1 accuracy of the final output, and of every step (``accuracy_step<k>``) for a model
    that iterates (``model.num_steps > 0``; the outputs are ``model.step_outputs(x)``).

    Returns ``{"accuracy": ..., "accuracy_step0": ..., ..., "examples": N}``. Works on every
    Keras backend (outputs are converted with ``keras.ops.convert_to_numpy``).
    """
    import keras

    from topdown_zoo.data import load_dataset

    batch_size = check_int("batch_size", batch_size, low=1)
    ds = load_dataset(spec.dataset, split, smoke=smoke, **(data_options or {})).batch(batch_size)
    batches = int(ds.cardinality())
    progress = keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose, unit_name="batch")
    correct_final = 0
    correct_steps: list[int] | None = None
    total = 0
    for x_batch, y_batch in ds:
        x, y = np.asarray(x_batch), np.asarray(y_batch)
        final = keras.ops.convert_to_numpy(model(x, training=False))
        correct_final += int((final.argmax(-1) == y).sum())
        if model.num_steps > 0:
            steps = [keras.ops.convert_to_numpy(s) for s in model.step_outputs(x, training=False)]
            hits = [int((s.argmax(-1) == y).sum()) for s in steps]
            correct_steps = hits if correct_steps is None else [a + b for a, b in zip(correct_steps, hits)]
        total += len(y)
        progress.add(1, values=[("accuracy", correct_final / total)])
    if total == 0:
        raise DatasetError(f"the {split} split of {spec.dataset} is empty")
    metrics = {"accuracy": correct_final / total}
    for k, step_hits in enumerate(correct_steps or []):
        metrics[f"accuracy_step{k}"] = step_hits / total
    metrics["examples"] = total
    return metrics

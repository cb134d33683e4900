"""Evaluation of a registry entry on its own test data.

:func:`evaluate_entry` runs an entry's evaluator with the options of the recipe that trains it
(so ``topdown-zoo evaluate NAME`` reproduces the numbers a training run wrote to
``metrics.json``); :func:`evaluate_classifier` is the default evaluator: top-1 accuracy, per
refinement step.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from topdown_zoo.registry import ModelSpec


def evaluate_entry(model, spec: ModelSpec, *, smoke: bool = False, recipe: dict | None = None,
                   **overrides) -> dict[str, float]:
    """``spec``'s evaluator with its recipe's ``evaluate`` options and ``data.options``.

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


def evaluate_classifier(model, spec: ModelSpec, *, smoke: bool = False, batch_size: int = 256, split: str = "test",
                        data_options: dict | None = None, verbose: int = 1, **_) -> dict[str, float]:
    """Accuracy of the final output, and of every step ``accuracy_step<k>`` for models with ``refine``.

    Returns ``{"accuracy": ..., "accuracy_step0": ..., ..., "examples": N}``.
    """
    from topdown_zoo.data import load_dataset

    import keras

    ds = load_dataset(spec.dataset, split, smoke=smoke, **(data_options or {})).batch(batch_size)
    batches = int(ds.cardinality())
    progress = keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose, unit_name="batch")
    correct_final = 0
    correct_steps: list[int] | None = None
    total = 0
    for x, y in ds:
        y = np.asarray(y)
        final = np.asarray(model(x, training=False))
        correct_final += int((final.argmax(-1) == y).sum())
        if hasattr(model, "refine") and getattr(model, "iterations", 0):
            steps = [np.asarray(s) for s in model.refine(x)]
            hits = [int((s.argmax(-1) == y).sum()) for s in steps]
            correct_steps = hits if correct_steps is None else [a + b for a, b in zip(correct_steps, hits)]
        total += len(y)
        progress.add(1, values=[("accuracy", correct_final / total)])
    if total == 0:
        raise ValueError(f"the {split} split of {spec.dataset} is empty")
    metrics = {"accuracy": correct_final / total}
    for k, hits in enumerate(correct_steps or []):
        metrics[f"accuracy_step{k}"] = hits / total
    metrics["examples"] = total
    return metrics

"""Evaluator of the BU-TD entries: per-task test accuracy and sub-network statistics.

Every test image is classified once per task (the task given to the TD stream); ``accuracy`` is
the mean over tasks of ``accuracy_<task>``. The dict also holds appendix D's sub-network
statistics of the trained model (``subnet_<layer>_active_<task>``, ``subnet_<layer>_iou``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from topdown_zoo.errors import DatasetError
from topdown_zoo.registry import ModelSpec


def _predict_correct(model: Any, x: np.ndarray, task: int, labels: np.ndarray) -> np.ndarray:
    t = np.full((len(x),), task, dtype="int32")
    logits = ops.convert_to_numpy(model((x, t), training=False))
    if model.loss_name == "softmax":
        return np.asarray(logits.argmax(-1) == np.asarray(labels))
    return np.asarray((logits.reshape(-1) > 0).astype("int32") == np.asarray(labels).astype("int32"))


def evaluate_butd(model: Any, spec: ModelSpec, *, smoke: bool = False, batch_size: int = 256, split: str = "test",
                  data_options: dict[str, Any] | None = None, subnetworks: bool = True, **_: Any) -> dict[str, float]:
    from topdown_zoo.models.butd import subnetworks as subnet

    options = dict(data_options or {})
    tasks = list(spec.preprocessing.get("tasks") or [str(t) for t in range(model.num_tasks)])
    hits = np.zeros(len(tasks))
    total = 0
    if spec.dataset in ("multi_mnist5k", "multi_mnist"):
        from topdown_zoo.data.butd_multimnist import load_pairs

        source = "mnist5k" if spec.dataset == "multi_mnist5k" else "tfds"
        x_all, y_all = load_pairs(split, smoke=smoke, source=source, **options)
        batches = ((x_all[i:i + batch_size], y_all[i:i + batch_size]) for i in range(0, len(x_all), batch_size))
    elif spec.dataset == "celeba_attributes":
        from topdown_zoo.data.butd_celeba import load_attributes

        batches = ((np.asarray(x), np.asarray(y))
                   for x, y in load_attributes(split, smoke=smoke, **options).batch(batch_size))
    else:
        raise DatasetError(f"evaluate_butd does not know dataset {spec.dataset!r}")
    for x, y in batches:
        for t in range(len(tasks)):
            hits[t] += _predict_correct(model, x, t, y[:, t]).sum()
        total += len(x)
    if total == 0:
        raise DatasetError(f"the {split} split of {spec.dataset} is empty")
    per_task = hits / total
    metrics = {"accuracy": float(per_task.mean())}
    metrics.update({f"accuracy_{name}": float(a) for name, a in zip(tasks, per_task)})
    metrics["examples"] = total
    if subnetworks:
        metrics.update(subnet.flat_metrics(model, tasks))
    return metrics

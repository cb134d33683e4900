"""The recipe runner: recipe -> run directory with checkpoints, logs, plots, metrics and a hub folder.

A run directory holds::

    recipe.yaml          the complete, validated recipe that was run
    backup/              Keras BackupAndRestore state: rerunning the same command resumes
    checkpoints/         weights after every epoch (epochNNN.weights.h5)
    history.csv          per-epoch metrics (CSVLogger), tensorboard/ (TensorBoard logs)
    curves.png           loss / metric curves
    model.keras          the trained model
    metrics.json         what the evaluator measured on the test split, plus run facts
    hub/                 the publishable Hugging Face folder (see topdown_zoo.hub.package)
"""
from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from topdown_zoo.errors import DatasetError, RecipeError
from topdown_zoo.registry import get_spec


# ---------------------------------------------------------------------------- small helpers
def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def learning_rate_at(epoch: int, recipe: dict) -> float:
    """The recipe's learning rate for a 0-based ``epoch`` (the schedule is per epoch)."""
    base = float(recipe["optimizer"]["learning_rate"])
    sch = recipe["schedule"]
    name = sch["name"]
    if name == "constant":
        return base
    if name == "step":  # e.g. CIFAR-10: halved every 5 epochs
        return base * sch["factor"] ** (epoch // sch["every_epochs"])
    if name == "multistep":  # e.g. ImageNet: /10 at epochs 30, 60, 80
        return base * sch["factor"] ** sum(epoch >= m for m in sch["milestones"])
    if name == "exponential":
        return base * sch["factor"] ** epoch
    if name == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / max(1, recipe["epochs"])))
    raise RecipeError(f"unknown schedule {name!r}")


def make_optimizer(recipe: dict):
    import keras

    opt = recipe["optimizer"]
    common = {"learning_rate": float(opt["learning_rate"])}
    if opt["clipnorm"]:
        common["clipnorm"] = float(opt["clipnorm"])
    if opt["name"] == "adam":
        return keras.optimizers.Adam(**common)
    if opt["name"] == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(opt["weight_decay"]), **common)
    return keras.optimizers.SGD(momentum=float(opt["momentum"]), nesterov=bool(opt["nesterov"]),
                                weight_decay=float(opt["weight_decay"]) or None, **common)


class _NoScope:
    """``with strategy.scope():`` for backends whose distribution is global (JAX) or absent."""

    def __init__(self, replicas: int = 1) -> None:
        self.num_replicas_in_sync = replicas

    def scope(self) -> _NoScope:
        return self

    def __enter__(self) -> _NoScope:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def make_strategy(name: str):
    """The recipe's ``strategy`` on the active backend.

    TensorFlow: a ``tf.distribute`` strategy — default (one device), mirrored (all local GPUs /
    logical devices), multi_worker_mirrored (several machines, from ``TF_CONFIG``), tpu.
    JAX: ``mirrored`` is ``keras.distribution.DataParallel`` over every local device (set
    globally; the returned object only counts the replicas); default is one device.
    PyTorch: only ``default`` (Keras has no distribution API for PyTorch).
    """
    import keras

    from topdown_zoo.errors import BackendError

    backend = keras.backend.backend()
    if backend == "jax":
        if name == "default":
            keras.distribution.set_distribution(None)
            return _NoScope()
        if name == "mirrored":
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            return _NoScope(len(devices))
        raise BackendError(f"strategy={name!r} is not available on the JAX backend; use 'default' or 'mirrored' "
                           "(keras.distribution.DataParallel), or KERAS_BACKEND=tensorflow for tf.distribute")
    if backend != "tensorflow":
        if name == "default":
            return _NoScope()
        raise BackendError(f"strategy={name!r} is not available on the {backend} backend; use 'default', or "
                           "KERAS_BACKEND=jax / tensorflow for several devices")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def plot_history(csv_path: Path, out_path: Path) -> None:
    """Loss and metric curves (train and validation) from the CSV log."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [float(r[key]) for r in rows], label=f"train {key}")
        if f"val_{key}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    tmp = out_path.with_name(f".{out_path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out_path)


# ---------------------------------------------------------------------------- the runner
def train(recipe: dict, out_dir: str | Path | None = None, *, smoke: bool = False, hub_dir: str | Path | None = None,
          verbose: int | str = "auto") -> dict:
    """Run a validated recipe (see :func:`topdown_zoo.recipe.load_recipe`); returns metrics.json's content."""
    import keras
    import tensorflow as tf

    from topdown_zoo.api import build_from_spec
    from topdown_zoo.data import load_dataset
    from topdown_zoo.evaluation import evaluate_entry

    spec = get_spec(recipe["model"])
    run_dir = Path(out_dir or Path("runs") / (spec.name + ("-smoke" if smoke else "")))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "recipe.yaml", yaml.safe_dump(recipe, sort_keys=False))

    keras.utils.set_random_seed(int(recipe["seed"]))
    keras.config.set_dtype_policy(recipe["precision"])
    try:
        epochs = recipe["smoke"]["epochs"] if smoke else recipe["epochs"]
        batch_size = recipe["smoke"]["batch_size"] if smoke else recipe["data"]["batch_size"]
        steps_per_epoch = recipe["smoke"]["steps_per_epoch"] if smoke else None
        dataset, options = recipe["data"]["dataset"], recipe["data"]["options"]

        strategy = make_strategy(recipe["strategy"])
        global_batch = batch_size * strategy.num_replicas_in_sync
        train_ds = load_dataset(dataset, "train", smoke=smoke, **options)
        if dataset != spec.dataset:
            _check_input_shape(train_ds, spec, dataset)
        if recipe["data"]["shuffle_buffer"]:
            train_ds = train_ds.shuffle(recipe["data"]["shuffle_buffer"], seed=int(recipe["seed"]),
                                        reshuffle_each_iteration=True)
        train_ds = train_ds.batch(global_batch)
        if steps_per_epoch:
            train_ds = train_ds.repeat()
        train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
        val_ds = load_dataset(dataset, "validation", smoke=smoke, **options).batch(global_batch).prefetch(tf.data.AUTOTUNE)

        with strategy.scope():
            model = build_from_spec(spec, recipe["overrides"])
            if recipe["init"]["weights"] is not None:
                _start_from(model, spec, recipe["init"])
            model.compile_default(make_optimizer(recipe))

        (run_dir / "checkpoints").mkdir(exist_ok=True)
        if not (run_dir / "backup").exists():
            # No interrupted run to resume: this run starts at epoch 0, so an older run's rows
            # must not stay in the appended history.
            (run_dir / "history.csv").unlink(missing_ok=True)
        callbacks = [
            keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
            keras.callbacks.LearningRateScheduler(lambda epoch, lr: learning_rate_at(epoch, recipe)),
            keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "epoch{epoch:03d}.weights.h5"),
                                            save_weights_only=True),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False),
        ]
        # A family may add its own callbacks (e.g. BU-TD's sub-network statistics per epoch).
        callbacks += list(model.training_callbacks(run_dir))
        started = time.time()
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  callbacks=callbacks, verbose=verbose)
        train_seconds = time.time() - started
        plot_history(run_dir / "history.csv", run_dir / "curves.png")

        tmp_model = run_dir / ".model.tmp.keras"
        model.save(tmp_model)
        os.replace(tmp_model, run_dir / "model.keras")

        measured = evaluate_entry(model, spec, smoke=smoke, recipe=recipe)
        metrics = {
            **measured,
            "_run": {
                "model": spec.name, "recipe": spec.recipe, "seed": recipe["seed"], "epochs": epochs,
                "batch_size": batch_size, "precision": recipe["precision"], "strategy": recipe["strategy"],
                "replicas": strategy.num_replicas_in_sync, "smoke": smoke, "train_seconds": round(train_seconds, 1),
                "split": "test", "dataset": dataset, "machine": platform.machine(), "overrides": recipe["overrides"],
            },
        }
        write_json(run_dir / "metrics.json", metrics)
        _package(model, run_dir / "hub", metrics, recipe)
        if hub_dir is not None:
            _package(model, Path(hub_dir) / spec.name, metrics, recipe)
        return metrics
    finally:
        keras.config.set_dtype_policy("float32")
        if keras.backend.backend() == "jax":
            keras.distribution.set_distribution(None)


def _check_input_shape(ds, spec, dataset: str) -> None:
    """Another dataset than the entry's (fine-tuning): its inputs must have the model's shape."""
    x_spec = ds.element_spec[0] if isinstance(ds.element_spec, tuple) else ds.element_spec
    shape = getattr(x_spec, "shape", None)
    if shape is not None and tuple(shape) != tuple(spec.input_shape):
        raise DatasetError(f"dataset {dataset!r} gives inputs of shape {tuple(shape)}, but {spec.name} takes "
                           f"{tuple(spec.input_shape)} (see `topdown-zoo info {spec.name}`); reshape or resize "
                           "your data to that shape")


def _start_from(model, spec, init: dict) -> None:
    """Fine-tuning: load the recipe's ``init.weights`` into the freshly built model."""
    from topdown_zoo import hub

    skipped = hub.load_weights_into(model, spec, init["weights"], skip_mismatch=init["skip_mismatch"])
    print(f"initialised {spec.name} from {init['weights']}"
          + (f"; kept fresh (shapes differ): {', '.join(skipped)}" if skipped else ""), file=sys.stderr)


def _package(model, out: Path, metrics: dict, recipe: dict) -> None:
    from topdown_zoo import hub

    if out.exists():
        shutil.rmtree(out)
    hub.package(model, out, metrics=metrics, recipe=recipe)

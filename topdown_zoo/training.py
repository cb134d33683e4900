"""The recipe runner: recipe -> run directory with checkpoints, logs, plots, metrics and a hub folder.

A run directory holds::

    recipe.yaml          the complete, validated recipe that was run (written when the run ends)
    backup/              the state of an unfinished run (state.npz: weights, optimizer state,
                         random-generator states, epoch; the previous one as state.prev.npz;
                         history.csv so far): rerunning the same command resumes from it
    checkpoints/         weights after every epoch (epochNNN.weights.h5)
    history.csv          per-epoch metrics (CSVLogger), tensorboard/ (TensorBoard logs)
    curves.png           loss / metric curves
    model.keras          the trained model
    metrics.json         what the evaluator measured on the test split, plus run facts
    hub/                 the publishable Hugging Face folder (see topdown_zoo.hub.package)
    .lock                held by the training that writes here (a second one is refused)

Reliability (issue 15): every file is written atomically (:mod:`topdown_zoo.atomic`); a run
killed at any point (``kill -9`` mid-epoch, while a checkpoint or the hub folder is written)
and rerun with the same command ends with the same weights as an uninterrupted run, because
resuming is exact at epoch granularity: epoch ``e`` draws its data order and every global
random stream from a seed that is a function of ``(seed, e)`` only (:func:`epoch_seed`), and
the checkpoint restores every model variable (random-generator states included) and the
optimizer's state. A non-finite loss or weight stops training with an error before anything
is checkpointed or packaged.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from topdown_zoo import atomic
from topdown_zoo.errors import DatasetError, HubError, RecipeError, TrainingError
from topdown_zoo.plots.curves import plot_history
from topdown_zoo.registry import get_spec

BACKUP = "backup"
STATE = "state.npz"
PREVIOUS_STATE = "state.prev.npz"
LOCK = ".lock"
STATE_FORMAT = 1


# ---------------------------------------------------------------------------- small helpers
def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic.write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of 0-based ``epoch`` of a run seeded with ``seed``: data order, the global
    Python / NumPy / TensorFlow / Keras / PyTorch random streams of that epoch derive from it."""
    digest = hashlib.sha256(f"topdown_zoo:{int(seed)}:{int(epoch)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # 31 bits: every framework's seed type takes it


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


def make_optimizer(recipe: dict) -> Any:
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


def make_strategy(name: str) -> Any:
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
        class MultiWorkerMirrored(tf.distribute.MultiWorkerMirroredStrategy):  # type: ignore[misc]
            """With two workers or more, Keras 3 (3.15) calls this strategy's ``reduce`` in two ways
            it does not support: on its first batch, a nested ``(x, y)``, to learn the shapes
            (``ValueError: Attempt to convert a value (PerReplica…)``), and on every step's scalar
            logs with ``axis=0`` (``Invalid reduction dimension 0 for input with 0 dimensions``).
            Here a nested value is reduced element by element, and a scalar across replicas."""

            def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
                base = tf.distribute.MultiWorkerMirroredStrategy.reduce

                def one(v: Any) -> Any:
                    rank = getattr(getattr(self.experimental_local_results(v)[0], "shape", None), "rank", None)
                    return base(self, reduce_op, v, axis=None if rank == 0 else axis)

                return tf.nest.map_structure(one, value)

        return MultiWorkerMirrored()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


# ---------------------------------------------------------------------------- the runner
def train(recipe: dict, out_dir: str | Path | None = None, *, smoke: bool = False, hub_dir: str | Path | None = None,
          verbose: int | str = "auto", force: bool = False) -> dict:
    """Run a validated recipe (see :func:`topdown_zoo.recipe.load_recipe`); returns metrics.json's content.

    Rerunning an interrupted run (same recipe, same ``smoke``) resumes it exactly. ``hub_dir``:
    also package into ``hub_dir/<name>``, which must not exist unless ``force``. ``force`` also
    discards an interrupted run of another recipe in ``out_dir`` (refused without it).

    Raises:
        TrainingError: the run directory is in use by another training, holds an interrupted
            run of another recipe, or the loss or weights became non-finite (nothing packaged).
        HubError: ``hub_dir/<name>`` exists and ``force`` is not set.
    """
    spec = get_spec(recipe["model"])
    run_dir = Path(out_dir or Path("runs") / (spec.name + ("-smoke" if smoke else "")))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrainingError(f"cannot create the run directory {str(run_dir)!r}: {err.strerror or err}") from None
    hub_target = Path(hub_dir) / spec.name if hub_dir is not None else None
    with _RunLock(run_dir):
        for folder in (run_dir, run_dir / "checkpoints", run_dir / BACKUP):
            atomic.clean_folder(folder)
        state = _read_state(run_dir / BACKUP, spec.name)
        if state is not None and not _same_run(state[0], recipe, smoke):
            if not force:
                raise TrainingError(
                    f"{run_dir} holds an interrupted run of another recipe (or without/with --smoke), stopped after "
                    f"epoch {state[0]['epoch']}; rerun it with the same recipe to resume it, pass --force to discard "
                    "it and start over, or choose another --out")
            state = None
        if state is None:
            atomic.remove(run_dir / BACKUP)
        _check_hub_target(hub_target, force or (state is not None and state[0].get("hub_target") == _key(hub_target)))
        return _run(recipe, spec, run_dir, state, smoke=smoke, hub_target=hub_target, verbose=verbose)


def _run(recipe: dict, spec: Any, run_dir: Path, state: tuple[dict, list] | None, *, smoke: bool,
         hub_target: Path | None, verbose: int | str) -> dict:
    import keras

    from topdown_zoo.api import build_from_spec
    from topdown_zoo.data import load_dataset
    from topdown_zoo.evaluation import evaluate_entry

    seed = int(recipe["seed"])
    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(recipe["precision"])
    try:
        epochs = recipe["smoke"]["epochs"] if smoke else recipe["epochs"]
        batch_size = recipe["smoke"]["batch_size"] if smoke else recipe["data"]["batch_size"]
        steps_per_epoch = recipe["smoke"]["steps_per_epoch"] if smoke else None
        dataset, options = recipe["data"]["dataset"], recipe["data"]["options"]

        strategy = make_strategy(recipe["strategy"])
        global_batch = batch_size * strategy.num_replicas_in_sync
        if dataset != spec.dataset:
            _check_input_shape(load_dataset(dataset, "train", smoke=smoke, **options), spec, dataset)
        val_ds = _batched(load_dataset(dataset, "validation", smoke=smoke, **options), global_batch)

        with strategy.scope():
            model = build_from_spec(spec, recipe["overrides"])
            if recipe["init"]["weights"] is not None:
                _start_from(model, spec, recipe["init"])
            model.compile_default(make_optimizer(recipe))
            model.optimizer.build(model.trainable_variables)  # its state is part of a checkpoint
            start = _restore(model, state) if state is not None else 0

        backup = run_dir / BACKUP
        backup.mkdir(exist_ok=True)
        _keep_history(backup / "history.csv", start)
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        callbacks = [
            _Guard(spec.name),
            _Progress(epochs),
            keras.callbacks.LearningRateScheduler(lambda epoch, lr: learning_rate_at(epoch, recipe)),
            keras.callbacks.CSVLogger(str(backup / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False),
        ]
        # A family may add its own callbacks (e.g. BU-TD's sub-network statistics per epoch).
        callbacks += list(model.training_callbacks(run_dir))
        seconds = float(state[0].get("seconds", 0.0)) if state is not None else 0.0
        meta = {"format": STATE_FORMAT, "model": spec.name, "recipe": _canonical(recipe), "smoke": smoke,
                "hub_target": _key(hub_target)}
        for epoch in range(start, epochs):
            started = time.time()
            keras.utils.set_random_seed(epoch_seed(seed, epoch))
            train_ds = _epoch_data(load_dataset(dataset, "train", smoke=smoke, **options), recipe, epoch,
                                   global_batch, steps_per_epoch)
            model.fit(train_ds, validation_data=val_ds, initial_epoch=epoch, epochs=epoch + 1,
                      steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose, shuffle=False)
            _check_finite_weights(model, spec.name, epoch)
            seconds += time.time() - started
            _save_weights(model, run_dir / "checkpoints" / f"epoch{epoch + 1:03d}.weights.h5")
            _write_state(backup, model, {**meta, "epoch": epoch + 1, "seconds": seconds})

        if (backup / "history.csv").is_file():
            atomic.write_bytes(run_dir / "history.csv", (backup / "history.csv").read_bytes())
            plot_history(run_dir / "history.csv", run_dir / "curves.png")
        _save_model(model, run_dir / "model.keras")
        measured = evaluate_entry(model, spec, smoke=smoke, recipe=recipe, **({"verbose": 0} if verbose == 0 else {}))
        metrics = {
            **measured,
            "_run": {
                "model": spec.name, "recipe": spec.recipe, "seed": recipe["seed"], "epochs": epochs,
                "batch_size": batch_size, "precision": recipe["precision"], "strategy": recipe["strategy"],
                "replicas": strategy.num_replicas_in_sync, "smoke": smoke, "train_seconds": round(seconds, 1),
                "split": "test", "dataset": dataset, "machine": platform.machine(), "overrides": recipe["overrides"],
            },
        }
        write_json(run_dir / "metrics.json", metrics)
        atomic.write_text(run_dir / "recipe.yaml", yaml.safe_dump(recipe, sort_keys=False))
        # a full run's hub folder shows the model's pictures (docs/pictures.md); a smoke run's does not
        examples = None if smoke else _plot_examples(spec, recipe)
        history = run_dir / "history.csv" if (run_dir / "history.csv").is_file() else None
        _package(model, run_dir / "hub", metrics, recipe, examples, history)
        if hub_target is not None:
            _package(model, hub_target, metrics, recipe, examples, history)
        _finish(backup)
        return metrics
    finally:
        keras.config.set_dtype_policy("float32")
        if keras.backend.backend() == "jax":
            keras.distribution.set_distribution(None)


def _batched(ds: Any, global_batch: int) -> Any:
    import tensorflow as tf

    return ds.batch(global_batch).prefetch(tf.data.AUTOTUNE)


def _epoch_data(ds: Any, recipe: dict, epoch: int, global_batch: int, steps: int | None) -> Any:
    """Epoch ``epoch``'s batches: the loader's dataset (made after the epoch's reseeding, so its
    own random draws are the epoch's too) shuffled with :func:`epoch_seed`, a function of
    ``(seed, epoch)`` only; with ``steps`` (smoke runs) its first ``steps`` batches (the data
    repeated when they are fewer)."""
    import tensorflow as tf

    buffer = recipe["data"]["shuffle_buffer"]
    if buffer:
        ds = ds.shuffle(buffer, seed=epoch_seed(int(recipe["seed"]), epoch), reshuffle_each_iteration=False)
    if steps:
        ds = ds.repeat()
    ds = ds.batch(global_batch)
    if steps:
        ds = ds.take(steps)
    return ds.prefetch(tf.data.AUTOTUNE)


class _RunLock:
    """An exclusive lock on a run directory (``.lock`` holds the owner's pid). The operating
    system drops it when its process dies, so a lock left by a killed run is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.path, self.fd = run_dir, run_dir / LOCK, -1

    def __enter__(self) -> _RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                holder = ""
                for _ in range(20):  # the holder writes its pid right after locking
                    holder = _read_pid(fd)
                    if holder:
                        break
                    time.sleep(0.05)
                raise TrainingError(f"run directory {self.run_dir} is in use by pid {holder or '(unknown)'} (another "
                                      "training writes there); wait for it to end or choose another --out")
            previous = _read_pid(fd)
            if previous and previous != str(os.getpid()):
                print(f"note: taking over the lock of {self.run_dir} left by pid {previous}, which is no longer "
                      "running", file=sys.stderr)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        os.ftruncate(self.fd, 0)
        os.close(self.fd)  # releases the lock


def _read_pid(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip()


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a live pid in the file holds the lock
        text = _read_pid(fd)
        return not (text.isdigit() and int(text) != os.getpid() and atomic.is_running(int(text)))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _key(path: Path | None) -> str | None:
    return None if path is None else str(path.resolve())


def _canonical(recipe: dict) -> str:
    return json.dumps(recipe, sort_keys=True, default=str)


def _same_run(meta: dict, recipe: dict, smoke: bool) -> bool:
    return meta.get("recipe") == _canonical(recipe) and bool(meta.get("smoke")) == bool(smoke)


def _check_hub_target(target: Path | None, allowed: bool) -> None:
    """``--hub-dir``: never replace an existing folder unless asked (checked before training)."""
    if target is None:
        return
    atomic.clean_leftovers(target)
    if not allowed and (target.exists() or target.is_symlink()):
        raise HubError(f"{target} already exists; pass --force (force=True) to replace it with this run's model "
                       "(atomically, once packaged), or choose another --hub-dir")


# ---------------------------------------------------------------------------- resumable state
def _state_variables(model: Any) -> list[Any]:
    """Everything a resumed run needs from the model: weights, random-generator states (part of
    ``model.variables``) and the optimizer's variables (iterations, moments, loss scale)."""
    return list(model.variables) + list(model.optimizer.variables)


def _write_state(backup: Path, model: Any, meta: dict) -> None:
    """Write ``backup/state.npz`` atomically; the state it replaces is kept as ``state.prev.npz``."""
    import keras
    import numpy as np

    variables = _state_variables(model)
    arrays = {f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)}
    meta = {**meta, "paths": [v.path for v in variables]}
    target = backup / STATE
    tmp = atomic.sibling(target)
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta, default=str)), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        atomic.fault_point(f"checkpoint {meta['epoch']}")
        if target.exists():
            os.replace(target, backup / PREVIOUS_STATE)
        atomic.commit(tmp, target)
    finally:
        atomic.remove(tmp)


def _read_state(backup: Path, name: str) -> tuple[dict, list] | None:
    """The newest readable state in ``backup`` (``state.npz``, else ``state.prev.npz``), or None."""
    import numpy as np

    for path in (backup / STATE, backup / PREVIOUS_STATE):
        if not path.is_file():
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = [data[f"v{i}"] for i in range(len(meta["paths"]))]
        except Exception as err:  # noqa: BLE001 - truncated or corrupt: try the previous one
            print(f"warning: ignoring the unreadable checkpoint {path} ({type(err).__name__}: {err})", file=sys.stderr)
            continue
        if meta.get("format") == STATE_FORMAT and meta.get("model") == name:
            return meta, arrays
    return None


def _restore(model: Any, state: tuple[dict, list]) -> int:
    """Load a state into the built, compiled model; returns the epoch to continue from."""
    meta, arrays = state
    variables = _state_variables(model)
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        raise TrainingError(f"the interrupted run's checkpoint does not fit {meta['model']} as this recipe builds it; "
                              "pass --force to discard it and start over")
    for variable, value in zip(variables, arrays):
        variable.assign(value)
    print(f"resuming {meta['model']} after epoch {meta['epoch']} (from {BACKUP}/)", file=sys.stderr)
    return int(meta["epoch"])


def _keep_history(path: Path, start: int) -> None:
    """The per-epoch log of the epochs before ``start`` (rows of a rerun epoch are dropped)."""
    if start == 0 or not path.is_file():
        path.unlink(missing_ok=True)
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if line.split(",", 1)[0].isdigit()
                        and int(line.split(",", 1)[0]) < start]
    atomic.write_text(path, "".join(kept))


def _finish(backup: Path) -> None:
    """A finished run leaves nothing to resume (the states go first, so a kill here re-finishes)."""
    for name in (PREVIOUS_STATE, STATE):
        (backup / name).unlink(missing_ok=True)
    atomic.remove(backup)


# ---------------------------------------------------------------------------- numerical faults
class _Guard:
    """Stops training with a zoo error as soon as the loss is not finite (a NaN or infinite
    learning rate, exploding updates, bad data). Also the test hook ``epoch E batch B``."""

    def __new__(cls, name: str) -> Any:
        import keras

        class Guard(keras.callbacks.Callback):
            epoch = 0

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.epoch = epoch

            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                loss = (logs or {}).get("loss")
                if loss is not None and not math.isfinite(float(loss)):
                    _non_finite(name, f"the loss became {float(loss)}", self.epoch, batch)
                atomic.fault_point(f"epoch {self.epoch + 1} batch {batch + 1}")

        return Guard()


def _non_finite(name: str, what: str, epoch: int, batch: int | None = None) -> None:
    where = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
    raise TrainingError(
        f"training {name} stopped: {what} in {where}; nothing was saved or packaged. Lower "
        "optimizer.learning_rate, set optimizer.clipnorm, or check the data for NaN/inf, then rerun with --force "
        "(the last good epoch stays in the run's backup/ until then)")


def _check_finite_weights(model: Any, name: str, epoch: int) -> None:
    import keras
    import numpy as np

    for variable in model.variables:
        if "float" in str(variable.dtype) and not np.isfinite(keras.ops.convert_to_numpy(variable)).all():
            _non_finite(name, f"the weights {variable.path} became non-finite", epoch)


class _Progress:
    """Keras's progress bar, counting epochs out of the whole run (``fit`` runs one epoch at a time)."""

    def __new__(cls, epochs: int) -> Any:
        import keras

        class Progress(keras.callbacks.ProgbarLogger):
            def set_params(self, params: dict) -> None:
                super().set_params(params)
                self.epochs = epochs

        return Progress()


# ---------------------------------------------------------------------------- files
def _save_atomically(save: Callable[[Path], Any], path: Path) -> None:
    """``save(tmp)`` beside ``path``, then rename it onto ``path`` (nothing half-written stays)."""
    tmp = atomic.sibling(path)
    try:
        save(tmp)
        atomic.commit(tmp, path)
    finally:
        atomic.remove(tmp)


def _save_weights(model: Any, path: Path) -> None:
    _save_atomically(model.save_weights, path)


def _save_model(model: Any, path: Path) -> None:
    _save_atomically(model.save, path)


def _check_input_shape(ds: Any, spec: Any, dataset: str) -> None:
    """Another dataset than the entry's (fine-tuning): its inputs must have the model's shape."""
    x_spec = ds.element_spec[0] if isinstance(ds.element_spec, tuple) else ds.element_spec
    shape = getattr(x_spec, "shape", None)
    if shape is not None and tuple(shape) != tuple(spec.input_shape):
        raise DatasetError(f"dataset {dataset!r} gives inputs of shape {tuple(shape)}, but {spec.name} takes "
                           f"{tuple(spec.input_shape)} (see `topdown-zoo info {spec.name}`); reshape or resize "
                           "your data to that shape")


def _start_from(model: Any, spec: Any, init: dict) -> None:
    """Fine-tuning: load the recipe's ``init.weights`` into the freshly built model."""
    from topdown_zoo import hub

    skipped = hub.load_weights_into(model, spec, init["weights"], skip_mismatch=init["skip_mismatch"])
    print(f"initialised {spec.name} from {init['weights']}"
          + (f"; kept fresh (shapes differ): {', '.join(skipped)}" if skipped else ""), file=sys.stderr)


def _plot_examples(spec: Any, recipe: dict) -> Any:
    """Test examples for the hub folder's pictures (:func:`topdown_zoo.plots.load_examples`)."""
    from topdown_zoo.plots import load_examples

    return load_examples(spec, recipe=recipe)


def _package(model: Any, out: Path, metrics: dict, recipe: dict, plots: Any = None,
             history: Path | None = None) -> None:
    """Package into ``out``, replacing it atomically (the caller checked that it may)."""
    from topdown_zoo import hub

    hub.package(model, out, metrics=metrics, recipe=recipe, overwrite=True, plots=plots, history=history)

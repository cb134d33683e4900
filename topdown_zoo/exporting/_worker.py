"""Export a model made on another Keras backend (JAX, PyTorch) through a TensorFlow subprocess.

tf2onnx and SavedModel need TensorFlow tracing. The parent saves the prepared model's Keras config
(``keras.saving.serialize_keras_object``) and weights (``.weights.h5``, backend-neutral) and the
check inputs to a temporary folder, then runs ``python -m topdown_zoo.exporting._worker JOB.json``
with ``KERAS_BACKEND=tensorflow``. The worker rebuilds the model, writes the artifact and runs it
on the check inputs (ONNX Runtime / TensorFlow); the parent compares those outputs with the
original backend's Keras outputs. A zoo error in the worker is raised again, same class and
message, in the parent.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo import errors
from topdown_zoo.errors import ExportError, TopdownZooError


def export_in_tensorflow(model: Any, fmt: str, path: Path, outputs: str, opset: int | None,
                         metadata: Mapping[str, Any], feeds: Sequence[Mapping[str, np.ndarray]]
                         ) -> list[dict[str, np.ndarray]]:
    """Write ``model``'s artifact to ``path`` in a TensorFlow subprocess; returns the artifact's
    outputs on each of ``feeds`` (named inputs)."""
    import keras

    module = type(model).__module__
    if module == "__main__":
        raise ExportError(f"{type(model).__name__} is defined in __main__, which the TensorFlow export subprocess "
                          "cannot import: define the model class in an importable module")
    with tempfile.TemporaryDirectory(prefix="topdown_zoo_export_") as tmp:
        folder = Path(tmp)
        config = keras.saving.serialize_keras_object(model)
        config.pop("compile_config", None)  # inference only
        try:
            (folder / "model.json").write_text(json.dumps(config))
        except TypeError as err:
            raise ExportError(f"the Keras config of {metadata['model']} cannot be saved as JSON for the "
                              f"TensorFlow export: {err}") from err
        model.save_weights(folder / "model.weights.h5")
        for i, feed in enumerate(feeds):
            _save(folder / f"feed{i}.npz", feed)
        job = {"module": module, "model": str(folder / "model.json"), "weights": str(folder / "model.weights.h5"),
               "format": fmt, "path": str(path), "outputs": outputs, "opset": opset, "metadata": dict(metadata),
               "feeds": [str(folder / f"feed{i}.npz") for i in range(len(feeds))],
               "result": str(folder / "result.json")}
        (folder / "job.json").write_text(json.dumps(job, default=str))
        proc = subprocess.run([sys.executable, "-m", "topdown_zoo.exporting._worker", str(folder / "job.json")],
                              env=_tensorflow_env(), capture_output=True, text=True)
        result_file = folder / "result.json"
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
        if "error" in result:
            cls = getattr(errors, result["error"], ExportError)
            if not (isinstance(cls, type) and issubclass(cls, TopdownZooError)):
                cls = ExportError
            raise cls(result["message"])
        if proc.returncode != 0 or "outputs" not in result:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise ExportError(f"the TensorFlow export of {metadata['model']} failed in its subprocess (exit "
                              f"{proc.returncode}): {lines[-1] if lines else 'no message'}")
        return [_load(f) for f in result["outputs"]]


def _tensorflow_env() -> dict[str, str]:
    """This process's environment with the TensorFlow backend and this process's import path."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    return env


def _save(npz: Path, arrays: Mapping[str, np.ndarray]) -> None:
    named: dict[str, Any] = dict(arrays)
    np.savez(npz, **named)


def _load(npz: str) -> dict[str, np.ndarray]:
    with np.load(npz) as data:
        return {k: data[k] for k in data.files}


def _rebuild(module: str, config_file: str, weights_file: str) -> Any:
    import importlib

    import keras

    from topdown_zoo.api import register_keras_classes

    register_keras_classes()  # the zoo's classes (a config may name shared layers)
    importlib.import_module(module)  # the model's own class (also one defined outside the zoo)
    model = keras.saving.deserialize_keras_object(json.loads(Path(config_file).read_text()))
    model(model.example_inputs(batch=1), training=False)  # variables a family makes on first call
    model.load_weights(weights_file)
    return model


def _run_job(job: Mapping[str, Any]) -> list[str]:
    from topdown_zoo.api import quiet_import

    quiet_import("tensorflow", "keras")  # without TensorFlow's start-up banners
    import keras

    from topdown_zoo.exporting.parity import run_for_check
    from topdown_zoo.exporting.signature import InputSignature
    from topdown_zoo.exporting.writers import write_artifact

    if keras.backend.backend() != "tensorflow":
        raise errors.BackendError(f"the export worker runs on the {keras.backend.backend()} backend; "
                                  "set KERAS_BACKEND=tensorflow")
    model = _rebuild(job["module"], job["model"], job["weights"])
    signature = InputSignature.infer(model)
    fmt, path = job["format"], Path(job["path"])
    write_artifact(model, signature, job["outputs"], fmt, path, job["opset"], job["metadata"])
    written = []
    for i, feed_file in enumerate(job["feeds"]):
        feed = _load(feed_file)
        got = run_for_check(path, fmt, feed, f"the {fmt} export of {job['metadata']['model']}")
        out = Path(job["result"]).with_name(f"outputs{i}.npz")
        _save(out, got)
        written.append(str(out))
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m topdown_zoo.exporting._worker JOB.json``: run one export job (see module docstring)."""
    job = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text())
    try:
        result: dict[str, Any] = {"outputs": _run_job(job)}
    except TopdownZooError as err:
        result = {"error": type(err).__name__, "message": str(err)}
    Path(job["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()

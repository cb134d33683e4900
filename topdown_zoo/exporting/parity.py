"""The parity check: Keras's own outputs, the artifact's outputs (ONNX Runtime / TensorFlow), and
their comparison (max abs difference against a tolerance)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.errors import ExportError, ExportParityError
from topdown_zoo.exporting.signature import InputSignature, forward_fn
from topdown_zoo.exporting.writers import FORMATS, check_option

DEFAULT_ATOL = 1e-4


def keras_outputs(model: Any, signature: InputSignature, arrays: Any, outputs: str = "final") -> dict[str, np.ndarray]:
    """What the artifact must return: Keras's own outputs on ``arrays`` (run eagerly, any backend)."""
    from keras import ops

    forward = forward_fn(model, signature, outputs)
    return {k: np.asarray(ops.convert_to_numpy(v)) for k, v in forward(*signature.normalise(arrays)).items()}


def run_artifact(path: str | Path, format: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an exported artifact (ONNX Runtime / TensorFlow) on named inputs; returns named outputs."""
    fmt = check_option("format", format, FORMATS)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, dict(feed))))
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    fn = loaded.signatures["serving_default"]
    result = fn(**{k: tf.constant(v) for k, v in feed.items()})
    return {k: v.numpy() for k, v in result.items()}


def run_for_check(path: str | Path, fmt: str, feed: Mapping[str, np.ndarray], what: str) -> dict[str, np.ndarray]:
    """:func:`run_artifact`, a runtime's failure as an :class:`ExportError` naming ``what``."""
    runtime = "ONNX Runtime" if fmt == "onnx" else "TensorFlow"
    try:
        return run_artifact(path, fmt, feed)
    except Exception as err:  # noqa: BLE001 - runtimes raise their own exception types
        raise ExportError(f"{what} does not run in {runtime}: {type(err).__name__}: {err}") from err


def compare(expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], atol: float = DEFAULT_ATOL,
            what: str = "export") -> float:
    """Max abs difference over every output; raises :class:`ExportParityError` above ``atol``."""
    if set(expected) != set(got):
        raise ExportParityError(f"{what}: outputs {sorted(got)} instead of {sorted(expected)}")
    worst, where = 0.0, None
    for key, want in expected.items():
        have = np.asarray(got[key])
        if have.shape != want.shape:
            raise ExportParityError(f"{what}: output {key!r} has shape {have.shape}, Keras gives {want.shape}")
        diff = float(np.max(np.abs(have.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
        if not np.isfinite(diff):
            diff = float("inf")
        if diff > worst or where is None:
            worst, where = diff, key
    if worst > atol:
        raise ExportParityError(
            f"{what} differs from Keras: max abs difference {worst:.3g} in output {where!r} "
            f"(tolerance {atol:g}); the artifact was not written"
        )
    return worst

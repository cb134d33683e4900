"""Export zoo models to ONNX or a TensorFlow SavedModel, with a parity check against Keras.

>>> import topdown_zoo as tz
>>> tz.export("cbl-cnn-mnist5k", "out/cbl.onnx")                        # trained weights, ONNX
>>> tz.export(model, "out/cbl_savedmodel", format="saved_model", iterations=4, outputs="steps")

What the artifact holds:

* **inputs** — the model's ``input_specs()`` (names, dtypes, per-example shapes), batch axis
  dynamic: ``input`` for single-input models, e.g. ``image`` (float32) and ``task`` (int32,
  shape ``(batch,)``) for the task-conditioned BU-TD models;
* **outputs** — ``output``: the model's final output (``model(x)``); with ``outputs="steps"``
  also ``steps``: ``model.step_outputs(x)`` stacked on axis 1, shape ``(batch, steps, ...)``
  (a one-pass model has one step);
* **the iterative loop unrolled, or as a loop** — the final output is traced from ``model.call``;
  a family whose ``call`` runs a fixed-count ``fori_loop`` / ``while_loop`` (NGC settling, CBL
  refinement) is traced unrolled by default (``loops="unrolled"``) and as one ONNX ``Loop`` /
  ``tf.while`` loop with ``loops="loop"``; CBL's anytime loop (``tolerance > 0``) is always a loop.
  ``outputs="steps"`` reads every step out of ``step_outputs`` (unrolled);
* **metadata** — the registry name, iterations, input names, input range, the preprocessing
  the model expects (``preprocessing_in_artifact``: whether the artifact applies it itself,
  ``preprocess=True``) and the class names of the outputs (``class_names``, or null): ONNX
  ``metadata_props`` (key ``topdown_zoo``, JSON), and
  ``assets.extra/topdown_zoo.json`` in a SavedModel (TensorFlow Serving ignores that folder),
  with the class names also in ``assets.extra/class_names.txt``, one a line.

The SavedModel has the signatures ``serving_default`` and ``serve`` (as TensorFlow Serving
calls them) taking the named inputs and returning a dict of named outputs.

A model made on the JAX or PyTorch backend is exported through a TensorFlow subprocess
(:mod:`topdown_zoo.exporting._worker`) and checked against its own backend's Keras outputs.

Modules: :mod:`.signature` (inputs and outputs from the model contract), :mod:`.prepare` (the
model that is exported, its metadata), :mod:`.writers` (TensorFlow tracing, tf2onnx, files),
:mod:`.onnx_graph` (fixes of tf2onnx's graph), :mod:`.parity` (the check), :mod:`._worker`
(other backends). Nothing here imports TensorFlow until an export runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from topdown_zoo import atomic
from topdown_zoo.errors import BackendError, ExportError, ExportParityError
from topdown_zoo.exporting import parity
from topdown_zoo.exporting.onnx_graph import MAX_OPSET
from topdown_zoo.exporting.parity import DEFAULT_ATOL, compare, keras_outputs, run_artifact
from topdown_zoo.exporting.prepare import (
    float32_copy,
    iteration_key,
    metadata,
    resolve_model,
    with_iterations,
    with_preprocessing,
)
from topdown_zoo.exporting.signature import InputSignature, forward_fn
from topdown_zoo.exporting.writers import (
    FORMATS,
    METADATA_KEY,
    SAVED_MODEL_CLASS_NAMES,
    SAVED_MODEL_METADATA,
    check_option,
    check_target,
    require_tools,
    write_artifact,
)

OUTPUTS = ("final", "steps")
LOOPS = ("loop", "unrolled")

__all__ = [
    "DEFAULT_ATOL", "FORMATS", "MAX_OPSET", "METADATA_KEY", "OUTPUTS", "SAVED_MODEL_CLASS_NAMES", "SAVED_MODEL_METADATA",
    "BackendError",
    "ExportError", "ExportParityError", "InputSignature", "compare", "export", "forward_fn", "iteration_key",
    "keras_outputs", "run_artifact",
]


def export(
    model: Any,
    path: str | Path,
    format: str = "onnx",
    iterations: int | None = None,
    outputs: str = "final",
    check: bool = True,
    sample_inputs: Any = None,
    opset: int | None = None,
    atol: float = DEFAULT_ATOL,
    force: bool = False,
    preprocess: bool = False,
    loops: str = "unrolled",
) -> Path:
    """Export ``model`` to ONNX or a TensorFlow SavedModel and check it against Keras.

    Args:
        model: a built zoo model (any Keras backend) or a registry name (loaded with its trained
            weights through :func:`topdown_zoo.load`; a model without published weights is
            created with random weights and a warning).
        path: the file (ONNX, conventionally ``*.onnx``) or folder (SavedModel) to write. An
            earlier export there is replaced (atomically) only once the new one has passed its
            check; anything else at ``path`` is refused unless ``force``.
        format: ``"onnx"`` or ``"saved_model"``.
        iterations: override the step count (the config key ``model.step_key``) in the artifact:
            a copy made by ``model.with_config`` with the same weights. Refused for a one-pass
            model and where the weights depend on the step count.
        outputs: ``"final"`` (the output of ``model(x)``) or ``"steps"`` (that, plus every step
            of ``model.step_outputs(x)`` stacked on axis 1).
        check: run the artifact in ONNX Runtime / TensorFlow on ``sample_inputs`` (two batch
            sizes) and raise :class:`ExportParityError` when it differs from Keras by more than
            ``atol``.
        sample_inputs: example inputs (an array, a tuple/list of arrays in ``input_specs`` order
            or a dict name → array) for the check. Default: ``model.example_inputs`` in the
            registry entry's input range.
        opset: ONNX opset (tf2onnx's default 15 when None; at most 18).
        atol: tolerance of the check (max abs difference, float32).
        force: replace whatever is at ``path`` (a file or folder that is not an export of
            the zoo), still only once the new artifact has passed its check.
        preprocess: the artifact takes raw inputs (e.g. ``uint8`` images 0…255) and applies the
            registry entry's per-pixel preprocessing itself, as ``tz.load(name, preprocess=True)``
            does (a model loaded that way is exported so anyway). Refused (:class:`ExportError`)
            where the preprocessing is not a per-pixel affine map.
        loops: ``"unrolled"`` (default): a fixed-count settling / refinement loop is traced with
            one copy of the step per iteration, a straight graph that ONNX Runtime runs without its
            ``Loop`` operator's per-iteration cost (1.4–2.1× Keras's batch-64 throughput for the
            shipped CBL, GNCN and Conv-NGC models against 0.7–1.9× as a loop, docs/benchmarks.md);
            ``"loop"``: one ONNX ``Loop`` / ``tf.while`` holding one copy of the step, so the file
            does not grow with T (``topdown_zoo.models.loops``; docs/export.md). CBL's anytime loop
            (``tolerance > 0``) stays a loop either way: when it exits depends on the data.
            Recorded in the metadata.

    Returns:
        The path written.

    Raises:
        ExportError: an option, path or model that cannot be exported as asked, or a ``path``
            that holds something else than an earlier export (without ``force``).
        ExportParityError: the artifact differs from Keras by more than ``atol``.
        BackendError: TensorFlow, tf2onnx, onnx or onnxruntime is not installed.
    """
    fmt = check_option("format", format, FORMATS)
    outputs = check_option("outputs", outputs, OUTPUTS)
    loops = check_option("loops", loops, LOOPS)
    if opset is not None:
        if fmt != "onnx":
            raise ExportError("opset applies to format='onnx' only")
        if isinstance(opset, bool) or not isinstance(opset, int) or not 7 <= opset <= MAX_OPSET:
            raise ExportError(f"opset={opset!r} is not allowed; tf2onnx 1.17 writes opsets 7 to {MAX_OPSET}")
    path = Path(path)
    if fmt == "onnx" and path.suffix.lower() != ".onnx":
        raise ExportError(f"an ONNX export must go to a file ending in .onnx, got {str(path)!r}")
    if fmt == "saved_model" and path.suffix:
        raise ExportError(f"a SavedModel is a folder; give a path without a suffix, got {str(path)!r}")
    require_tools(fmt, check)
    check_target(path, fmt, bool(force))

    model = with_preprocessing(resolve_model(model), bool(preprocess))
    signature = InputSignature.infer(model)
    arrays = signature.normalise(sample_inputs) if sample_inputs is not None else signature.random_inputs(batch=3)
    model = with_iterations(float32_copy(model), iterations)
    signature = InputSignature.infer(model)
    info = metadata(model, signature, outputs, iterations, loops)
    # the batch axis must really be dynamic: check a second batch size
    feeds = [signature.feed(arrays), signature.feed([a[:1] for a in arrays])]

    import keras

    tmp = atomic.sibling(path)
    what = f"the {fmt} export of {info['model']}"
    try:
        if keras.backend.backend() == "tensorflow":
            write_artifact(model, signature, outputs, fmt, tmp, opset, info)
            got = [parity.run_for_check(tmp, fmt, feed, what) for feed in feeds] if check else []
        else:
            from topdown_zoo.exporting._worker import export_in_tensorflow

            got = export_in_tensorflow(model, fmt, tmp, outputs, opset, info, feeds if check else [])
        for feed, artifact, label in zip(feeds, got, (what, f"{what} (batch 1)")):
            compare(keras_outputs(model, signature, list(feed.values()), outputs), artifact, atol, what=label)
        atomic.commit(tmp, path)
    finally:
        atomic.remove(tmp)
    return path

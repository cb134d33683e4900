"""Export zoo models to ONNX or a TensorFlow SavedModel, with a parity check against Keras.

>>> import topdown_zoo as tz
>>> tz.export("cbl-cnn-mnist5k", "out/cbl.onnx")                        # trained weights, ONNX
>>> tz.export(model, "out/cbl_savedmodel", format="saved_model", iterations=4, outputs="steps")

What the artifact holds:

* **inputs** — batch axis dynamic (``None``); one input named ``input`` for single-input models,
  ``image`` (float32) and ``task`` (int32, shape ``(batch,)``) for the task-conditioned BU-TD
  models, or the keys / ``input_<i>`` names of ``sample_inputs`` when given;
* **outputs** — ``output``: the model's final output (``model(x)``); with ``outputs="steps"``
  also ``steps``: every refinement step ``refine(x)`` stacked on axis 1, shape
  ``(batch, steps, ...)``;
* **the iterative loop as a loop** — the final output is traced from ``model.call``, so a family
  whose ``call`` runs ``keras.ops.while_loop`` / ``fori_loop`` (CBL, NGC) exports an ONNX
  ``Loop`` / a ``tf.while`` loop, not a copy of the graph per step. Families whose ``call``
  unrolls a fixed Python loop (ConvRNN: one set of batch-norm statistics per step) export
  unrolled. ``outputs="steps"`` reads every step out of ``refine`` (unrolled);
* **metadata** — the registry name, iterations, input names, input range and the preprocessing
  the model expects: ONNX ``metadata_props`` (key ``topdown_zoo``, JSON), and
  ``assets.extra/topdown_zoo.json`` in a SavedModel (TensorFlow Serving ignores that folder).

The SavedModel has the signatures ``serving_default`` and ``serve`` (as TensorFlow Serving
calls them) taking the named inputs and returning a dict of named outputs.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from topdown_zoo.errors import TopdownZooError

FORMATS = ("onnx", "saved_model")
OUTPUTS = ("final", "steps")
DEFAULT_ATOL = 1e-4
#: tf2onnx 1.17 writes opsets up to 18; its default is 15.
MAX_OPSET = 18
METADATA_KEY = "topdown_zoo"
SAVED_MODEL_METADATA = Path("assets.extra") / "topdown_zoo.json"
_ITERATION_KEYS = ("iterations", "steps")  # CBL / ConvRNN call it iterations, NGC steps


class ExportError(TopdownZooError):
    """An export that cannot be done as asked (format, options, model)."""


class ExportParityError(ExportError):
    """The exported artifact's outputs differ from Keras by more than the tolerance."""


# ------------------------------------------------------------------------------ public API
def export(
    model,
    path,
    format: str = "onnx",
    iterations: int | None = None,
    outputs: str = "final",
    check: bool = True,
    sample_inputs=None,
    opset: int | None = None,
    atol: float = DEFAULT_ATOL,
) -> Path:
    """Export ``model`` to ONNX or a TensorFlow SavedModel and check it against Keras.

    Args:
        model: a zoo ``keras.Model`` or a registry name (loaded with its trained weights through
            :func:`topdown_zoo.load`; a model without published weights is created with random
            weights and a warning).
        path: the file (ONNX, conventionally ``*.onnx``) or folder (SavedModel) to write. An
            existing artifact there is replaced only once the new one has passed its check.
        format: ``"onnx"`` or ``"saved_model"``.
        iterations: override the number of refinement steps in the artifact (the model is rebuilt
            from its config with the new count and the weights are copied over).
        outputs: ``"final"`` (the output of ``model(x)``) or ``"steps"`` (that, plus every
            refinement step of ``model.refine(x)`` stacked on axis 1).
        check: run the artifact in ONNX Runtime / TensorFlow on ``sample_inputs`` (two batch
            sizes) and raise :class:`ExportParityError` when it differs from Keras by more than
            ``atol``.
        sample_inputs: example inputs (an array, a tuple/list of arrays or a dict name → array)
            for the check; they also fix the input signature (batch axis left dynamic). Default:
            random inputs in the registry entry's input range.
        opset: ONNX opset (tf2onnx's default 15 when None; at most 18).
        atol: tolerance of the check (max abs difference, float32).

    Returns:
        The path written.
    """
    fmt = _check_choice("format", format, FORMATS)
    outputs = _check_choice("outputs", outputs, OUTPUTS)
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

    model = _resolve_model(model)
    signature = InputSignature.infer(model, sample_inputs)
    if sample_inputs is None:
        sample_inputs = signature.random_inputs(model, batch=3)
    sample_inputs = signature.normalise(sample_inputs)
    model = _float32_copy(model, signature, sample_inputs)
    model = _with_iterations(model, iterations, signature, sample_inputs)
    if outputs == "steps" and not callable(getattr(model, "refine", None)):
        raise ExportError(
            f"outputs='steps' needs a model with refine(x) (per-step outputs); {type(model).__name__} has none. "
            "Use outputs='final'."
        )
    forward = _forward_fn(model, signature, outputs)
    metadata = _metadata(model, signature, outputs, iterations)

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        if fmt == "onnx":
            _write_onnx(model, forward, signature, tmp, opset, metadata)
        else:
            _write_saved_model(model, forward, signature, tmp, metadata)
        if check:
            what = f"the {fmt} export of {metadata['model']}"
            expected = keras_outputs(model, signature, sample_inputs, outputs)
            compare(expected, _run_for_check(tmp, fmt, signature.feed(sample_inputs), what), atol, what=what)
            # the batch axis must really be dynamic: run a second batch size
            one = {k: v[:1] for k, v in signature.feed(sample_inputs).items()}
            expected_1 = keras_outputs(model, signature, list(one.values()), outputs)
            compare(expected_1, _run_for_check(tmp, fmt, one, what), atol, what=f"{what} (batch 1)")
        _replace(tmp, path)
    finally:
        _remove(tmp)
    return path


# ------------------------------------------------------------------------------ inputs
class InputSignature:
    """Names, per-example shapes and dtypes of the model's inputs, and how to call the model."""

    def __init__(self, names: Sequence[str], shapes: Sequence[tuple], dtypes: Sequence[str], structure: str):
        self.names, self.shapes, self.dtypes = list(names), [tuple(s) for s in shapes], list(dtypes)
        self.structure = structure  # "single", "tuple" or "dict"

    @classmethod
    def infer(cls, model, sample_inputs=None) -> "InputSignature":
        if sample_inputs is not None:
            if isinstance(sample_inputs, Mapping):
                names, arrays, structure = list(sample_inputs), list(sample_inputs.values()), "dict"
            elif isinstance(sample_inputs, (tuple, list)):
                arrays = list(sample_inputs)
                names, structure = [f"input_{i}" for i in range(len(arrays))], "tuple"
            else:
                names, arrays, structure = ["input"], [sample_inputs], "single"
            arrays = [np.asarray(a) for a in arrays]
            return cls(names, [a.shape[1:] for a in arrays], [_dtype_name(a.dtype) for a in arrays], structure)
        build = (model.get_build_config() or {}).get("input_shape") if hasattr(model, "get_build_config") else None
        if build is None:
            raise ExportError(
                f"cannot tell the input shape of {type(model).__name__}: build or call the model first, "
                "or pass sample_inputs="
            )
        if _is_task_conditioned(model):  # BU-TD: (image, task id)
            image = tuple(build[0]) if isinstance(build[0], (tuple, list)) else tuple(build)
            return cls(["image", "task"], [image[1:], ()], ["float32", "int32"], "tuple")
        if isinstance(build, (tuple, list)) and build and isinstance(build[0], (tuple, list)):
            return cls([f"input_{i}" for i in range(len(build))], [tuple(s)[1:] for s in build],
                       ["float32"] * len(build), "tuple")
        return cls(["input"], [tuple(build)[1:]], ["float32"], "single")

    def normalise(self, sample_inputs) -> list[np.ndarray]:
        """The sample inputs as a list of arrays in signature order."""
        if isinstance(sample_inputs, Mapping):
            missing = [n for n in self.names if n not in sample_inputs]
            if missing:
                raise ExportError(f"sample_inputs lacks {', '.join(missing)}; the model takes {', '.join(self.names)}")
            arrays = [sample_inputs[n] for n in self.names]
        elif isinstance(sample_inputs, (tuple, list)):
            arrays = list(sample_inputs)
        else:
            arrays = [sample_inputs]
        if len(arrays) != len(self.names):
            raise ExportError(f"the model takes {len(self.names)} input(s) ({', '.join(self.names)}); "
                              f"sample_inputs has {len(arrays)}")
        out = [np.asarray(a, dtype=d) for a, d in zip(arrays, self.dtypes)]
        for name, a, shape in zip(self.names, out, self.shapes):
            if tuple(a.shape[1:]) != tuple(s if s is not None else a.shape[1 + i] for i, s in enumerate(shape)):
                raise ExportError(f"sample input {name!r} has shape {a.shape}; the model takes (batch, *{shape})")
        return out

    def feed(self, arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.names, arrays))

    def model_input(self, tensors: Sequence):
        if self.structure == "single":
            return tensors[0]
        if self.structure == "dict":
            return dict(zip(self.names, tensors))
        return tuple(tensors)

    def tensor_specs(self):
        import tensorflow as tf

        return [tf.TensorSpec((None, *shape), dtype, name=name)
                for name, shape, dtype in zip(self.names, self.shapes, self.dtypes)]

    def random_inputs(self, model, batch: int = 3, seed: int = 0) -> list[np.ndarray]:
        """Random inputs in the registry entry's input range ([0, 1] when none is recorded)."""
        rng = np.random.default_rng(seed)
        spec = _spec_of(model)
        low, high = (spec.input_range if spec is not None and spec.input_range else (0.0, 1.0))
        out = []
        for shape, dtype in zip(self.shapes, self.dtypes):
            shape = tuple(4 if s is None else s for s in shape)
            if dtype.startswith("int"):
                high_int = int(getattr(model, "num_tasks", 2))
                out.append(rng.integers(0, high_int, size=(batch, *shape)).astype(dtype))
            else:
                out.append(rng.uniform(low, high, size=(batch, *shape)).astype(dtype))
        return out

    def to_json(self) -> list[dict]:
        return [{"name": n, "shape": [None, *s], "dtype": d} for n, s, d in zip(self.names, self.shapes, self.dtypes)]


def _is_task_conditioned(model) -> bool:
    return hasattr(model, "num_tasks") and hasattr(model, "task_pass")


def _dtype_name(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return "float32"
    if dtype.kind in "iub":
        return "int32" if dtype.itemsize <= 4 else "int64"
    raise ExportError(f"sample inputs of dtype {dtype} are not supported; use float32 or integer arrays")


# ------------------------------------------------------------------------------ model preparation
def _resolve_model(model):
    if isinstance(model, (str, os.PathLike)):
        import topdown_zoo
        from topdown_zoo.errors import WeightsNotAvailableError

        name = str(model)
        try:
            return topdown_zoo.load(name)
        except WeightsNotAvailableError:
            warnings.warn(f"{name} has no trained weights; exporting a randomly initialised model", stacklevel=3)
            return topdown_zoo.create(name)
    import keras

    if not isinstance(model, keras.Model):
        raise ExportError(f"export() takes a keras.Model or a registry name, got {type(model).__name__}")
    if not model.built:
        raise ExportError(f"{type(model).__name__} is not built: build or call it once before exporting")
    return model


def _spec_of(model):
    name = getattr(model, "_zoo_spec_name", None)
    if name is None:
        return None
    from topdown_zoo.registry import get_spec

    try:
        return get_spec(name)
    except TopdownZooError:
        return None


def _rebuild(model, config: dict, signature: InputSignature, sample_inputs, what: str):
    """A new instance of ``model``'s class from ``config``, built, with ``model``'s weights."""
    try:
        new = type(model).from_config(config)
        if hasattr(model, "get_build_config") and model.get_build_config():
            new.build_from_config(model.get_build_config())
        new(signature.model_input([np.asarray(a[:1]) for a in sample_inputs]), training=False)
    except TopdownZooError:
        raise
    except Exception as err:  # noqa: BLE001 - a family that cannot be rebuilt this way
        raise ExportError(f"cannot rebuild {type(model).__name__} for {what}: {err}") from err
    old_w, new_w = model.weights, new.weights
    if len(old_w) != len(new_w) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(old_w, new_w)):
        return None
    for dst, src in zip(new_w, old_w):
        dst.assign(np.asarray(src.numpy(), dtype=dst.dtype))
    for attr in ("_zoo_spec_name", "_zoo_overrides"):
        if hasattr(model, attr):
            setattr(new, attr, getattr(model, attr))
    return new


def _float32_copy(model, signature, sample_inputs):
    """ONNX Runtime on CPU rejects bfloat16 graphs: export a float32 copy of a mixed-precision model."""
    policy = getattr(model.dtype_policy, "name", "float32")
    if policy == "float32":
        return model
    copy = _rebuild(model, {**model.get_config(), "dtype": "float32"}, signature, sample_inputs,
                    f"a float32 copy of its {policy} policy")
    if copy is None:
        raise ExportError(f"the float32 copy of {type(model).__name__} ({policy}) has different weights")
    return copy


def iteration_key(model) -> str | None:
    """The config key holding the number of refinement steps, or None for a one-pass model."""
    config = model.get_config()
    for key in _ITERATION_KEYS:
        if key in config and isinstance(config[key], int) and not isinstance(config[key], bool):
            return key
    return None


def _with_iterations(model, iterations, signature, sample_inputs):
    if iterations is None:
        return model
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ExportError(f"iterations={iterations!r} is not allowed; it must be an integer >= 0")
    key = iteration_key(model)
    if key is None:
        raise ExportError(
            f"iterations={iterations} given, but {type(model).__name__} has no number of refinement steps "
            f"(no {' / '.join(_ITERATION_KEYS)} in its config)"
        )
    config = {**model.get_config(), key: iterations}
    try:
        new = _rebuild(model, config, signature, sample_inputs, f"{key}={iterations}")
    except ExportError as err:
        raise ExportError(f"{type(model).__name__} does not accept {key}={iterations}: {err.__cause__ or err}") from err
    if new is None:
        raise ExportError(
            f"{type(model).__name__} with {key}={iterations} has different weights than with "
            f"{key}={config and model.get_config()[key]} (per-step parameters): the trained weights do not fit it, "
            "so it cannot be exported with another iteration count"
        )
    return new


# ------------------------------------------------------------------------------ tracing
def _forward_fn(model, signature: InputSignature, outputs: str):
    from keras import ops

    def forward(*tensors):
        x = signature.model_input(list(tensors))
        result = {"output": ops.cast(model(x, training=False), "float32")}
        if outputs == "steps":
            steps = model.refine(x, training=False)
            result["steps"] = ops.stack([ops.cast(s, "float32") for s in steps], axis=1)
        return result

    return forward


def keras_outputs(model, signature: InputSignature, arrays, outputs: str = "final") -> dict[str, np.ndarray]:
    """What the artifact must return: Keras's own outputs on ``arrays`` (run eagerly)."""
    forward = _forward_fn(model, signature, outputs)
    return {k: np.asarray(v) for k, v in forward(*signature.normalise(arrays)).items()}


def _archive(model, forward, signature):
    from keras.export import ExportArchive

    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", forward, input_signature=signature.tensor_specs())
    return archive


def _write_saved_model(model, forward, signature, tmp: Path, metadata: dict):
    archive = _archive(model, forward, signature)
    _quietly(archive.write_out, str(tmp), verbose=False)
    (tmp / SAVED_MODEL_METADATA).parent.mkdir(parents=True, exist_ok=True)
    (tmp / SAVED_MODEL_METADATA).write_text(json.dumps(metadata, indent=2, default=str))


def _write_onnx(model, forward, signature, tmp: Path, opset, metadata: dict):
    import onnx
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    archive = _archive(model, forward, signature)
    archive._filter_and_track_resources()
    concrete = archive._get_concrete_fn("serve")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()  # numpy 2 compatibility, as Keras's own ONNX export does
    try:
        proto, _ = _quietly(tf2onnx.convert.from_function, concrete, input_signature=signature.tensor_specs(),
                            opset=opset)
    except Exception as err:  # noqa: BLE001 - tf2onnx raises plain exceptions
        raise ExportError(f"tf2onnx could not convert {metadata['model']}: {type(err).__name__}: {err}") from err
    traced = concrete.get_concrete_function() if hasattr(concrete, "get_concrete_function") else concrete
    _name_onnx_outputs(proto, traced)
    _fix_negative_conv_transpose_pads(proto.graph, _onnx_opset(proto))
    stray = _bind_captured_constants(proto, traced, signature.names)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, default=str)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0]
        raise ExportError(
            f"the ONNX graph of {metadata['model']} is not valid ONNX: {first} (tf2onnx 1.17 cannot convert this "
            "TensorFlow op, e.g. random sampling at inference time); use format='saved_model'"
        ) from err
    if stray:
        raise ExportError(
            f"tf2onnx left tensors of {metadata['model']} unconnected (graph inputs {', '.join(stray)}) that are "
            "neither the model's inputs nor constants it captures; use format='saved_model'"
        )
    onnx.save(proto, str(tmp))


def _captured_constants(concrete) -> dict[str, np.ndarray]:
    """``{placeholder name: value}`` of the non-variable tensors the traced function captures
    from outside (tensors a model made eagerly, e.g. in ``build``, and keeps as attributes)."""
    out = {}
    for external, internal in concrete.graph.captures:
        if internal.dtype.name == "resource" or not hasattr(external, "numpy"):
            continue
        try:
            out[internal.name] = np.asarray(external.numpy())
        except Exception:  # noqa: BLE001 - a symbolic capture has no value: leave it to the stray check
            continue
    return out


def _bind_captured_constants(proto, concrete, input_names) -> list[str]:
    """tf2onnx 1.17's ``from_function`` takes every non-resource input of the concrete function as a
    model input, and that includes the placeholders of captured eager tensors (variables are frozen
    into constants, eager tensors are not): the ONNX graph asks for them as extra inputs, which the
    nodes (a ``Loop`` too, when the settling loop captures them) really read. Turn each into an
    initializer holding the captured value. Returns the names of graph inputs still unexplained."""
    from onnx import numpy_helper

    captured = _captured_constants(concrete)
    keep, stray = [], []
    for graph_input in proto.graph.input:
        name = graph_input.name
        if name in input_names:
            keep.append(graph_input)
        elif name in captured:
            proto.graph.initializer.append(numpy_helper.from_array(captured[name], name))
        else:
            keep.append(graph_input)
            stray.append(name)
    if len(keep) != len(proto.graph.input):
        del proto.graph.input[:]
        proto.graph.input.extend(keep)
    return stray


def _onnx_opset(proto) -> int:
    return max((op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")), default=MAX_OPSET)


def _fix_negative_conv_transpose_pads(graph, opset: int) -> int:
    """tf2onnx turns a TensorFlow ``conv2d_transpose`` whose output is larger than the full
    transposed convolution (a stride-2 'valid' layer mirrored onto an even size: BU-TD's TD
    pass) into an ONNX ``ConvTranspose`` with negative ``pads``, which ONNX Runtime refuses.
    Negative end pads mean "extend the output with zeros", so rewrite each such node as a
    ``ConvTranspose`` with the non-negative part of the pads, followed by a zero ``Pad`` (and
    the bias added after the pad, as TensorFlow adds it to every output position).
    Returns the number of nodes rewritten (Loop/If bodies included)."""
    import onnx
    from onnx import helper

    rewritten = 0
    new_nodes = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                rewritten += _fix_negative_conv_transpose_pads(attr.g, opset)
            for g in attr.graphs:
                rewritten += _fix_negative_conv_transpose_pads(g, opset)
        pads_attr = next((a for a in node.attribute if a.name == "pads"), None)
        if node.op_type != "ConvTranspose" or pads_attr is None or min(pads_attr.ints, default=0) >= 0:
            new_nodes.append(node)
            continue
        pads = list(pads_attr.ints)
        rank = len(pads) // 2  # spatial dims
        extend = [max(-p, 0) for p in pads]
        pads_attr.ints[:] = [max(p, 0) for p in pads]
        out = node.output[0]
        tag = f"{node.name or out}__pad_fix"
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if bias:
            del node.input[2]
        node.output[0] = f"{tag}/convt"
        new_nodes.append(node)
        pad_values = [0, 0] + extend[:rank] + [0, 0] + extend[rank:]
        padded = f"{tag}/padded" if bias else out
        if opset >= 11:
            new_nodes.append(helper.make_node(
                "Constant", [], [f"{tag}/pads"], name=f"{tag}/pads",
                value=helper.make_tensor(f"{tag}/pads_value", onnx.TensorProto.INT64, [len(pad_values)], pad_values)))
            new_nodes.append(helper.make_node("Pad", [f"{tag}/convt", f"{tag}/pads"], [padded], name=f"{tag}/pad",
                                              mode="constant"))
        else:
            new_nodes.append(helper.make_node("Pad", [f"{tag}/convt"], [padded], name=f"{tag}/pad", mode="constant",
                                              pads=pad_values, value=0.0))
        if bias:
            shape = [1, -1] + [1] * rank
            new_nodes.append(helper.make_node(
                "Constant", [], [f"{tag}/bias_shape"], name=f"{tag}/bias_shape",
                value=helper.make_tensor(f"{tag}/bias_shape_value", onnx.TensorProto.INT64, [len(shape)], shape)))
            new_nodes.append(helper.make_node("Reshape", [bias, f"{tag}/bias_shape"], [f"{tag}/bias"],
                                              name=f"{tag}/bias_reshape"))
            new_nodes.append(helper.make_node("Add", [padded, f"{tag}/bias"], [out], name=f"{tag}/bias_add"))
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return rewritten


def _name_onnx_outputs(proto, concrete):
    """tf2onnx names outputs after TensorFlow tensors (``Identity:0``); rename them after the
    keys of the function's output dict (``output``, ``steps``)."""
    import tensorflow as tf

    structured = concrete.structured_outputs
    keys = sorted(structured) if isinstance(structured, dict) else []
    flat = tf.nest.flatten(structured)  # dicts flatten in sorted-key order, like the graph outputs
    if len(keys) != len(flat) or len(proto.graph.output) != len(flat):
        return
    rename = {}
    for out, key in zip(proto.graph.output, [k for k in keys]):
        rename[out.name] = key
    _rename_tensors(proto.graph, rename)


def _rename_tensors(graph, rename: dict[str, str]):
    for out in graph.output:
        out.name = rename.get(out.name, out.name)
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
        for attr in node.attribute:  # Loop / If bodies read outer-scope tensors by name
            if attr.g is not None and attr.g.ByteSize():
                _rename_inner(attr.g, rename)
            for g in attr.graphs:
                _rename_inner(g, rename)


def _rename_inner(graph, rename):
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        for attr in node.attribute:
            if attr.g is not None and attr.g.ByteSize():
                _rename_inner(attr.g, rename)


def _metadata(model, signature, outputs, iterations) -> dict:
    spec = _spec_of(model)
    key = iteration_key(model)
    import keras

    import topdown_zoo

    return {
        "model": getattr(model, "_zoo_spec_name", None) or type(model).__name__,
        "class": type(model).__name__,
        "iteration_key": key,
        "iterations": model.get_config()[key] if key else None,
        "iterations_override": iterations,
        "inputs": signature.to_json(),
        "outputs": ["output", "steps"] if outputs == "steps" else ["output"],
        "input_range": list(spec.input_range) if spec is not None and spec.input_range else None,
        "preprocessing": dict(spec.preprocessing) if spec is not None else {},
        "task": spec.task if spec is not None else None,
        "topdown_zoo_version": topdown_zoo.__version__,
        "keras_version": keras.__version__,
    }


# ------------------------------------------------------------------------------ running artifacts
def run_artifact(path, format: str, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an exported artifact (ONNX Runtime / TensorFlow) on named inputs; returns named outputs."""
    fmt = _check_choice("format", format, FORMATS)
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


def _run_for_check(path, fmt, feed, what):
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


# ------------------------------------------------------------------------------ files
def _replace(tmp: Path, path: Path):
    """Move the checked artifact into place; an existing one is swapped out, then deleted."""
    old = None
    if path.exists() or path.is_symlink():
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        if old is not None:
            os.replace(old, path)
        raise
    if old is not None:
        _remove(old)


def _remove(p: Path):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def _check_choice(what: str, value, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ExportError(f"{what}={value!r} is not allowed; use one of: {', '.join(repr(a) for a in allowed)}")
    return value


def _quietly(fn, *args, **kwargs) -> Any:
    """Run ``fn`` with TensorFlow / tf2onnx's INFO logging turned down."""
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        return fn(*args, **kwargs)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)

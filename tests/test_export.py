"""Export to ONNX / SavedModel: parity with Keras, loops kept as loops, dynamic batch, per-step
outputs, iteration overrides, atomic writes and clear errors.

The default run exports a representative subset (a feed-forward CNN, CBL with its while-loop,
per-step outputs, a ConvRNN, a two-input BU-TD model); ``-m slow`` exports every registry entry
(iterated at test time, so families added later are covered) in both formats.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from test_export_utils import sample_batch, small_model

import topdown_zoo as tz
from topdown_zoo.errors import BackendError, ExportError, ExportParityError, TopdownZooError
from topdown_zoo.exporting import InputSignature, compare, keras_outputs, run_artifact

DEFAULT_SUBSET = ["standard-cnn-mnist5k", "cbl-cnn-mnist5k", "blt-digitdebris-mnist5k", "butd-multimnist5k",
                  # settling loops; GNCN-PDH captures eager tensors (tf2onnx asks for them as inputs)
                  "gncn-pdh-mnist5k", "conv-ngc-natural32"]


def _op_types(graph) -> list[str]:
    """Every node type in an ONNX graph, inside Loop/If/Scan bodies too."""
    out = []
    for node in graph.node:
        out.append(node.op_type)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                out += _op_types(attr.g)
    return out


def _is_stochastic(model) -> bool:
    x = sample_batch(model, batch=2)
    sig = InputSignature.infer(model)
    a, b = (np.asarray(model(sig.model_input(x), training=False)) for _ in range(2))
    return not np.allclose(a, b)


def _path(tmp_path, fmt, stem="model"):
    return tmp_path / (f"{stem}.onnx" if fmt == "onnx" else stem)


def _export_and_verify(name, fmt, tmp_path, outputs="final"):
    model = small_model(name)
    x = sample_batch(model, batch=5, seed=7)
    path = tz.export(model, _path(tmp_path, fmt, name), format=fmt, outputs=outputs)
    assert path.exists()
    # independent re-check on inputs the export's own check never saw (batch 5 → dynamic batch)
    sig = InputSignature.infer(model)
    want = keras_outputs(model, sig, x, outputs)
    got = run_artifact(path, fmt, sig.feed(x))
    assert set(got) == ({"output", "steps"} if outputs == "steps" else {"output"})
    assert compare(want, got, 1e-4) <= 1e-4
    assert got["output"].shape[0] == 5
    return model, path


# ------------------------------------------------------------------------------ registry sweep
@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
@pytest.mark.parametrize("name", DEFAULT_SUBSET)
def test_export_representative_models(name, fmt, tmp_path):
    _export_and_verify(name, fmt, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
@pytest.mark.parametrize("name", tz.list_models())
def test_export_every_registry_entry(name, fmt, tmp_path):
    assert not _is_stochastic(small_model(name)), "every shipped architecture is deterministic at inference"
    model, path = _export_and_verify(name, fmt, tmp_path)
    if model.step_key is not None:
        _export_and_verify(name, fmt, tmp_path / "steps", outputs="steps")


def test_captured_eager_tensors_become_onnx_initializers(tmp_path):
    """tf2onnx turns the placeholders of tensors a traced function captures into graph inputs;
    the export binds them to their values, so the graph asks only for the model's input."""
    model = small_model("gncn-pdh-mnist5k")
    path = tz.export(model, tmp_path / "pdh.onnx")  # parity-checked against Keras by export itself
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["input"]
    x = sample_batch(model, batch=4, seed=3)
    np.testing.assert_allclose(run_artifact(path, "onnx", {"input": x[0]})["output"], np.asarray(model(x[0])),
                               atol=1e-4)


def test_random_inference_cannot_be_exported_to_onnx_and_leaves_nothing(tmp_path):
    model = small_model("conv-ngc-natural32", init_noise="always", iterations=2)
    assert _is_stochastic(model)
    with pytest.raises(ExportError, match="not valid ONNX"):
        tz.export(model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ loops
def test_cbl_onnx_keeps_the_refinement_loop_as_a_loop(tmp_path):
    model = small_model("cbl-cnn-mnist5k", iterations=3)
    path = tz.export(model, tmp_path / "cbl.onnx", loops="loop")
    graph = onnx.load(str(path)).graph
    top = [n.op_type for n in graph.node]
    assert top.count("Loop") == 1, top
    # one copy of the adapter/backbone graph inside the loop body, not one per step:
    # the number of convolutions does not grow with the iteration count
    convs_3 = _op_types(graph).count("Conv")
    path8 = tz.export(model, tmp_path / "cbl8.onnx", iterations=8, loops="loop")
    convs_8 = _op_types(onnx.load(str(path8)).graph).count("Conv")
    assert convs_3 == convs_8 > 0


@pytest.mark.parametrize("name", ["cbl-cnn-mnist5k", "gncn-pdh-mnist5k", "conv-ngc-natural32"])
def test_unrolled_loops_give_a_straight_graph_with_the_same_outputs(tmp_path, name):
    model = small_model(name, iterations=3)
    x = sample_batch(model, batch=4, seed=3)
    path = tz.export(model, tmp_path / "unrolled.onnx")  # the default; its own parity check runs too
    artifact = onnx.load(str(path))
    assert "Loop" not in _op_types(artifact.graph)
    assert json.loads(artifact.metadata_props[0].value)["loops"] == "unrolled"
    sig = InputSignature.infer(model)
    got = run_artifact(path, "onnx", sig.feed(x))
    compare(keras_outputs(model, sig, x, "final"), got, 1e-4, what=name)


def test_unrolled_cbl_holds_one_copy_of_the_step_per_iteration(tmp_path):
    model = small_model("cbl-cnn-mnist5k", iterations=2)
    convs = {t: _op_types(onnx.load(str(tz.export(model, tmp_path / f"t{t}.onnx", iterations=t,
                                                    loops="unrolled"))).graph).count("Conv") for t in (2, 4)}
    assert convs[4] > convs[2] > 0


def test_cbl_anytime_loop_stays_a_loop_when_unrolling(tmp_path):
    model = small_model("cbl-cnn-mnist5k", iterations=3).with_config(tolerance=0.5)
    path = tz.export(model, tmp_path / "anytime.onnx", loops="unrolled")
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("Loop") == 1


def test_unknown_loops_option_is_refused(tmp_path):
    with pytest.raises(ExportError, match="loops"):
        tz.export(small_model("cbl-cnn-mnist5k"), tmp_path / "m.onnx", loops="scan")
    assert list(tmp_path.iterdir()) == []


def test_cbl_saved_model_has_a_while_loop(tmp_path):
    import tensorflow as tf

    model = small_model("cbl-cnn-mnist5k")
    path = tz.export(model, tmp_path / "cbl", format="saved_model", loops="loop")
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    ops = {op.type for op in fn.graph.get_operations()}
    for f in fn.graph.as_graph_def().library.function:
        ops |= {n.op for n in f.node_def}
    assert ops & {"While", "StatelessWhile"}, sorted(ops)


def test_steps_outputs_every_refinement_step(tmp_path):
    model = small_model("cbl-cnn-mnist5k", iterations=3)
    x = sample_batch(model, batch=4)
    path = tz.export(model, tmp_path / "steps.onnx", outputs="steps")
    got = run_artifact(path, "onnx", {"input": x[0]})
    steps = got["steps"]
    assert steps.shape == (4, 4, 10)  # (batch, T + 1, classes)
    want = np.stack([np.asarray(s) for s in model.step_outputs(x[0])], axis=1)
    np.testing.assert_allclose(steps, want, atol=1e-4)
    np.testing.assert_allclose(steps[:, -1], got["output"], atol=1e-5)
    assert np.max(np.abs(steps[:, 0] - steps[:, -1])) > 1e-4  # refinement really changes y


def test_iterations_override_changes_the_artifact_and_keeps_the_weights(tmp_path):
    model = small_model("cbl-cnn-mnist5k", iterations=2)
    x = sample_batch(model, batch=3)[0]
    path = tz.export(model, tmp_path / "t5.onnx", iterations=5, outputs="steps")
    got = run_artifact(path, "onnx", {"input": x})
    assert got["steps"].shape[1] == 6
    want = np.stack([np.asarray(s) for s in model.with_config(iterations=5).step_outputs(x)], axis=1)
    np.testing.assert_allclose(got["steps"], want, atol=1e-4)
    # same weights: the first 3 steps equal the original model's T=2 refinement
    original = np.stack([np.asarray(s) for s in model.step_outputs(x)], axis=1)
    np.testing.assert_allclose(got["steps"][:, :3], original, atol=1e-4)
    meta = json.loads(onnx.load(str(path)).metadata_props[0].value)
    assert meta["iterations"] == 5 and meta["model"] == "cbl-cnn-mnist5k"
    assert model.iterations == 2  # the user's model is untouched


def test_iterations_override_for_a_one_pass_model_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="no number of refinement steps"):
        tz.export(small_model("standard-cnn-mnist5k"), tmp_path / "ff.onnx", iterations=3)


def test_steps_of_a_one_pass_model_is_its_single_step(tmp_path):
    model = small_model("standard-cnn-mnist5k")
    assert model.num_steps == 0
    x = sample_batch(model, batch=3)[0]
    got = run_artifact(tz.export(model, tmp_path / "ff.onnx", outputs="steps"), "onnx", {"input": x})
    assert got["steps"].shape == (3, 1, 10)
    np.testing.assert_allclose(got["steps"][:, 0], got["output"], atol=1e-6)


# ------------------------------------------------------------------------------ parity and files
def test_parity_failure_names_the_difference_and_leaves_nothing(tmp_path, monkeypatch):
    import topdown_zoo.exporting.parity as ex

    model = small_model("standard-cnn-mnist5k")
    real = ex.run_artifact

    def off_by_a_bit(path, fmt, feed):
        out = real(path, fmt, feed)
        return {k: v + 3e-3 for k, v in out.items()}

    monkeypatch.setattr(ex, "run_artifact", off_by_a_bit)
    with pytest.raises(ExportParityError, match=r"max abs difference 0\.003"):
        tz.export(model, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []  # no artifact, no temporary file


def test_existing_artifact_survives_a_failed_export_and_is_replaced_by_a_good_one(tmp_path):
    target = tmp_path / "m.onnx"
    tz.export(small_model("standard-cnn-mnist5k"), target)  # an earlier export of ours
    old = target.read_bytes()
    with pytest.raises(ExportError):
        tz.export(small_model("standard-cnn-mnist5k"), target, outputs="steps", iterations=2)
    assert target.read_bytes() == old
    tz.export(small_model("standard-cnn-mnist5k"), target)
    assert onnx.load(str(target)).graph.input[0].name == "input"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    # anything else at the path is the user's: refused unless force=True
    (tmp_path / "mine.onnx").write_bytes(b"not an export of ours")
    with pytest.raises(ExportError, match="force"):
        tz.export(small_model("standard-cnn-mnist5k"), tmp_path / "mine.onnx")
    assert (tmp_path / "mine.onnx").read_bytes() == b"not an export of ours"


def test_onnx_batch_axis_is_dynamic_and_metadata_records_preprocessing(tmp_path):
    model = small_model("standard-cnn-mnist5k")
    proto = onnx.load(str(tz.export(model, tmp_path / "ff.onnx", opset=17)))
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert not dim0.HasField("dim_value")  # symbolic batch axis
    assert [o.name for o in proto.graph.output] == ["output"]
    assert any(op.domain in ("", "ai.onnx") and op.version == 17 for op in proto.opset_import)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["topdown_zoo"])
    assert meta["preprocessing"]["scale"] == "x / 255" and meta["input_range"] == [0.0, 1.0]


def test_two_input_model_takes_named_image_and_task(tmp_path):
    model = small_model("butd-multimnist5k")
    path = tz.export(model, tmp_path / "butd.onnx")
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["image", "task"]
    img = sample_batch(model, batch=2)[0]
    a = run_artifact(path, "onnx", {"image": img, "task": np.array([0, 0], "int32")})["output"]
    b = run_artifact(path, "onnx", {"image": img, "task": np.array([1, 1], "int32")})["output"]
    assert np.max(np.abs(a - b)) > 1e-4  # the task input reaches the output


def test_mixed_bfloat16_model_exports_a_float32_copy(tmp_path):
    import keras

    keras.config.set_dtype_policy("mixed_bfloat16")
    model = small_model("cbl-cnn-mnist5k")
    keras.config.set_dtype_policy("float32")
    assert model.dtype_policy.name == "mixed_bfloat16"
    path = tz.export(model, tmp_path / "bf16.onnx")
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert onnx.TensorProto.BFLOAT16 not in {t.data_type for t in graph.initializer}
    x = sample_batch(model)[0]
    got = run_artifact(path, "onnx", {"input": x})["output"]
    # the float32 copy has the bf16 model's weights: close to the bf16 outputs at bf16 precision
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"format": "tflite"}, "format='tflite' is not allowed"),
        ({"outputs": "all"}, "outputs='all' is not allowed"),
        ({"opset": 21}, "opsets 7 to 18"),
        ({"iterations": -1}, "iterations=-1"),
    ],
)
def test_bad_options_are_clear_errors(kwargs, match, tmp_path):
    with pytest.raises(TopdownZooError, match=match):
        tz.export(small_model("cbl-cnn-mnist5k"), tmp_path / "m.onnx", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bad_paths_and_names_are_clear_errors(tmp_path):
    model = small_model("standard-cnn-mnist5k")
    with pytest.raises(ExportError, match=r"ending in \.onnx"):
        tz.export(model, tmp_path / "m.bin")
    with pytest.raises(ExportError, match="folder"):
        tz.export(model, tmp_path / "m.onnx", format="saved_model")
    with pytest.raises(tz.UnknownModelError, match="Did you mean"):
        tz.export("cbl-cnn-mnist", tmp_path / "m.onnx")


def test_iterations_override_refused_where_weights_depend_on_the_step_count(tmp_path):
    # BL/BLT keep one set of batch-norm statistics per time step
    with pytest.raises(ExportError, match="different weights"):
        tz.export(small_model("blt-digitdebris-mnist5k"), tmp_path / "blt.onnx", iterations=2)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ contract and tools
def test_a_keras_model_that_is_not_a_zoo_model_is_refused(tmp_path):
    import keras

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ExportError, match="not a zoo model"):
        tz.export(plain, tmp_path / "plain.onnx")
    with pytest.raises(ExportError, match="takes a zoo model or a registry name"):
        tz.export(42, tmp_path / "plain.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_export_tool_is_a_backend_error_naming_the_fix(tmp_path, monkeypatch):
    import topdown_zoo.exporting.writers as writers

    monkeypatch.setattr(writers, "_importable", lambda module: module != "tf2onnx")
    with pytest.raises(BackendError, match="needs tf2onnx .*pip install tf2onnx"):
        tz.export(small_model("standard-cnn-mnist5k"), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_errors_live_in_topdown_zoo_errors_and_are_re_exported():
    import topdown_zoo.errors as errors
    import topdown_zoo.exporting as ex

    assert ex.ExportError is errors.ExportError and ex.ExportParityError is errors.ExportParityError


def test_no_exporting_module_imports_tensorflow_or_onnx_at_import_time():
    """TensorFlow, tf2onnx, onnx and onnxruntime are imported inside the functions that use them,
    so that the package imports on any backend without them."""
    import ast

    import topdown_zoo.exporting as ex

    heavy = {"tensorflow", "tf2onnx", "onnx", "onnxruntime"}
    for source in Path(ex.__file__).parent.glob("*.py"):
        for node in ast.parse(source.read_text()).body:  # module level only
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & heavy, f"{source.name} imports {names} at import time"


# ------------------------------------------------------------------------------ other Keras backends
@pytest.mark.backends
def test_onnx_export_with_parity_on_the_active_backend(tmp_path):
    """On JAX / PyTorch the export runs through a TensorFlow subprocess; the artifact matches this
    backend's Keras outputs (checked by export, and here on other inputs and a batch size of its own)."""
    import keras

    model = small_model("cbl-cnn-mnist5k", iterations=2)
    path = tz.export(model, tmp_path / "cbl.onnx", outputs="steps")
    x = sample_batch(model, batch=5, seed=9)
    want = keras_outputs(model, InputSignature.infer(model), x, "steps")
    assert compare(want, run_artifact(path, "onnx", {"input": x[0]}), 1e-4) <= 1e-4
    meta = json.loads(onnx.load(str(path)).metadata_props[0].value)
    assert meta["keras_backend"] == keras.backend.backend()


BACKEND_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import keras
import numpy as np
import topdown_zoo as tz
from topdown_zoo.exporting import InputSignature, keras_outputs
from test_export_utils import sample_batch, small_model

assert keras.backend.backend() == {backend!r}, keras.backend.backend()
model = small_model("cbl-cnn-mnist5k", iterations=2)
x = sample_batch(model, batch=4, seed=5)
want = keras_outputs(model, InputSignature.infer(model), x, "steps")
np.savez({npz!r}, input=x[0], **want)
for fmt, path in {targets!r}:
    # export() checks the artifact against this backend's Keras outputs (two batch sizes)
    tz.export(model, path, format=fmt, outputs="steps")
print(json.dumps({{"done": True}}))
"""


@pytest.mark.slow  # the backend matrix runs test_onnx_export_with_parity_on_the_active_backend on JAX and PyTorch
@pytest.mark.parametrize("backend, formats", [("jax", ["onnx", "saved_model"]), ("torch", ["onnx"])])
def test_export_from_a_model_made_on_another_backend(backend, formats, tmp_path):
    """A model made on JAX / PyTorch is exported through a TensorFlow subprocess and checked against
    its own backend's Keras outputs; the artifact also matches them here, on inputs of its own."""
    targets = [(fmt, str(_path(tmp_path, fmt, f"cbl-{backend}"))) for fmt in formats]
    npz = tmp_path / "want.npz"
    script = BACKEND_SCRIPT.format(tests=str(Path(__file__).parent), backend=backend, npz=str(npz), targets=targets)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = dict(np.load(npz))
    want = {"output": data["output"], "steps": data["steps"]}
    for fmt, path in targets:
        assert compare(want, run_artifact(path, fmt, {"input": data["input"]}), 1e-4) <= 1e-4
    meta = json.loads(onnx.load(targets[0][1]).metadata_props[0].value)
    assert meta["keras_backend"] == backend and meta["model"] == "cbl-cnn-mnist5k" and meta["iterations"] == 2


# ------------------------------------------------------------------------------ clean graphs
def _transpose_pair_model():
    """x → Transpose(NHWC→NCHW) → Transpose(NCHW→NHWC) → Relu: the pair cancels."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 3, 1, 2]),
             helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 3, 1]),
             helper.make_node("Relu", ["t2"], ["y"])]
    graph = helper.make_graph(nodes, "pair", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 4, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4, 4, 2])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    entry = proto.metadata_props.add()
    entry.key, entry.value = "topdown_zoo", "{}"
    return proto


def test_basic_optimized_cancels_a_transpose_pair_and_keeps_outputs_and_metadata():
    import onnxruntime as ort

    from topdown_zoo.exporting.onnx_graph import basic_optimized

    proto = _transpose_pair_model()
    optimized, removed = basic_optimized(proto)
    assert removed == 2 and [n.op_type for n in optimized.graph.node] == ["Relu"]
    assert [(e.key, e.value) for e in optimized.metadata_props] == [("topdown_zoo", "{}")]
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    run = [ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
           for p in (proto, optimized)]
    np.testing.assert_array_equal(run[0], run[1])
    again, removed_again = basic_optimized(optimized)
    assert removed_again == 0 and again is optimized  # nothing left to remove: the graph is kept as it is


def test_butd_and_blt_exports_carry_no_layout_transpose_pairs_or_tiles(tmp_path):
    """BU-TD's gates left layout transpose pairs in tf2onnx's graph (2 transposes remain: the input's
    and the output's); BLT's top-down upsampling is one Resize, not tiles, casts and transposes."""
    for name, most_transposes in (("butd-multimnist5k", 2), ("blt-digitdebris-mnist5k", 1)):
        path = tz.export(tz.create(name), tmp_path / f"{name}.onnx")  # the export's parity check runs
        ops = _op_types(onnx.load(str(path)).graph)
        assert ops.count("Transpose") <= most_transposes, (name, ops.count("Transpose"))
        assert "Tile" not in ops
    assert ops.count("Resize") == 3  # BLT: one per top-down connection
    modes = {onnx.helper.get_attribute_value(a) for n in onnx.load(str(path)).graph.node if n.op_type == "Resize"
             for a in n.attribute if a.name == "coordinate_transformation_mode"}
    assert modes == {b"asymmetric"}  # not the deprecated tf_half_pixel_for_nn (equal picks for a factor of 2)

"""examples/serve_onnx.py end to end: export the shipped cbl-cnn-mnist5k, serve raw digits with the
example's session options, and get the accuracy Keras gets on the same digits."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example():
    spec = importlib.util.spec_from_file_location("serve_onnx", ROOT / "examples" / "serve_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_session_options_are_the_benchmarked_serving_options():
    import onnxruntime as ort

    options = _example().session_options(threads=3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    shared = _example().session_options(threads=1, spinning=False)
    assert shared.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_served_accuracy_equals_keras_on_the_same_digits(tmp_path):
    import topdown_zoo as tz

    example = _example()
    onnx_path, raw = example.export_artifact("cbl-cnn-mnist5k", tmp_path, iterations=None)
    served = example.serve(onnx_path, raw, limit=200, threads=1, spinning=False)
    data = np.load(raw)
    x = data["images"][:200].astype("float32")[..., None] / 255.0
    keras_logits = np.asarray(tz.load("cbl-cnn-mnist5k").predict(x, verbose=0))
    assert served["examples"] == 200
    assert served["accuracy"] == pytest.approx(float(np.mean(keras_logits.argmax(-1) == data["labels"][:200])))
    assert served["accuracy"] > 0.9 and len(served["accuracy_per_step"]) == served["iterations"] + 1

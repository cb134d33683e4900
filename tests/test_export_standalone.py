"""Exported artifacts run in a fresh Python process that imports only ONNX Runtime (resp.
TensorFlow) and NumPy — never keras or topdown_zoo — and reproduce the saved Keras outputs.

The default run covers a feed-forward CNN, CBL (while-loop) with per-step outputs and the
two-input BU-TD model; ``-m slow`` covers every registry entry.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_export_utils import sample_batch, small_model

import topdown_zoo as tz
from topdown_zoo.exporting import InputSignature, keras_outputs

SUBSET = [("standard-cnn-mnist5k", "final"), ("cbl-cnn-mnist5k", "steps"), ("butd-multimnist5k", "final")]

RUNNER = {
    "onnx": """
        import onnxruntime as ort
        def run(path, feed):
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))
    """,
    "saved_model": """
        import tensorflow as tf
        def run(path, feed):
            fn = tf.saved_model.load(path).signatures["serving_default"]
            return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feed.items()}).items()}
    """,
}

SCRIPT = """
import json, sys
# make keras and topdown_zoo (and, for ONNX, TensorFlow) unimportable: an import raises
# ModuleNotFoundError and TensorFlow's optional-keras probes see them as absent
for name in {blocked!r}:
    sys.modules[name] = None
import numpy as np
{runner}
report = {{}}
for item in json.load(open(sys.argv[1])):
    data = np.load(item["npz"])
    feed = {{k[3:]: data[k] for k in data.files if k.startswith("in:")}}
    want = {{k[4:]: data[k] for k in data.files if k.startswith("out:")}}
    got = run(item["path"], feed)
    assert set(got) == set(want), (sorted(got), sorted(want))
    report[item["path"]] = max(float(np.max(np.abs(got[k].astype("float64") - want[k]))) for k in want)
report["_imported"] = sorted(m for m in {blocked!r} if sys.modules.get(m) is not None)
report["_runtime"] = {runtime!r} in sys.modules
print(json.dumps(report))
"""


def _export_for_standalone(items, fmt, root):
    manifest = []
    for name, outputs in items:
        model = small_model(name)
        path = root / (f"{name}-{outputs}.onnx" if fmt == "onnx" else f"{name}-{outputs}")
        tz.export(model, path, format=fmt, outputs=outputs)
        sig = InputSignature.infer(model)
        x = sample_batch(model, batch=4, seed=11)
        want = keras_outputs(model, sig, x, outputs)
        npz = root / f"{name}-{outputs}-{fmt}.npz"
        np.savez(npz, **{f"in:{k}": v for k, v in sig.feed(x).items()}, **{f"out:{k}": v for k, v in want.items()})
        manifest.append({"path": str(path), "npz": str(npz)})
    (root / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def _run_fresh_process(fmt, root):
    script = root / "run_artifacts.py"
    blocked = ["keras", "topdown_zoo", "tf_keras"] + (["tensorflow"] if fmt == "onnx" else [])
    runtime = "onnxruntime" if fmt == "onnx" else "tensorflow"
    script.write_text(SCRIPT.format(runner=textwrap.dedent(RUNNER[fmt]), blocked=blocked, runtime=runtime))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, "-I", str(script), str(root / "manifest.json")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(items, fmt, root):
    manifest = _export_for_standalone(items, fmt, root)
    report = _run_fresh_process(fmt, root)
    assert report.pop("_imported") == []  # neither keras nor topdown_zoo was imported
    assert report.pop("_runtime") is True
    assert sorted(report) == sorted(m["path"] for m in manifest)
    bad = {p: d for p, d in report.items() if not d <= 1e-4}
    assert not bad, bad


@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
def test_artifacts_run_without_keras_or_topdown_zoo(fmt, tmp_path):
    _check(SUBSET, fmt, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
def test_every_registry_entry_runs_without_keras_or_topdown_zoo(fmt, tmp_path):
    _check([(name, "steps") for name in tz.list_models()], fmt, tmp_path)


def test_the_fresh_process_would_notice_a_wrong_artifact(tmp_path):
    """The standalone check can fail: outputs saved from another model do not match."""
    manifest = _export_for_standalone([("standard-cnn-mnist5k", "final")], "onnx", tmp_path)
    npz = manifest[0]["npz"]
    data = dict(np.load(npz))
    data["out:output"] = data["out:output"] + 1.0
    np.savez(npz, **data)
    report = _run_fresh_process("onnx", tmp_path)
    assert report["_imported"] == [] and report["_runtime"] is True
    assert report[manifest[0]["path"]] == pytest.approx(1.0, abs=1e-4)

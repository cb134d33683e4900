"""The public API and the CLI: names, overrides, and one-line errors with exit code 2."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.cli import main

CBL_ENTRIES = {"standard-cnn-cifar10", "cbl-cnn-cifar10", "standard-cnn-speechcommands", "cbl-cnn-speechcommands",
               "resnet18-imagenet", "cbl-resnet18-imagenet", "standard-cnn-mnist5k", "cbl-cnn-mnist5k"}


def test_list_models_has_the_cbl_entries_and_supports_wildcards():
    assert CBL_ENTRIES <= set(tz.list_models())
    assert set(tz.list_models("cbl-*")) >= {"cbl-cnn-cifar10", "cbl-resnet18-imagenet"}
    assert all(n.endswith("mnist5k") for n in tz.list_models("*mnist5k"))
    assert tz.list_models("no-such-*") == []


def test_unknown_name_lists_close_matches():
    with pytest.raises(tz.UnknownModelError, match="Did you mean: cbl-cnn-cifar10"):
        tz.create("cbl-cnn-cifar")


def test_create_applies_overrides_and_rejects_unknown_keys():
    model = tz.create("cbl-cnn-mnist5k", iterations=4, alpha=0.5)
    assert model.iterations == 4 and model.alpha == 0.5
    assert len(model.refine(np.zeros((1, 28, 28, 1), "float32"))) == 5
    with pytest.raises(tz.TopdownZooError, match="unknown config key.*iteratons.*allowed:.*iterations"):
        tz.create("cbl-cnn-mnist5k", iteratons=3)


def test_paper_sized_architectures_build_with_the_papers_shapes():
    cifar = tz.create("cbl-cnn-cifar10")
    assert cifar.output_shape if False else tuple(cifar(np.zeros((2, 32, 32, 3), "float32")).shape) == (2, 10)
    assert sum(1 for layer in cifar.stage_layers[:-1] for l in layer.layers if "conv" in l.name) == 8
    speech = tz.create("standard-cnn-speechcommands")
    assert tuple(speech(np.zeros((1, 98, 64, 1), "float32")).shape) == (1, 12)
    resnet = tz.create("resnet18-imagenet")
    assert 11.6e6 < resnet.count_params() < 11.8e6  # ResNet-18: 11.69 M parameters


def test_missing_weights_name_the_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPDOWN_ZOO_HUB", str(tmp_path))
    with pytest.raises(tz.WeightsNotAvailableError, match="recipes/cbl-cnn-cifar10.yaml"):
        tz.load("cbl-cnn-cifar10")


def run_cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "topdown_zoo.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    out = run_cli("info", "cbl-cnn-mnist")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "Did you mean: cbl-cnn-mnist5k" in out.stderr

    out = run_cli("train", "recipes/cbl-cnn-mnist5k.yaml", "--set", "optimizer.name=rmsprop", "--smoke")
    assert out.returncode == 2 and "optimizer.name" in out.stderr and "adam, adamw, sgd" in out.stderr

    out = run_cli("train", "recipes/cbl-cnn-mnist5k.yaml", "--set", "epoch=3")
    assert out.returncode == 2 and "unknown recipe key 'epoch'" in out.stderr and "epochs" in out.stderr


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 1, 28, 28), "float32"), "channels-last"),
    (np.zeros((28, 28, 1), "float32"), "add a batch axis"),
    (np.zeros((2, 28, 28, 1), "uint8"), r"astype\('float32'\) / 255"),
    (np.full((2, 28, 28, 1), 255.0, "float32"), r"values in \[0.0, 1.0\]"),
])
def test_wrong_input_shape_or_dtype_is_a_clear_error(tmp_path, capsys, array, message):
    path = tmp_path / "x.npy"
    np.save(path, array)
    assert main(["predict", "standard-cnn-mnist5k", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert __import__("re").search(message, err)


def test_info_json_and_list(capsys):
    assert main(["info", "cbl-cnn-cifar10", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["iterations"] == 2 and info["config"]["alpha"] == 0.0
    assert "80.65" in info["paper_results"]["accuracy"]
    assert main(["list", "cbl-*"]) == 0
    assert "cbl-cnn-mnist5k" in capsys.readouterr().out


def test_cli_export_writes_an_onnx_file_that_matches_the_keras_model(tmp_path, capsys):
    """`topdown-zoo export` on the shipped CBL weights, with every refinement step exposed."""
    import onnxruntime as ort

    out = tmp_path / "cbl.onnx"
    assert main(["export", "cbl-cnn-mnist5k", "--format", "onnx", "--out", str(out), "--outputs", "steps"]) == 0
    assert f"exported cbl-cnn-mnist5k to {out}" in capsys.readouterr().out

    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["output", "steps"]
    final, steps = session.run(None, {session.get_inputs()[0].name: x})
    model = tz.load("cbl-cnn-mnist5k")
    keras_steps = np.stack([np.asarray(s) for s in model.refine(x)], axis=1)
    assert steps.shape == (3, 3, 10)  # (batch, T + 1 = y(0), y(1), y(2), classes)
    np.testing.assert_allclose(steps, keras_steps, atol=1e-4)
    np.testing.assert_allclose(final, np.asarray(model(x, training=False)), atol=1e-4)

    # a bad iteration count is one line and exit code 2, and nothing is left behind
    bad = tmp_path / "bad.onnx"
    assert main(["export", "cbl-cnn-mnist5k", "--out", str(bad), "--iterations", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "iterations" in err
    assert not bad.exists() and list(tmp_path.iterdir()) == [out]

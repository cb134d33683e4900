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
    assert len(model.step_outputs(np.zeros((1, 28, 28, 1), "float32"))) == 5
    # the contract records the entry and the overrides (no private attributes)
    assert model.registry_name == "cbl-cnn-mnist5k"
    assert model.registry_overrides == {"iterations": 4, "alpha": 0.5}
    assert not [a for a in vars(model) if a.startswith("_zoo")]
    with pytest.raises(tz.ConfigError, match="unknown config key.*iteratons.*allowed:.*iterations"):
        tz.create("cbl-cnn-mnist5k", iteratons=3)
    with pytest.raises(tz.ConfigError, match="registry_name"):  # set by the zoo, not an override
        tz.create("cbl-cnn-mnist5k", registry_name="other")


@pytest.mark.parametrize("name", [None, 3, ["cbl-cnn-mnist5k"]])
def test_a_name_that_is_not_a_string_is_a_clear_error(name):
    with pytest.raises(tz.UnknownModelError, match="must be a string"):
        tz.create(name)
    with pytest.raises(tz.UnknownModelError, match="must be a string"):
        tz.load(name)


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


def test_import_and_list_import_neither_keras_nor_tensorflow():
    """`import topdown_zoo` and `topdown-zoo list / info` read only the registry (fast start-up)."""
    code = ("import sys, topdown_zoo as tz, topdown_zoo.cli as c; assert c.main(['list']) == 0; "
            "assert c.main(['info', 'cbl-cnn-mnist5k', '--json']) == 0; tz.list_models(family='cbl'); "
            "print('heavy', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "heavy False False"


def test_list_family_filter_and_unknown_family():
    assert set(tz.list_models(family="cbl")) >= CBL_ENTRIES
    with pytest.raises(tz.TopdownZooError, match="unknown family 'nosuch'; known families: .*cbl"):
        tz.list_models(family="nosuch")


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


def test_list_json_holds_every_matching_entry(capsys):
    assert main(["list", "*mnist5k", "--json", "--pretrained"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == tz.list_models("*mnist5k", pretrained=True)
    assert all(e["weights"] for e in entries) and {"family", "input_shape", "config"} <= set(entries[0])


def test_evaluate_json_stdout_is_only_the_json(capsys):
    """The evaluator's progress bar goes to stderr, so `evaluate --json | json.load` works."""
    assert main(["evaluate", "standard-cnn-mnist5k", "--smoke", "--json", "--batch-size", "16"]) == 0
    captured = capsys.readouterr()
    metrics = json.loads(captured.out)
    assert metrics["examples"] == 64 and 0.5 < metrics["accuracy"] <= 1.0
    assert "batch" in captured.err  # the progress bar


def test_evaluate_reports_every_step_of_an_iterating_model(capsys):
    assert main(["evaluate", "cbl-cnn-mnist5k", "--smoke", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"accuracy", "accuracy_step0", "accuracy_step1", "accuracy_step2", "examples"} == set(metrics)
    assert metrics["accuracy"] == metrics["accuracy_step2"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("argv, message", [
    (["train", "recipes/cbl-cnn-mnist5k.yaml", "--verbose", "7"], "--verbose: must be auto, 0, 1 or 2, got '7'"),
    (["demo", "--examples", "-1"], "--examples: must be an integer >= 1, got '-1'"),
    (["evaluate", "standard-cnn-mnist5k", "--batch-size", "0"], "--batch-size: must be an integer >= 1"),
    (["predict", "standard-cnn-mnist5k", "x.npy", "--batch-size", "0"], "--batch-size: must be an integer >= 1"),
    (["list", "--family", "nosuch"], "unknown family 'nosuch'; known families: baselines, butd, cbl"),
    (["info"], "required: name"),
    (["nosuch-command"], "invalid choice"),
])
def test_bad_cli_options_are_one_line_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in one_line_error(capsys)


def test_demo_refuses_a_model_of_another_dataset(capsys):
    assert main(["demo", "cbl-cnn-cifar10"]) == 2
    assert "mnist5k" in one_line_error(capsys)


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
    keras_steps = np.stack([np.asarray(s) for s in model.step_outputs(x)], axis=1)
    assert steps.shape == (3, 3, 10)  # (batch, T + 1 = y(0), y(1), y(2), classes)
    np.testing.assert_allclose(steps, keras_steps, atol=1e-4)
    np.testing.assert_allclose(final, np.asarray(model(x, training=False)), atol=1e-4)

    # a bad iteration count is one line and exit code 2, and nothing is left behind
    bad = tmp_path / "bad.onnx"
    assert main(["export", "cbl-cnn-mnist5k", "--out", str(bad), "--iterations", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "iterations" in err
    assert not bad.exists() and list(tmp_path.iterdir()) == [out]

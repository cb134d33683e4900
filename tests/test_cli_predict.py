"""`topdown-zoo predict`: what it prints and writes is the model's own ``interpret`` (the contract),
for a classifier, a multi-task model (BU-TD) and a generative model (GNCN), streamed in batches."""
import json

import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.cli import main
from topdown_zoo.data.class_names import model_class_names, name_labels
from topdown_zoo.data.mnist5k import load_arrays


@pytest.fixture(scope="module")
def digits():
    """Four held-out mnist5k digits, one of each class 0..3, shaped (4, 28, 28, 1) in [0, 1]."""
    x, y = load_arrays("test")
    chosen = [int(np.flatnonzero(y == c)[0]) for c in range(4)]
    return x[chosen].astype("float32"), y[chosen]


def save(tmp_path, array, name="x.npy"):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def json_columns(capsys):
    out = capsys.readouterr().out
    document = json.loads(out)
    assert set(document) == {"columns"}
    return {k: np.asarray(v) for k, v in document["columns"].items()}


def assert_same_columns(got, expected, rtol=1e-5):
    assert set(got) == set(expected)
    for key, value in expected.items():
        if np.asarray(value).dtype.kind == "U":  # class names
            assert list(got[key]) == np.asarray(value).tolist(), key
            continue
        np.testing.assert_allclose(got[key], np.asarray(value), rtol=rtol, atol=1e-6, err_msg=key)


@pytest.mark.backends
def test_predict_a_classifier_prints_a_header_and_one_line_per_example(tmp_path, capsys, digits):
    x, y = digits
    path = save(tmp_path, x)
    assert main(["predict", "cbl-cnn-mnist5k", path]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split()
    assert header == ["index", "label_step0", "label_step1", "label_step2", "label", "class_name", "confidence"]
    assert len(lines) == 1 + len(x)
    labels = [int(line.split()[header.index("label")]) for line in lines[1:]]
    assert labels == y.tolist()  # the shipped model gets these four digits right

    # --json holds the same columns; batches of 3 give the same numbers as one batch
    assert main(["predict", "cbl-cnn-mnist5k", path, "--json", "--batch-size", "3"]) == 0
    expected = tz.load("cbl-cnn-mnist5k").interpret(x).columns
    assert_same_columns(json_columns(capsys), expected)


@pytest.mark.backends
def test_predict_out_writes_the_columns_to_an_npz(tmp_path, capsys, digits):
    x, y = digits
    out = tmp_path / "pred"
    assert main(["predict", "standard-cnn-mnist5k", save(tmp_path, x), "--out", str(out), "--batch-size", "3"]) == 0
    assert "wrote the predictions of 4 example(s)" in capsys.readouterr().err
    with np.load(tmp_path / "pred.npz") as saved:
        assert set(saved.files) == {"label", "class_name", "confidence"}
        assert saved["label"].tolist() == y.tolist()
        assert saved["class_name"].tolist() == [str(v) for v in y]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pred.npz", "x.npy"]  # no temporary files left


@pytest.mark.backends
def test_predict_a_multitask_model_answers_every_task_or_one(tmp_path, capsys, digits):
    x, _ = digits
    path = save(tmp_path, x)
    model = tz.load("butd-multimnist5k")
    names = model_class_names(model)  # the CLI names each task's labels: class_name_<task> after label_<task>

    def interpret(**options):
        return name_labels(model.interpret(x, **options).columns, names)

    assert main(["predict", "butd-multimnist5k", path, "--json"]) == 0
    every = json_columns(capsys)
    assert_same_columns(every, interpret())
    assert len(every) == 3 * model.integer_input_high("task")  # a label, its class name and a confidence per task

    assert main(["predict", "butd-multimnist5k", path, "--task", "1", "--json"]) == 0
    one = json_columns(capsys)
    assert_same_columns(one, interpret(task=1))
    assert len(one) == 3 and all(np.array_equal(v, every[k]) for k, v in one.items())

    assert main(["predict", "butd-multimnist5k", path]) == 0  # text: a header and one line per example
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["index", *interpret()] and len(lines) == 1 + len(x)


@pytest.mark.backends
def test_predict_a_generative_model_writes_its_reconstructions(tmp_path, capsys, digits):
    x = digits[0].reshape(len(digits[0]), -1)
    x = (x > 0.5).astype("float32")  # the entry's binarised digits
    out = tmp_path / "recon.npz"
    assert main(["predict", "gncn-t1-mnist5k", save(tmp_path, x), "--json", "--out", str(out)]) == 0
    columns = json_columns(capsys)
    assert set(columns) == {"reconstruction_error", "energy"}
    expected = tz.load("gncn-t1-mnist5k").interpret(x)
    assert_same_columns(columns, expected.columns, rtol=1e-4)
    with np.load(out) as saved:
        assert saved["reconstruction"].shape == x.shape
        np.testing.assert_allclose(saved["reconstruction"], expected.arrays["reconstruction"], atol=1e-5)
        np.testing.assert_allclose(saved["energy"], expected.columns["energy"], rtol=1e-4)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("content, message", [
    (np.zeros((0, 28, 28, 1), "float32"), "empty batch"),
    (b"", "is empty"),
    (b"not numpy", "not a .npy file"),
    (np.array([{"a": 1}], dtype=object), "cannot read"),
])
def test_unreadable_or_empty_input_is_a_one_line_error(tmp_path, capsys, content, message):
    path = tmp_path / "x.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content, allow_pickle=True)
    assert main(["predict", "standard-cnn-mnist5k", str(path)]) == 2
    assert message in one_line_error(capsys)


def test_bad_task_options_are_one_line_errors(tmp_path, capsys, digits):
    path = save(tmp_path, digits[0])
    assert main(["predict", "butd-multimnist5k", path, "--task", "7"]) == 2
    assert "task" in one_line_error(capsys)
    assert main(["predict", "butd-multimnist5k", path, "--task", "-1"]) == 2
    assert "task" in one_line_error(capsys)
    assert main(["predict", "standard-cnn-mnist5k", path, "--task", "1"]) == 2  # a model without tasks
    assert "task" in one_line_error(capsys)
    out = tmp_path / "missing" / "p.npz"
    assert main(["predict", "standard-cnn-mnist5k", path, "--out", str(out)]) == 2
    assert "does not exist" in one_line_error(capsys)

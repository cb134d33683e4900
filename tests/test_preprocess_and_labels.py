"""Preprocessing and labels travel with the model (issue 11, item 4): class names in a packaged
folder's metadata.json, its card, an ONNX / SavedModel export and ``interpret``; raw inputs through
``tz.load(name, preprocess=True)`` and ``tz.export(..., preprocess=True)``; a clear refusal where
the preprocessing is not a per-pixel map."""
from __future__ import annotations

import json
import re
from importlib.util import find_spec
from pathlib import Path

import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo import hub
from topdown_zoo.data.class_names import CIFAR10, SPEECH_COMMANDS, class_names, name_labels
from topdown_zoo.data.mnist5k import load_arrays
from topdown_zoo.errors import ConfigError, ExportError, InputSpecError
from topdown_zoo.preprocessing import affine_map

NAME = "cbl-cnn-mnist5k"
DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def test_digits():
    """32 mnist5k test digits: the preprocessed floats in [0, 1], the raw uint8 0..255, the labels."""
    x, y = load_arrays("test")
    x = x[:32]
    raw = np.round(x * 255).astype("uint8")
    return raw.astype("float32") / 255, raw, y[:32]


def test_class_names_per_dataset():
    assert class_names("mnist5k") == DIGITS == class_names("multi_mnist5k") == class_names("digit_debris_mnist5k")
    assert class_names("cifar10") == list(CIFAR10) and len(CIFAR10) == 10
    assert class_names("mnist5k_binary") is None and class_names("celeba_attributes") is None
    names = class_names("imagenet2012")
    assert names is None or (len(names) == 1000 and names[0] == "n01440764")


def test_speech_commands_names_follow_the_tfds_builder():
    """The 12 names hard-coded here are the TFDS builder's ClassLabel (WORDS + [SILENCE, UNKNOWN])."""
    found = find_spec("tensorflow_datasets")  # a core dependency
    source = (Path(found.submodule_search_locations[0]) / "datasets" / "speech_commands"
              / "speech_commands_dataset_builder.py").read_text()
    words = json.loads(re.search(r"^WORDS = (\[.*\])$", source, re.M).group(1).replace("'", '"'))
    assert list(SPEECH_COMMANDS) == words + ["_silence_", "_unknown_"]


def test_name_labels_names_final_and_task_labels_not_steps():
    columns = {"label_step0": np.array([1]), "label": np.array([2]), "label_left": np.array([3]),
               "confidence": np.array([0.5])}
    named = name_labels(columns, DIGITS)
    assert list(named) == ["label_step0", "label", "class_name", "label_left", "class_name_left", "confidence"]
    assert named["class_name"].tolist() == ["2"] and named["class_name_left"].tolist() == ["3"]
    assert list(name_labels({"label": np.array([12])}, DIGITS)) == ["label"]  # an id the names do not cover


@pytest.mark.backends
def test_packaged_folder_and_card_carry_class_names(tmp_path):
    model = tz.create(NAME)
    folder = hub.package(model, tmp_path / NAME, metrics={"accuracy": 0.9})
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["topdown_zoo"]["class_names"] == DIGITS
    card = (folder / "README.md").read_text()
    assert "- Classes (label id order): `0`, `1`, `2`" in card and "`9`." in card


def test_a_resized_head_drops_the_class_names(tmp_path):
    model = tz.create(NAME, backbone_config={"num_classes": 5})
    folder = hub.package(model, tmp_path / "five", metrics={"accuracy": 0.9})
    assert json.loads((folder / "metadata.json").read_text())["topdown_zoo"]["class_names"] is None
    assert "Classes (label id order)" not in (folder / "README.md").read_text()
    assert "class_name" not in model.interpret(np.zeros((2, 28, 28, 1), "float32")).columns


@pytest.mark.backends
def test_preprocess_true_takes_raw_uint8_digits(test_digits):
    scaled, raw, labels = test_digits
    plain = tz.load(NAME)
    wrapped = tz.load(NAME, preprocess=True)
    assert wrapped.input_specs()[0].dtype == "uint8"
    want, got = plain.predict(scaled, verbose=0), wrapped.predict(raw, verbose=0)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert (got.argmax(-1) == want.argmax(-1)).all() and (got.argmax(-1) == labels).mean() > 0.9
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapped(raw[:4])), want[:4], atol=1e-4)
    columns = wrapped.interpret(raw[:8]).columns
    assert columns["label"].tolist() == want[:8].argmax(-1).tolist()
    assert columns["class_name"].tolist() == [str(v) for v in want[:8].argmax(-1)]
    steps = wrapped.step_outputs(raw[:4])
    assert len(steps) == plain.num_steps + 1 == wrapped.num_steps + 1
    # the plain model on raw pixels is wrong silently no more: it refuses; the wrapper checks the raw range
    with pytest.raises(InputSpecError, match="input_range"):
        plain.predict(raw.astype("float32"), verbose=0)
    with pytest.raises(InputSpecError, match=r"raw values in \[0, 255\]"):
        wrapped.predict(raw.astype("float32") * 2, verbose=0)


def test_preprocess_refused_where_it_is_not_a_per_pixel_map():
    with pytest.raises(ConfigError, match=r"not a per-pixel map \(.*sample_rate"):
        tz.load("cbl-cnn-speechcommands", preprocess=True)
    with pytest.raises(ConfigError, match="binarize"):
        affine_map("gncn-t1-mnist5k", tz.get_spec("gncn-t1-mnist5k").preprocessing)


def test_mean_std_is_a_per_channel_affine_map():
    scale, offset, raw_dtype, raw_range = affine_map("x", {"scale": "x / 255", "mean": [0.5, 0.25, 0.0],
                                                           "std": [0.5, 0.25, 1.0], "shape": [4, 4, 3]})
    pixel = np.array([255.0, 0.0, 51.0])
    np.testing.assert_allclose(pixel * scale + offset, (pixel / 255 - [0.5, 0.25, 0.0]) / [0.5, 0.25, 1.0], rtol=1e-6)
    assert raw_dtype == "uint8" and raw_range == (0.0, 255.0)


def test_onnx_export_records_class_names_and_can_take_raw_pixels(tmp_path, test_digits):
    import onnx
    import onnxruntime as ort

    _, raw, _ = test_digits
    model = tz.load("standard-cnn-mnist5k")
    plain = tz.export(model, tmp_path / "plain.onnx")
    meta = json.loads({p.key: p.value for p in onnx.load(str(plain)).metadata_props}["topdown_zoo"])
    assert meta["class_names"] == DIGITS and meta["preprocessing_in_artifact"] is False

    path = tz.export(model, tmp_path / "raw.onnx", preprocess=True)
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["topdown_zoo"])
    assert meta["preprocessing_in_artifact"] is True and meta["input_range"] == [0.0, 255.0]
    assert meta["inputs"][0]["dtype"] == "uint8" and meta["class_names"] == DIGITS
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: raw[:8]})[0]
    np.testing.assert_allclose(got, model.predict(raw[:8].astype("float32") / 255, verbose=0), atol=1e-4)


def test_saved_model_export_writes_class_names_file(tmp_path):
    path = tz.export(tz.load("standard-cnn-mnist5k"), tmp_path / "sm", format="saved_model", check=False)
    assert (path / "assets.extra" / "class_names.txt").read_text().split() == DIGITS
    assert json.loads((path / "assets.extra" / "topdown_zoo.json").read_text())["class_names"] == DIGITS


def test_export_preprocess_refused_for_spectrograms(tmp_path):
    with pytest.raises(ExportError, match="not a per-pixel map"):
        tz.export(tz.create("standard-cnn-speechcommands"), tmp_path / "s.onnx", preprocess=True)

"""CBL feedback on pretrained backbones (issue 14): keras-hub presets, ``tz.add_feedback`` on any
Functional model, feedback switched off = the backbone's own prediction, adapter-only training,
save/load and export parity. Offline: a tiny keras-hub ResNet is built from its config (random
weights), saved as a local preset folder and loaded back through the zoo.
"""
from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

# keras-hub is an optional extra for users (tools/install.sh and CI always install it): without it these
# tests are skipped, never failed, so `pytest` works on the base install.
keras_hub = pytest.importorskip("keras_hub", reason="the keras-hub extra: pip install 'topdown_zoo[keras-hub]'")

import topdown_zoo as tz  # noqa: E402
from topdown_zoo.errors import BackendError, ConfigError  # noqa: E402
from topdown_zoo.models.cbl.backbones import load_keras_hub_backbone, require_keras_hub  # noqa: E402
from topdown_zoo.models.cbl.model import CBLModel  # noqa: E402
from topdown_zoo.models.cbl.wrap import build_cbl_from_preset  # noqa: E402

NAME = "cbl-resnet18-imagenet-feedback"
TINY = {"input_conv_filters": [64], "input_conv_kernel_sizes": [3], "stackwise_num_filters": [64, 16],
        "stackwise_num_blocks": [1, 1], "stackwise_num_strides": [1, 2], "block_type": "basic_block",
        "image_shape": (32, 32, 3)}
TAPS = ["stack0_block0_out", "stack1_block0_out"]


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 32, 32, 3)).astype("float32")


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory):
    """A keras-hub ResNet with random (but non-trivial) weights and batch-norm statistics, as a preset folder."""
    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.ResNetBackbone(**TINY)
    rng = np.random.default_rng(1)
    for v in backbone.non_trainable_weights:  # moving statistics away from 0/1, so inference mode matters
        low, high = (0.5, 1.5) if "variance" in v.path else (-0.1, 0.1)
        v.assign(rng.uniform(low, high, size=v.shape).astype("float32"))
    folder = tmp_path_factory.mktemp("preset") / "tiny_resnet"
    backbone.save_to_preset(str(folder))
    return folder


def _reference(model, body, x):
    """Backbone + classifier without feedback: GAP of the backbone's features, then the model's dense."""
    dense = model.stage_layers[-1].get_layer("logits")
    return _np(dense(keras.ops.mean(body(x, training=False), axis=(1, 2))))


@pytest.mark.backends
def test_a_local_preset_loads_through_the_zoo_with_its_weights_and_stage_taps(preset_dir):
    saved = keras_hub.models.Backbone.from_preset(str(preset_dir))
    body = load_keras_hub_backbone(preset=str(preset_dir))
    for a, b in zip(saved.weights, body.weights):
        np.testing.assert_array_equal(_np(a), _np(b))
    model = tz.add_feedback(body, num_classes=5)
    assert isinstance(model, CBLModel) and isinstance(model, tz.ZooModel)
    assert model.taps == TAPS  # every stage output of the pyramid
    assert model.stage_names == ["pool1_pool", *TAPS, "head"]  # the stem is a stage of its own, run once
    # the registry builder reads the same folder
    via_registry = build_cbl_from_preset((32, 32, 3), preset=str(preset_dir), num_classes=5)
    assert via_registry.taps == TAPS
    with pytest.raises(ConfigError, match=r"takes inputs shaped \(32, 32, 3\), not \(224, 224, 3\)"):
        tz.create(NAME, preset=str(preset_dir))  # the entry's ImageNet size does not fit this preset


@pytest.mark.backends
def test_feedback_switched_off_is_exactly_the_backbone_and_its_head(preset_dir):
    """Eq. 7 with α = 1 is h ← h: every step predicts what the backbone + classifier predict."""
    body = load_keras_hub_backbone(preset=str(preset_dir))
    x = _images()
    model = tz.add_feedback(body, num_classes=5, iterations=2, alpha=1.0)
    want = _reference(model, body, x)
    for y in model.step_outputs(x):
        np.testing.assert_allclose(_np(y), want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_np(model(x)), want, rtol=0, atol=1e-6)
    # T = 0 is the plain forward pass y(0) = F(x) (eq. 5)
    np.testing.assert_allclose(_np(model.with_config(iterations=0)(x)), want, rtol=0, atol=1e-6)
    # with α = 0 the loop does change the prediction (the adapters are live)
    on = tz.add_feedback(body, num_classes=5, iterations=2, alpha=0.0, adapter="gating")
    steps = on.step_outputs(x)
    np.testing.assert_allclose(_np(steps[0]), _reference(on, body, x), rtol=0, atol=1e-6)
    assert np.abs(_np(steps[-1]) - _np(steps[0])).max() > 1e-4


@pytest.mark.backends
def test_any_functional_model_gets_feedback_and_keeps_its_output_when_switched_off():
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1")(inputs)
    h = keras.layers.MaxPooling2D(name="pool1")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    logits = keras.layers.Dense(3, name="classifier")(h)
    net = keras.Model(inputs, logits)
    x = np.random.default_rng(2).uniform(size=(5, 16, 16, 1)).astype("float32")
    off = tz.add_feedback(net, taps=["block2", "block1"], alpha=1.0, adapter="gating")
    assert off.taps == ["block1", "block2"] and off.num_steps == 2
    for y in off.step_outputs(x):
        np.testing.assert_allclose(_np(y), _np(net(x)), rtol=0, atol=1e-6)
    on = off.with_config(alpha=0.0)
    assert np.abs(_np(on(x)) - _np(net(x))).max() > 1e-4
    assert net.trainable and all(layer.trainable for layer in net.layers)  # the user's model is untouched


@pytest.mark.backends
def test_adapter_only_training_lowers_the_loss_and_the_frozen_weights_stay_bit_identical(preset_dir):
    body = load_keras_hub_backbone(preset=str(preset_dir))
    model = tz.add_feedback(body, num_classes=4, iterations=2, freeze=True)
    trained = {v.path.split("/")[1] for v in model.trainable_weights}
    assert trained == {"context", "adapter_stack0_block0_out", "adapter_stack1_block0_out", "head"}, trained
    frozen = {v.path: _np(v).copy() for v in model.non_trainable_weights}
    assert len(frozen) == len(body.weights)  # every weight of the backbone, batch-norm statistics included
    y = np.arange(32) % 4
    x = _images(32, seed=3) * ((1 + y[:, None, None, None]) / 4).astype("float32")  # brightness tells the class
    model.compile_default(keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["loss"]
    model.fit(x, y, batch_size=16, epochs=8, verbose=0, shuffle=False)
    after = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["loss"]
    assert after < before - 0.1, (before, after)
    for v in model.non_trainable_weights:
        np.testing.assert_array_equal(_np(v), frozen[v.path], err_msg=v.path)


@pytest.mark.backends
def test_the_wrapped_model_saves_and_loads_without_the_preset(preset_dir, tmp_path):
    body = load_keras_hub_backbone(preset=str(preset_dir))
    model = tz.add_feedback(body, num_classes=5, iterations=2)
    x = _images()
    path = tmp_path / "feedback.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    assert isinstance(restored, CBLModel) and restored.taps == model.taps
    np.testing.assert_allclose(_np(restored(x)), _np(model(x)), rtol=0, atol=1e-6)
    assert not restored.stage_layers[0].trainable  # freeze travels with the config


def test_the_wrapped_keras_hub_model_exports_to_onnx_with_parity(preset_dir, tmp_path):
    from topdown_zoo.exporting import InputSignature, compare, keras_outputs, run_artifact

    body = load_keras_hub_backbone(preset=str(preset_dir))
    model = tz.add_feedback(body, num_classes=5, iterations=2, adapter="gating")
    path = tz.export(model, tmp_path / "feedback.onnx", outputs="steps")  # checked against Keras by export
    x = [_images(3, seed=9)]
    sig = InputSignature.infer(model)
    got = run_artifact(path, "onnx", sig.feed(x))
    want = keras_outputs(model, sig, x, "steps")
    assert got["steps"].shape == (3, 3, 5)
    assert compare(want, got, 1e-4) <= 1e-4


def test_errors_name_the_fix(preset_dir, monkeypatch):
    body = load_keras_hub_backbone(preset=str(preset_dir))
    with pytest.raises(ConfigError, match=r"'stack9_out' is not in model .*model.summary"):
        tz.add_feedback(body, taps=["stack9_out"], num_classes=2)
    with pytest.raises(ConfigError, match="does not cut the model.*stack<i>_block<j>_out"):
        tz.add_feedback(body, taps=["stack1_block0_1_conv"], num_classes=2)
    with pytest.raises(ConfigError, match="is the model's output.*num_classes"):
        tz.add_feedback(body, taps=["stack1_block0_out"])
    with pytest.raises(ConfigError, match="unknown keras-hub preset 'no_such_preset'.*resnet_18_imagenet"):
        load_keras_hub_backbone(preset="no_such_preset")
    with pytest.raises(ConfigError, match="not a keras-hub backbone class"):
        load_keras_hub_backbone(architecture={"class_name": "ResNetBackbon", "config": {}})
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # what a base install without the extra sees
    with pytest.raises(BackendError, match=r"pip install 'topdown_zoo\[keras-hub\]'"):
        require_keras_hub()


def test_the_feedback_entry_names_the_recipe_that_makes_its_weights():
    spec = tz.get_spec(NAME)
    assert spec.recipe == "cbl-resnet18-imagenet-feedback.yaml" and spec.weights is None
    assert spec.recipe_path.is_file() and spec.recipe in spec.description
    with pytest.raises(tz.WeightsNotAvailableError, match="recipes/cbl-resnet18-imagenet-feedback.yaml"):
        tz.load(NAME)

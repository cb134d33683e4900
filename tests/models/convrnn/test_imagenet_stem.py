"""The feed-forward ImageNet stem of the gated ConvRNN and the feedback network (224 → 56 before
the recurrent layers), and the ImageNet registry entries built on it."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from convrnn_reference import feedforward_first_step

import topdown_zoo as tz
from topdown_zoo.errors import TopdownZooError
from topdown_zoo.models.convrnn.base import ImageNetStem
from topdown_zoo.models.convrnn.convrnn import build_gated_convrnn
from topdown_zoo.models.convrnn.feedback import build_feedback_network
from topdown_zoo.registry import get_spec

X = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
TINY = dict(widths=[4, 6], num_classes=5, stem="imagenet", stem_width=3)


def _hand_stem(stem, x, activation):
    kernel, bias = (np.asarray(v) for v in stem.conv.weights)
    z = tf.nn.conv2d(x, kernel, strides=2, padding="SAME") + bias
    return tf.nn.max_pool2d(activation(z), ksize=3, strides=2, padding="SAME").numpy()


def test_stem_is_a_strided_7x7_conv_then_a_3x3_max_pool():
    stem = ImageNetStem(5, "elu")
    stem.build((None, 32, 32, 3))
    assert tuple(stem.conv.kernel.shape) == (7, 7, 3, 5)
    got = np.asarray(stem(X))
    assert got.shape == (2, 8, 8, 5)  # 32 → 16 → 8, as 224 → 112 → 56
    np.testing.assert_allclose(got, _hand_stem(stem, X, tf.nn.elu), rtol=1e-5, atol=1e-5)
    assert stem.compute_output_shape((None, 224, 224, 3)) == (None, 56, 56, 5)


def test_gated_convrnn_runs_the_stem_once_then_its_feedforward_first_step():
    model = build_gated_convrnn((32, 32, 3), iterations=2, **TINY)
    expected = feedforward_first_step(model, _hand_stem(model.stem_layer, X, tf.nn.elu))
    np.testing.assert_allclose(np.asarray(model.refine(X)[0]), np.asarray(expected), rtol=1e-5, atol=1e-5)
    assert tuple(model.convs[0].kernel.shape)[2] == 3  # layer 0 reads the stem's 3 maps, not the image


@pytest.mark.parametrize("build", [build_gated_convrnn, build_feedback_network])
def test_stem_models_round_trip_through_keras_files(build, tmp_path):
    model = build((32, 32, 3), iterations=2, **TINY)
    assert model.get_config()["stem"] == "imagenet"
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(again(X)), np.asarray(model(X)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build", [build_gated_convrnn, build_feedback_network])
def test_unknown_stem_names_the_allowed_values(build):
    with pytest.raises(TopdownZooError, match="stem='resnet'.*'imagenet'"):
        build((32, 32, 3), **{**TINY, "stem": "resnet"})


@pytest.mark.parametrize("name", ["convrnn-rgcell-imagenet", "feedbacknet-convlstm-imagenet"])
def test_imagenet_entries_read_224_images_at_56_and_predict_1000_classes(name):
    spec = get_spec(name)
    assert spec.dataset == "imagenet2012" and tuple(spec.input_shape) == (224, 224, 3)
    model = tz.create(name)
    stem = model.stem_layer if hasattr(model, "stem_layer") else model.stem
    assert stem.compute_output_shape((None, 224, 224, 3))[1:3] == (56, 56)
    steps = model.refine(np.zeros((1, 224, 224, 3), "float32"))
    assert len(steps) == 4 and all(tuple(s.shape) == (1, 1000) for s in steps)


def test_imagenet_recipe_smoke_trains_through_the_real_tfds_loader(tmp_path):
    """The recipe runs end to end on ImageNet-shaped data: tfds' imagenet2012 builder with mocked
    examples (no download), the recipe's own optimizer and schedule, narrow layers for speed."""
    import tensorflow_datasets as tfds

    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    recipe = load_recipe("convrnn-rgcell-imagenet", [
        "strategy=default", "precision=float32", "overrides.widths=[4,4,4,4]", "overrides.stem_width=4",
        "smoke.epochs=1", "smoke.steps_per_epoch=1", "smoke.batch_size=4"])
    with tfds.testing.mock_data(num_examples=8):
        metrics = train(recipe, tmp_path / "run", smoke=True, verbose=0)
    assert {"accuracy", "accuracy_t0", "accuracy_t3"} <= set(metrics)
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.stem == "imagenet" and model.widths == [4, 4, 4, 4] and model.num_classes == 1000

"""Conv-NGC's initial top states are sampled like dropout: N(μ_z, σ_z) while training (the local
learning ``train_step``), their mean μ_z at inference (``init_noise="train"``, the default), so
``model(x)``, ``reconstruct``, ``denoise`` and evaluation are deterministic functions of the input."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from topdown_zoo.models.ngc.conv_ngc import ConvNGC, build_conv_ngc
from topdown_zoo.paths import shipped_hub_dir


def _images(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, 3)).astype("float32")


def _model(**kw):
    cfg = dict(channels=[4, 5, 6, 3], steps=5, init_mean=0.5, init_std=0.05)
    cfg.update(kw)
    return build_conv_ngc((8, 8, 3), **cfg)


def _seed_state(model):
    return np.asarray(model.seed_generator.state.numpy()).copy()


def test_inference_is_deterministic_and_starts_from_the_mean():
    model = _model()
    x = _images()
    a, b = np.asarray(model(x)), np.asarray(model(x))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.asarray(model.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    np.testing.assert_array_equal(np.asarray(model.reconstruct(x)), np.asarray(model.reconstruct(x)))
    np.testing.assert_array_equal(np.asarray(model.denoise(x)), np.asarray(model.denoise(x)))
    top = model.initial_states(tf.constant(x))[-1].numpy()
    assert np.all(top == 0.5)
    # the output is the settling from the mean top state (Algorithm 1 with σ_z = 0)
    mean_init = model.initial_states(tf.constant(x), training=False)
    np.testing.assert_allclose(a, model.settle(x, initial_states=mean_init)["predictions"][0].numpy(), atol=1e-6)
    # evaluation (test_step) uses the same deterministic settling
    model.compile(optimizer="adam")
    before = _seed_state(model)
    first, second = (model.evaluate(x, verbose=0, return_dict=True) for _ in range(2))
    assert first == second
    np.testing.assert_array_equal(_seed_state(model), before)  # nothing was sampled


def test_training_still_samples_the_initial_states():
    model = _model()
    x = tf.constant(_images(n=64))
    first, second = (model.initial_states(x, training=True)[-1].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.std() - 0.05) < 0.01

    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    seen = []
    real = model.initial_states

    def spy(x, training=False):
        states = real(x, training=training)
        seen.append((training, states[-1].numpy()))
        return states

    model.initial_states = spy
    model.train_step((x, None))  # eager: the local-learning step settles with sampled top states
    model.initial_states = real
    assert [t for t, _ in seen] == [True]
    assert seen[0][1].std() > 0.01

    # through fit (a traced train function) the seed generator advances: the states were sampled
    before = _seed_state(model)
    model.fit(_images(n=8), epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(_seed_state(model), before)


def test_init_noise_always_samples_at_inference_too():
    model = _model(init_noise="always")
    x = _images()
    assert not np.array_equal(np.asarray(model(x)), np.asarray(model(x)))


def test_config_round_trip_and_old_configs_load():
    model = _model()
    assert model.get_config()["init_noise"] == "train"
    again = ConvNGC.from_config(_model(init_noise="always").get_config())
    assert again.init_noise == "always"
    with pytest.raises(ValueError, match="init_noise"):
        _model(init_noise="test")
    # a config saved before init_noise existed (the shipped conv-ngc-natural32 without the key) loads deterministic
    old = json.loads((shipped_hub_dir() / "conv-ngc-natural32" / "config.json").read_text())["keras_config"]["config"]
    old = {**old, "steps": 2}
    old.pop("init_noise", None)
    model = ConvNGC.from_config(old)
    model.build((None, 32, 32, 3))
    assert model.init_noise == "train"
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x)))

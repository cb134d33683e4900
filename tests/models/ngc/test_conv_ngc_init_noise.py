"""Conv-NGC's initial top states are sampled like dropout: N(μ_z, σ_z) while training (the local
learning step), their mean μ_z at inference (``init_noise="train"``, the default), so
``model(x)``, ``reconstruct``, ``denoise`` and evaluation are deterministic functions of the input."""
import json
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from topdown_zoo.errors import ConfigError
from topdown_zoo.models.ngc.conv_ngc import ConvNGC, build_conv_ngc
from topdown_zoo.paths import shipped_hub_dir

pytestmark = pytest.mark.backends


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _images(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 8, 8, 3)).astype("float32")


def _model(**kw):
    cfg = dict(channels=[4, 5, 6, 3], iterations=5, init_mean=0.5, init_std=0.05)
    cfg.update(kw)
    return build_conv_ngc((8, 8, 3), **cfg)


def _seed_state(model):
    return _np(model.seed_generator.state).copy()


def test_inference_is_deterministic_and_starts_from_the_mean():
    model = _model()
    x = _images()
    a, b = _np(model(x)), _np(model(x))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_np(model.predict(x, verbose=0)), _np(model.predict(x, verbose=0)))
    np.testing.assert_array_equal(_np(model.reconstruct(x)), _np(model.reconstruct(x)))
    np.testing.assert_array_equal(_np(model.denoise(x)), _np(model.denoise(x)))
    top = _np(model.initial_states(x)[-1])
    assert np.all(top == 0.5)
    # the output is the settling from the mean top state (Algorithm 1 with σ_z = 0)
    mean_init = model.initial_states(x, training=False)
    np.testing.assert_allclose(a, _np(model.settle(x, initial_states=mean_init)["predictions"][0]), atol=1e-6)
    # evaluation (the test step) uses the same deterministic settling
    model.compile_default(keras.optimizers.Adam())
    before = _seed_state(model)
    first, second = (model.evaluate(x, verbose=0, return_dict=True) for _ in range(2))
    assert first == second
    np.testing.assert_array_equal(_seed_state(model), before)  # nothing was sampled


def test_training_still_samples_the_initial_states():
    model = _model()
    x = ops.convert_to_tensor(_images(n=64))
    first, second = (_np(model.initial_states(x, training=True)[-1]) for _ in range(2))
    assert not np.array_equal(first, second)
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.std() - 0.05) < 0.01

    seen = []
    real = model.initial_states

    def spy(x, training=False):
        states = real(x, training=training)
        seen.append((training, _np(states[-1])))
        return states

    model.initial_states = spy
    model.local_updates(x, None, None)  # the local learning step settles from sampled top states
    model.initial_states = real
    assert [t for t, _ in seen] == [True]
    assert seen[0][1].std() > 0.01

    # through fit (a traced / stateless train function) the seed generator advances: the states were sampled
    model.compile_default(keras.optimizers.Adam(1e-3))
    before = _seed_state(model)
    model.fit(_images(n=8), epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(_seed_state(model), before)


def test_init_noise_always_samples_at_inference_too():
    model = _model(init_noise="always")
    x = _images()
    assert not np.array_equal(_np(model(x)), _np(model(x)))


def test_config_round_trip_and_old_configs_load():
    model = _model()
    assert model.get_config()["init_noise"] == "train"
    again = ConvNGC.from_config(_model(init_noise="always").get_config())
    assert again.init_noise == "always"
    with pytest.raises(ConfigError, match="init_noise"):
        _model(init_noise="test")
    # a config saved before init_noise existed and with the old step key (the shipped
    # conv-ngc-natural32 says "steps") loads deterministic, with its T
    old = json.loads((shipped_hub_dir() / "conv-ngc-natural32" / "config.json").read_text())["config"]  # Keras format
    old = {**old, "steps": 2}
    old.pop("init_noise", None)
    old.pop("iterations", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = ConvNGC.from_config(old)
    model.build((None, 32, 32, 3))
    assert model.init_noise == "train" and model.iterations == 2
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(_np(model(x)), _np(model(x)))

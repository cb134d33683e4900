"""Baselines of the NGC papers: they learn (loss falls) on every backend through one objective,
expose the evaluator interface and the model contract, round-trip."""
import keras
import numpy as np
import pytest
from keras import ops

from topdown_zoo.errors import ConfigError
from topdown_zoo.models.baselines.autoencoders import ConvAutoencoder, DenseAutoencoder, build_conv_ae, build_dense_ae

pytestmark = pytest.mark.backends


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("kind", ["rae", "gvae", "gvae_cv", "gan_ae"])
def test_dense_baselines_lower_bce_and_complete_only_masked(kind, tmp_path):
    x = np.tile((np.random.default_rng(0).random((4, 64)) > 0.5).astype("float32"), (16, 1))
    model = build_dense_ae((64,), kind=kind, hidden=[32, 16], latent=4)
    model.compile_default(keras.optimizers.Adam(3e-3, clipnorm=5.0))
    hist = model.fit(x, x, batch_size=16, epochs=12, verbose=0).history["loss"]
    assert hist[-1] < hist[0] - 5.0
    mask = np.zeros((1, 64), "float32")
    mask[:, :32] = 1
    done = _np(model.complete(x[:3], mask))
    np.testing.assert_array_equal(done[:, :32], x[:3, :32])
    assert _np(model.encode(x[:3])).shape == (3, 4)
    prediction = model.interpret(x[:3])
    assert set(prediction.columns) == {"reconstruction_error"} and prediction.arrays["reconstruction"].shape == (3, 64)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_np(again(x[:3])), _np(model(x[:3])), atol=1e-5)


def test_gan_ae_objective_gives_each_player_its_own_gradient():
    """One loss, two players: the generator term leaves D alone, the discriminator term the encoder."""
    model = build_dense_ae((16,), kind="gan_ae", hidden=[8], latent=3)
    z = ops.convert_to_tensor(np.random.default_rng(1).normal(size=(5, 3)).astype("float32"))
    np.testing.assert_allclose(_np(model._discriminate(z, frozen=True)), _np(model._discriminate(z)), atol=1e-6)
    d_vars = [w for layer in model.disc for w in layer.trainable_variables]
    assert len(d_vars) == 4 and all(any(v is w for w in model.trainable_variables) for v in d_vars)


@pytest.mark.parametrize("denoising", [False, True])
def test_conv_autoencoders_learn_and_dae_injects_noise_only_in_training(denoising):
    model = build_conv_ae((8, 8, 3), filters=4, blocks=2, activation="selu", denoising=denoising, noise_std=0.5)
    x = np.random.default_rng(1).random((2, 8, 8, 3)).astype("float32")
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_allclose(_np(a), _np(b))
    np.testing.assert_allclose(_np(model.denoise(x)), _np(a), atol=1e-6)
    assert isinstance(model, ConvAutoencoder)
    model.compile_default(keras.optimizers.Adam(1e-2))
    hist = model.fit(np.tile(x, (8, 1, 1, 1)), epochs=8, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0]
    prediction = model.interpret(x)
    recon = prediction.arrays["reconstruction"]
    np.testing.assert_allclose(prediction.columns["reconstruction_error"],
                               np.mean(((x - recon) * 255.0) ** 2, axis=(1, 2, 3)), rtol=1e-4)


def test_bad_config_values_raise_config_error():
    with pytest.raises(ConfigError, match="kind"):
        DenseAutoencoder(kind="vae")
    with pytest.raises(ConfigError, match="latent"):
        DenseAutoencoder(latent=0)
    with pytest.raises(ConfigError, match="activation"):
        ConvAutoencoder(activation="nope")
    with pytest.raises(ConfigError, match="image_shape"):
        ConvAutoencoder(image_shape=(8, 8))

"""Baselines of the NGC papers: they learn (loss falls), expose the evaluator interface, round-trip."""
import keras
import numpy as np
import pytest

from topdown_zoo.models.baselines.autoencoders import ConvAutoencoder, build_conv_ae, build_dense_ae


@pytest.mark.parametrize("kind", ["rae", "gvae", "gvae_cv", "gan_ae"])
def test_dense_baselines_lower_bce_and_complete_only_masked(kind, tmp_path):
    x = np.tile((np.random.default_rng(0).random((4, 64)) > 0.5).astype("float32"), (16, 1))
    model = build_dense_ae((64,), kind=kind, hidden=[32, 16], latent=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3, clipnorm=5.0))
    hist = model.fit(x, x, batch_size=16, epochs=12, verbose=0).history["loss"]
    assert hist[-1] < hist[0] - 5.0
    mask = np.zeros((1, 64), "float32"); mask[:, :32] = 1
    done = np.asarray(model.complete(x[:3], mask))
    np.testing.assert_array_equal(done[:, :32], x[:3, :32])
    assert np.asarray(model.encode(x[:3])).shape == (3, 4)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(again(x[:3])), np.asarray(model(x[:3])), atol=1e-5)


def test_conv_dae_injects_noise_only_in_training():
    model = build_conv_ae((8, 8, 3), filters=4, blocks=2, activation="selu", denoising=True, noise_std=0.5)
    x = np.random.default_rng(1).random((2, 8, 8, 3)).astype("float32")
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    assert isinstance(model, ConvAutoencoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    hist = model.fit(np.tile(x, (8, 1, 1, 1)), epochs=8, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0]

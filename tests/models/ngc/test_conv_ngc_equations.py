"""Conv-NGC against its equations (Ororbia & Mali eqs. 1–3, section 3.2, Algorithm 1), on every backend."""
import keras
import numpy as np
import pytest
from keras import ops
from ngc_autodiff import gradients

from topdown_zoo.errors import ConfigError
from topdown_zoo.layers.conv_ops import conv2d, conv2d_transpose_to
from topdown_zoo.models.base import Prediction
from topdown_zoo.models.ngc.conv_ngc import ConvNGC, build_conv_ngc

pytestmark = pytest.mark.backends


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _images(n=3, seed=0, shape=(8, 8, 3)):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def _model(**kw):
    cfg = dict(channels=[4, 5, 3], iterations=30, beta=0.05, leak=0.0, activation="identity", weight_std=0.5)
    cfg.update(kw)
    return build_conv_ngc((8, 8, 3), **cfg)


def test_one_step_matches_hand_computation():
    """Eq. 2 written out with the shared conv ops (conv and its exact adjoint), not the model's code."""
    model = _model(activation="leaky_relu", leak=0.01, beta=0.1, iterations=1)
    x = _images()
    init = [_np(s) for s in model.initial_states(x)]
    W1, W2 = [_np(w) for w in model.W]
    b1, b2 = [_np(b) for b in model.b]
    lrelu = lambda v: np.where(v > 0, v, 0.01 * v)  # noqa: E731
    z0, z1, z2 = init
    pred0 = _np(conv2d_transpose_to(ops.convert_to_tensor(lrelu(z1)), W1, 2, "same", (8, 8))) + b1
    pred1 = _np(conv2d_transpose_to(ops.convert_to_tensor(lrelu(z2)), W2, 2, "same", (4, 4))) + b2
    e0, e1 = z0 - pred0, z1 - pred1
    d1 = -e1 + _np(conv2d(ops.convert_to_tensor(e0), W1, 2, "same"))
    d2 = _np(conv2d(ops.convert_to_tensor(e1), W2, 2, "same"))
    z1_new = z1 + 0.1 * d1 - 0.01 * z1
    z2_new = z2 + 0.1 * d2 - 0.01 * z2
    out = model.settle(x, initial_states=[ops.convert_to_tensor(s) for s in init])
    np.testing.assert_allclose(_np(out["states"][1]), z1_new, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(out["states"][2]), z2_new, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(_np(out["states"][0]), x)


def test_ancestral_initialisation():
    model = _model(init_mean=0.5, init_std=0.05, channels=[4, 5, 6, 3])
    x = _images(shape=(8, 8, 3), n=64)
    states = model.initial_states(x, training=True)  # sampled while training only
    top = _np(states[-1])
    assert top.shape == (64, 1, 1, 4)
    assert abs(top.mean() - 0.5) < 0.01 and abs(top.std() - 0.05) < 0.01
    np.testing.assert_allclose(_np(states[2]), _np(model.predict_layer(3, states[3])), atol=1e-6)
    np.testing.assert_allclose(_np(states[1]), _np(model.predict_layer(2, states[2])), atol=1e-6)
    np.testing.assert_array_equal(_np(states[0]), x)


def test_total_discrepancy_decreases_over_settling():
    model = _model()
    energies = _np(model.settle(_images(seed=1), trajectory=True)["energies"])
    assert np.all(np.diff(energies) <= 1e-4), energies
    assert energies[-1] < 0.9 * energies[0]


def test_tied_error_filters_give_the_energy_gradient():
    """With identity φ, conv(e, W, s) is the adjoint of conv_transpose: Δz = −∂E/∂z."""
    model = _model(iterations=2)
    settled = model.settle(_images(seed=2))
    zs = [keras.Variable(ops.stop_gradient(z)) for z in settled["states"]]

    def energy():
        _, errs = model.predictions_and_errors(zs)
        return ops.sum(model.energy(errs))

    grads = gradients(energy, zs[1:])
    _, errs = model.predictions_and_errors([z.value for z in zs])
    for l, g in zip((1, 2), grads):
        d = model.bottom_up(l, errs[l - 1]) - (errs[l] if l < 2 else 0.0)
        np.testing.assert_allclose(_np(d), -g, rtol=1e-3, atol=1e-5)


def test_filter_update_is_negative_energy_gradient_at_fixed_states():
    model = _model(iterations=3, activation="leaky_relu")
    x = _images(seed=3)
    settled = model.settle(x)
    states = [ops.stop_gradient(s) for s in settled["states"]]  # fixed states
    updates = {id(v): _np(d) for v, d in model.hebbian_updates(settled)}

    def energy():
        _, errs = model.predictions_and_errors(states)
        return ops.mean(model.energy(errs))

    variables = list(model.W) + list(model.b)
    for v, g in zip(variables, gradients(energy, variables)):
        np.testing.assert_allclose(updates[id(v)], -g, rtol=1e-3, atol=1e-5)
    loss, stats, pairs = model.local_updates(x, None, None)  # descent directions −Δ for the optimizer
    assert len(pairs) == len(variables) and {"mse", "energy"} <= set(stats) and float(_np(loss)) > 0


def test_denoising_clamps_only_at_the_first_step():
    model = _model(iterations=5, activation="leaky_relu", leak=0.001)
    x = _images(seed=4)
    init = model.initial_states(x)
    free = model.settle(x, clamp="first", trajectory=True, initial_states=init)
    z0_steps = _np(free["z0_steps"])
    # step 1 starts from z⁰ = x: z⁰₁ = x − β e⁰ − γ x with e⁰ computed against x
    e0 = x - _np(model.predict_layer(1, init[1]))
    np.testing.assert_allclose(z0_steps[0], x - 0.05 * e0 - 0.001 * x, rtol=1e-5, atol=1e-6)
    assert np.abs(z0_steps[-1] - x).max() > 1e-3          # afterwards the bottom layer evolves freely
    assert np.abs(z0_steps[-1] - z0_steps[-2]).max() > 0
    clamped = _np(model.settle(x, clamp="all", trajectory=True, initial_states=init)["z0_steps"])
    assert np.all(clamped == x[None])
    with pytest.raises(ConfigError, match="clamp"):
        model.settle(x, clamp="some")


def test_kernel_norms_after_every_training_step_and_loss_falls():
    model = build_conv_ngc((8, 8, 3), channels=[4, 5, 3], iterations=10, weight_std=1.0)
    model.compile_default(keras.optimizers.Adam(0.01))
    x = np.tile(_images(n=2, seed=5), (8, 1, 1, 1))
    losses = []
    for _ in range(12):  # one optimizer step per fit call: the norms are checked after every step
        losses.append(model.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0).history["loss"][0])
        for w in model.W:
            assert np.linalg.norm(_np(w), axis=(0, 1)).max() <= 1.0 + 1e-5
    assert losses[-1] < losses[0]


def test_learned_error_filters_round_trip(tmp_path):
    model = build_conv_ngc((8, 8, 3), channels=[4, 5, 3], iterations=3, error_synapses="learned")
    assert len(model.E) == 2
    x = _images()
    init = model.initial_states(x)
    ref = _np(model.settle(x, initial_states=init)["predictions"][0])
    model.save(tmp_path / "c.keras")
    again = keras.saving.load_model(tmp_path / "c.keras")
    assert isinstance(again, ConvNGC)
    out = _np(again.settle(x, initial_states=init)["predictions"][0])
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_contract_reconstruction_prediction_and_step_outputs():
    model = _model(iterations=3, activation="leaky_relu")
    assert model.step_key == "iterations" and model.num_steps == 3 and model.prediction_kind == "reconstruction"
    x = _images(n=2, seed=6)
    steps = model.step_outputs(x)
    assert len(steps) == 4
    np.testing.assert_allclose(_np(steps[-1]), _np(model(x)), atol=1e-6)
    prediction = model.interpret(x)
    assert isinstance(prediction, Prediction) and set(prediction.columns) == {"reconstruction_error", "energy"}
    recon = prediction.arrays["reconstruction"]
    mse_255 = np.mean(((np.clip(x, 0, 1) - np.clip(recon, 0, 1)) * 255.0) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(prediction.columns["reconstruction_error"], mse_255, rtol=1e-5)
    np.testing.assert_allclose(prediction.columns["energy"], _np(model.settle(x)["energy"]), rtol=1e-5)


@pytest.mark.parametrize("bad", [dict(channels=[4, 5, 2]), dict(channels=[4, 5, 6, 7, 3]), dict(init_noise="test"),
                                 dict(error_synapses="free"), dict(activation="gelu"), dict(iterations=10**6)])
def test_bad_config_values_raise_config_error(bad):
    with pytest.raises(ConfigError):
        build_conv_ngc((8, 8, 3), **{"channels": [4, 5, 3], **bad})

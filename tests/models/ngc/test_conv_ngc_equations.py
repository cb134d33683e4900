"""Conv-NGC against its equations (Ororbia & Mali eqs. 1–3, section 3.2, Algorithm 1)."""
import keras
import numpy as np
import tensorflow as tf

from topdown_zoo.models.ngc.conv_ngc import ConvNGC, build_conv_ngc


def _images(n=3, seed=0, shape=(8, 8, 3)):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def _model(**kw):
    cfg = dict(channels=[4, 5, 3], steps=30, beta=0.05, leak=0.0, activation="identity", weight_std=0.5)
    cfg.update(kw)
    return build_conv_ngc((8, 8, 3), **cfg)


def test_one_step_matches_hand_computation():
    """Eq. 2 written out with TensorFlow's own conv ops, independent of the model code."""
    model = _model(activation="leaky_relu", leak=0.01, beta=0.1, steps=1)
    x = _images()
    init = model.initial_states(tf.constant(x))
    W1, W2 = [w.numpy() for w in model.W]
    b1, b2 = [b.numpy() for b in model.b]
    lrelu = lambda v: tf.nn.leaky_relu(v, 0.01)  # noqa: E731
    z0, z1, z2 = init
    pred0 = tf.nn.conv2d_transpose(lrelu(z1), W1, (3, 8, 8, 3), 2, "SAME") + b1
    pred1 = tf.nn.conv2d_transpose(lrelu(z2), W2, (3, 4, 4, 5), 2, "SAME") + b2
    e0, e1 = z0 - pred0, z1 - pred1
    d1 = -e1 + tf.nn.conv2d(e0, W1, 2, "SAME")
    d2 = tf.nn.conv2d(e1, W2, 2, "SAME")
    z1_new = z1 + 0.1 * d1 - 0.01 * z1
    z2_new = z2 + 0.1 * d2 - 0.01 * z2
    out = model.settle(x, initial_states=init)
    np.testing.assert_allclose(out["states"][1].numpy(), z1_new.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["states"][2].numpy(), z2_new.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out["states"][0].numpy(), x)


def test_ancestral_initialisation():
    model = _model(init_mean=0.5, init_std=0.05, channels=[4, 5, 6, 3])
    x = _images(shape=(8, 8, 3), n=64)
    states = model.initial_states(tf.constant(x), training=True)  # sampled while training only
    top = states[-1].numpy()
    assert top.shape == (64, 1, 1, 4)
    assert abs(top.mean() - 0.5) < 0.01 and abs(top.std() - 0.05) < 0.01
    np.testing.assert_allclose(states[2].numpy(), model.predict_layer(3, states[3]).numpy(), atol=1e-6)
    np.testing.assert_allclose(states[1].numpy(), model.predict_layer(2, states[2]).numpy(), atol=1e-6)
    np.testing.assert_array_equal(states[0].numpy(), x)


def test_total_discrepancy_decreases_over_settling():
    model = _model()
    energies = model.settle(_images(seed=1), trajectory=True)["energies"].numpy()
    assert np.all(np.diff(energies) <= 1e-4), energies
    assert energies[-1] < 0.9 * energies[0]


def test_tied_error_filters_give_the_energy_gradient():
    """With identity φ, conv(e, W, s) is the adjoint of conv_transpose: Δz = −∂E/∂z."""
    model = _model(steps=2)
    settled = model.settle(_images(seed=2))
    zs = [tf.Variable(z) for z in settled["states"]]
    with tf.GradientTape() as tape:
        _, errs = model.predictions_and_errors(zs)
        energy = tf.reduce_sum(model.energy(errs))
    grads = tape.gradient(energy, zs[1:])
    for l, g in zip((1, 2), grads):
        d = model.bottom_up(l, errs[l - 1]) - (errs[l] if l < 2 else 0.0)
        np.testing.assert_allclose(d.numpy(), -g.numpy(), rtol=1e-3, atol=1e-5)


def test_filter_update_is_negative_energy_gradient_at_fixed_states():
    model = _model(steps=3, activation="leaky_relu")
    settled = model.settle(_images(seed=3))
    updates = {id(v): d for v, d in model.local_updates(settled)}
    with tf.GradientTape() as tape:
        _, errs = model.predictions_and_errors(settled["states"])
        energy = tf.reduce_mean(model.energy(errs))
    variables = list(model.W) + list(model.b)
    for v, g in zip(variables, tape.gradient(energy, variables)):
        np.testing.assert_allclose(np.asarray(updates[id(v)]), -g.numpy(), rtol=1e-3, atol=1e-5)


def test_denoising_clamps_only_at_the_first_step():
    model = _model(steps=5, activation="leaky_relu", leak=0.001)
    x = _images(seed=4)
    init = model.initial_states(tf.constant(x))
    free = model.settle(x, clamp="first", trajectory=True, initial_states=init)
    z0_steps = free["z0_steps"].numpy()
    # step 1 starts from z⁰ = x: z⁰₁ = x − β e⁰ − γ x with e⁰ computed against x
    e0 = x - model.predict_layer(1, init[1]).numpy()
    np.testing.assert_allclose(z0_steps[0], x - 0.05 * e0 - 0.001 * x, rtol=1e-5, atol=1e-6)
    assert np.abs(z0_steps[-1] - x).max() > 1e-3          # afterwards the bottom layer evolves freely
    assert np.abs(z0_steps[-1] - z0_steps[-2]).max() > 0
    clamped = model.settle(x, clamp="all", trajectory=True, initial_states=init)["z0_steps"].numpy()
    assert np.all(clamped == x[None])


def test_kernel_norms_after_every_training_step_and_loss_falls():
    model = build_conv_ngc((8, 8, 3), channels=[4, 5, 3], steps=10, weight_std=1.0)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    x = np.tile(_images(n=2, seed=5), (8, 1, 1, 1))
    losses = []
    for _ in range(12):
        logs = model.train_step((tf.constant(x), None))
        losses.append(float(logs["loss"]))
        for w in model.W:
            assert np.linalg.norm(w.numpy(), axis=(0, 1)).max() <= 1.0 + 1e-5
    assert losses[-1] < losses[0]


def test_learned_error_filters_round_trip(tmp_path):
    model = build_conv_ngc((8, 8, 3), channels=[4, 5, 3], steps=3, error_synapses="learned")
    assert len(model.E) == 2
    x = _images()
    init = model.initial_states(tf.constant(x))
    ref = model.settle(x, initial_states=init)["predictions"][0].numpy()
    model.save(tmp_path / "c.keras")
    again = keras.saving.load_model(tmp_path / "c.keras")
    assert isinstance(again, ConvNGC)
    out = again.settle(x, initial_states=init)["predictions"][0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-6)

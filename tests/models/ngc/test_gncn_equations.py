"""GNCN against its equations (Ororbia & Kifer eqs. 1–4, 6–8, 17–19; appendix 4.6), on every backend."""
import warnings

import keras
import numpy as np
import pytest
from keras import ops
from ngc_autodiff import gradients

from topdown_zoo.checks import MAX_ITERATIONS
from topdown_zoo.errors import ConfigError, TopdownZooError
from topdown_zoo.models.base import Prediction
from topdown_zoo.models.ngc.gncn import GNCN, build_gncn
from topdown_zoo.models.ngc.lateral import group_mask, lateral_drive, lateral_matrix


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _spd(n, rng):
    a = rng.normal(size=(n, n)) * 0.2
    return (a @ a.T + np.eye(n)).astype("float32")


def _binary(n, d, seed=0):
    return (np.random.default_rng(seed).random((n, d)) > 0.5).astype("float32")


@pytest.mark.backends
def test_group_mask_is_block_diagonal_and_lateral_signs():
    m = group_mask(6, 3)
    expected = np.kron(np.eye(2), np.ones((3, 3)))
    np.testing.assert_array_equal(m, expected)
    v = lateral_matrix(6, 3, alpha_e=0.13, alpha_h=0.125)
    assert np.allclose(np.diag(v), -0.13)                 # −V·φ(z) gives self-excitation +α_e φ(z_i)
    assert v[0, 1] == pytest.approx(0.125) and v[0, 3] == 0.0  # inhibition only inside a group
    with pytest.raises(ConfigError):
        group_mask(7, 3)


@pytest.mark.backends
def test_lateral_drive_by_group_sums_equals_the_product_with_the_appendix_matrix():
    a = np.random.default_rng(3).normal(size=(5, 360)).astype("float32")
    dense = a @ lateral_matrix(360, 18, alpha_e=0.13, alpha_h=0.125)
    grouped = _np(lateral_drive(ops.convert_to_tensor(a), 18, alpha_e=0.13, alpha_h=0.125))
    np.testing.assert_allclose(grouped, dense, rtol=0, atol=2e-6)
    # one unit by hand: self-excitation −(−α_e) and inhibition α_h × the rest of its group
    assert grouped[0, 0] == pytest.approx(0.125 * a[0, 1:18].sum() - 0.13 * a[0, 0], abs=2e-6)
    with pytest.raises(ConfigError, match="must divide"):
        lateral_drive(ops.convert_to_tensor(a), 7)


def _numpy_settle(x, W, E, precs, V, beta, leak, steps, phi):
    """A hand-coded NumPy version of eqs. 1–3 (appendix steps 1–5)."""
    L = len(W)
    zs = [np.zeros((x.shape[0], W[l].shape[0]), "float64") for l in range(L)]

    def errors(zs):
        states = [x] + zs
        errs = []
        for l in range(L):
            h = phi(states[l + 1]) @ W[l]
            pred = 1 / (1 + np.exp(-h)) if l == 0 else h
            d = states[l] - pred
            errs.append(d @ precs[l - 1] if l > 0 else d)
        return errs

    for _ in range(steps):
        errs = errors(zs)
        new = []
        for l in range(1, L + 1):
            z = zs[l - 1]
            dz = errs[l - 1] @ E[l - 1] - (errs[l] if l < L else 0) - phi(z) @ V[l - 1]
            new.append(z + beta * (dz - leak * z))
        zs = new
    return zs, errors(zs)


@pytest.mark.backends
def test_settling_matches_numpy_equations():
    rng = np.random.default_rng(1)
    model = build_gncn((12,), hidden=[6, 4], iterations=3, beta=0.2, leak=0.05, activation="tanh", precision=True,
                       error_synapses="learned", lateral=True, group_size=2, init_std=0.5)
    model.Sigma[0].assign(_spd(6, rng))
    x = _binary(5, 12)
    W = [_np(w).astype("float64") for w in model.W]
    E = [_np(e).astype("float64") for e in model.E]
    precs = [np.linalg.inv(_np(model.Sigma[0]).astype("float64"))]
    V = [lateral_matrix(6, 2).astype("float64"), lateral_matrix(4, 2).astype("float64")]
    zs_np, errs_np = _numpy_settle(x.astype("float64"), W, E, precs, V, 0.2, 0.05, 3, np.tanh)
    out = model.settle(x)
    for a, b in zip(out["states"], zs_np):
        np.testing.assert_allclose(_np(a), b, rtol=1e-4, atol=1e-5)
    for a, b in zip(out["errors"], errs_np):
        np.testing.assert_allclose(_np(a), b, rtol=1e-4, atol=1e-5)
    assert np.abs(zs_np[0]).max() > 1e-3  # the states did move


def _exact_model(**kw):
    cfg = dict(hidden=[10, 6], iterations=40, beta=0.05, leak=0.01, activation="identity", precision=True,
               error_synapses="tied", lateral=False, init_std=0.5)
    cfg.update(kw)
    return build_gncn((16,), **cfg)


@pytest.mark.backends
def test_total_discrepancy_decreases_over_settling():
    model = _exact_model()
    model.Sigma[0].assign(_spd(10, np.random.default_rng(2)))
    energies = _np(model.settle(_binary(8, 16), trajectory=True)["energies"])
    assert np.all(np.diff(energies) <= 1e-5), energies
    assert energies[-1] < energies[0] - 0.1


@pytest.mark.backends
def test_local_updates_are_negative_energy_gradients_at_fixed_states():
    model = _exact_model(iterations=7)
    model.Sigma[0].assign(_spd(10, np.random.default_rng(3)))
    x = _binary(6, 16, seed=4)
    settled = model.settle(x)
    z0, zs = ops.stop_gradient(settled["z0"]), [ops.stop_gradient(z) for z in settled["states"]]  # fixed states
    updates = {id(v): _np(d) for v, d in model.hebbian_updates(settled)}

    def energy():
        precs = model.precisions()
        zbar, errs = model.predict_and_errors(z0, zs, precs)
        return ops.mean(model.energy(z0, zs, zbar, errs, precs))

    variables = list(model.W) + list(model.Sigma)
    for v, g in zip(variables, gradients(energy, variables)):
        np.testing.assert_allclose(updates[id(v)], -g, rtol=1e-3, atol=1e-5)
    # the training step hands the optimizer the descent directions −Δ
    _, stats, pairs = model.local_updates(x, None, None)
    assert {"bce", "energy"} <= set(stats)
    for v, d in pairs:
        np.testing.assert_allclose(_np(d), -updates[id(v)], rtol=1e-4, atol=1e-6)


@pytest.mark.backends
def test_state_update_is_gradient_descent_on_the_energy():
    """With tied E, identity φ and no lateral term, Δz = −∂E/∂z (eqs. 11–16 without approximation)."""
    model = _exact_model(iterations=3)
    x = _binary(4, 16, seed=5)
    settled = model.settle(x)
    zs = [keras.Variable(ops.stop_gradient(z)) for z in settled["states"]]

    def energy():
        z0 = ops.stop_gradient(settled["z0"])
        zbar, errs = model.predict_and_errors(z0, zs, model.precisions())
        return ops.sum(model.energy(z0, zs, zbar, errs))

    grads = gradients(energy, zs)
    _, errs = model.predict_and_errors(settled["z0"], zs, model.precisions())
    new = model.state_update([z.value for z in zs], errs)
    for z, g, n in zip(zs, grads, new):
        np.testing.assert_allclose(_np(n) - _np(z), -model.beta * g, rtol=1e-3, atol=1e-6)


@pytest.mark.backends
@pytest.mark.parametrize("variant", [dict(), dict(precision=True), dict(precision=True, lateral=True,
                                                                         error_synapses="learned")])
def test_weight_norms_after_every_training_step(variant):
    model = build_gncn((16,), hidden=[8, 4], iterations=5, group_size=2, init_std=1.0, **variant)
    model.compile_default(keras.optimizers.Adam(0.05))
    x = _binary(32, 16, seed=6)
    before = [_np(w).copy() for w in model.W]
    for i in range(4):  # one optimizer step per fit call: the norms are checked after every step
        logs = model.fit(x[i * 8:(i + 1) * 8], batch_size=8, epochs=1, verbose=0).history
        for w in model.W:
            norms = np.linalg.norm(_np(w), axis=1)
            np.testing.assert_allclose(norms, 1.0, atol=1e-5)  # "unit": every column renormalised to 1
        for e in model.E:
            assert np.linalg.norm(_np(e), axis=0).max() <= 1.0 + 1e-5
        for s in model.Sigma:
            assert np.linalg.eigvalsh(_np(s)).min() >= model.sigma_min_eig - 1e-4
    assert logs["loss"][0] > 0 and np.isfinite(logs["energy"][0])
    assert any(np.abs(a - _np(w)).max() > 1e-4 for a, w in zip(before, model.W))


@pytest.mark.backends
def test_training_lowers_reconstruction_bce():
    x = np.tile(_binary(4, 16, seed=7), (8, 1))
    model = build_gncn((16,), hidden=[12, 6], iterations=10)
    model.compile_default(keras.optimizers.Adam(0.01))
    history = model.fit(x, x, batch_size=16, epochs=15, verbose=0).history["loss"]
    assert history[-1] < history[0] - 0.5
    evaluated = model.evaluate(x, verbose=0, return_dict=True)
    assert set(evaluated) == {"loss", "energy"} and evaluated["loss"] < history[0]


@pytest.mark.backends
def test_completion_changes_only_masked_pixels():
    model = build_gncn((16,), hidden=[8, 4], iterations=10, init_std=1.0)
    x = _binary(5, 16, seed=8)
    mask = np.ones(16, "float32")
    mask[8:] = 0.0                            # the "right half" is missing
    out = _np(model.complete(x, mask))
    np.testing.assert_array_equal(out[:, :8], x[:, :8])
    assert np.abs(out[:, 8:]).min() > 0.0     # every missing pixel moved away from its 0 start
    assert not np.allclose(out[:, 8:], x[:, 8:])


@pytest.mark.backends
def test_round_trip_keras_file(tmp_path):
    model = build_gncn((16,), hidden=[8, 4], iterations=4, precision=True, lateral=True, group_size=2,
                       error_synapses="learned")
    model.Sigma[0].assign(_spd(8, np.random.default_rng(9)))
    x = _binary(3, 16)
    path = tmp_path / "g.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, GNCN) and again.get_config()["lateral"] is True
    np.testing.assert_allclose(_np(again(x)), _np(model(x)), atol=1e-6)


@pytest.mark.backends
def test_contract_reconstruction_prediction_and_step_outputs():
    model = build_gncn((16,), hidden=[8, 4], iterations=4, init_std=1.0)
    assert model.step_key == "iterations" and model.num_steps == 4 and model.prediction_kind == "reconstruction"
    x = _binary(3, 16, seed=10)
    steps = model.step_outputs(x)
    assert len(steps) == 5
    np.testing.assert_allclose(_np(steps[-1]), _np(model(x)), atol=1e-6)
    prediction = model.interpret(x)
    assert isinstance(prediction, Prediction)
    assert set(prediction.columns) == {"reconstruction_error", "energy"}
    recon = prediction.arrays["reconstruction"]
    p = np.clip(recon, 1e-7, 1 - 1e-7)
    bce = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)  # nats, like the evaluator's bce
    np.testing.assert_allclose(prediction.columns["reconstruction_error"], bce, rtol=1e-5)
    np.testing.assert_allclose(prediction.columns["energy"], _np(model.settle(x)["energy"]), rtol=1e-5)
    gaussian = build_gncn((16,), hidden=[8, 4], iterations=2, output_activation="identity")
    out = gaussian.interpret(x)
    np.testing.assert_allclose(out.columns["reconstruction_error"],
                               np.mean((out.arrays["reconstruction"] - x) ** 2, axis=1), rtol=1e-5)


@pytest.mark.backends
def test_diverging_settling_is_reported():
    model = build_gncn((16,), hidden=[8, 4], iterations=200, beta=50.0, activation="identity",
                       output_activation="identity", init_std=1.0)
    with pytest.raises(TopdownZooError, match="diverged"):
        model.interpret(_binary(2, 16) * 1e3)


@pytest.mark.backends
@pytest.mark.parametrize("bad", [dict(weight_norm="bad"), dict(error_synapses="x"), dict(activation="swish"),
                                 dict(iterations=MAX_ITERATIONS + 1), dict(iterations=-1), dict(beta=float("nan")),
                                 dict(hidden=[]), dict(lateral=True, group_size=5)])
def test_bad_config_values_raise_config_error(bad):
    with pytest.raises(ConfigError):
        build_gncn((16,), **{"hidden": [8, 4], **bad})
    with pytest.raises(ConfigError):
        build_gncn((16,), hidden=[8, 4], iterations=2).settle(_binary(1, 16), iterations=MAX_ITERATIONS + 1)


@pytest.mark.backends
def test_deprecated_steps_key_is_accepted():
    with pytest.warns(DeprecationWarning, match="steps"):
        model = build_gncn((16,), hidden=[8, 4], steps=3)
    assert model.iterations == 3 and "steps" not in model.get_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = {**model.get_config(), "steps": 5}
        old.pop("iterations")
        assert GNCN.from_config(old).iterations == 5
        # the registry's preset says iterations; an explicit (old) steps override wins
        assert build_gncn((16,), hidden=[8, 4], iterations=50, steps=7).iterations == 7


def test_settling_traces_in_graph_mode():
    # TensorFlow only: not marked `backends`, so the backend matrix never runs it
    import tensorflow as tf

    model = build_gncn((16,), hidden=[8, 4], iterations=6)
    fn = tf.function(lambda v: model(v))
    x = _binary(2, 16)
    np.testing.assert_allclose(fn(tf.constant(x)).numpy(), _np(model(x)), atol=1e-6)

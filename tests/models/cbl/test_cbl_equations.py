"""CBL dynamics against the paper's equations (eqs. 4, 7, 8, 9, 11) on tiny tensors (every backend)."""
import keras
import numpy as np
import pytest

pytestmark = pytest.mark.backends
to_np = keras.ops.convert_to_numpy

from topdown_zoo.errors import ConfigError
from topdown_zoo.learning.bptt import resolve_step_weights, step_weighted_loss
from topdown_zoo.models.cbl.adapters import ConcatConvAdapter, FiLMAdapter, GatingAdapter
from topdown_zoo.models.cbl.model import CBLModel, build_cbl, build_feedforward

TINY = {"backbone": "standard_cnn", "backbone_config": {"num_classes": 3, "widths": [4, 4, 6, 6], "dense_units": 8}}
SHAPE = (8, 8, 1)


def tiny_cbl(**overrides):
    return build_cbl(SHAPE, **{**TINY, "context_dim": 5, **overrides})


def energise(model):
    """Fresh tiny models have logits ~1e-4; scale the head and gates so refinement moves y visibly."""
    logits = model.stage_layers[-1].layers[-1]
    logits.kernel.assign(to_np(logits.kernel) * 300.0)
    for adapter in model.adapters:
        adapter.gate.kernel.assign(to_np(adapter.gate.kernel) * 10.0)
    return model


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + SHAPE, dtype=np.float32), rng.integers(0, 3, size=n)


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_gating_adapter_matches_hand_computation():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    z = rng.normal(size=(2, 5)).astype("float32")
    adapter = GatingAdapter()
    adapter(h, z)
    w, b = (to_np(v) for v in adapter.gate.weights)
    expected = sigmoid(z @ w + b)[:, None, None, :] * h  # σ(Wz + b) ⊙ h
    np.testing.assert_allclose(to_np(adapter(h, z)), expected, rtol=1e-5, atol=1e-6)


def test_film_adapter_matches_hand_computation():
    rng = np.random.default_rng(2)
    h = rng.normal(size=(2, 4)).astype("float32")
    z = rng.normal(size=(2, 3)).astype("float32")
    adapter = FiLMAdapter()
    adapter(h, z)
    ws, bs = (to_np(v) for v in adapter.scale.weights)
    wt, bt = (to_np(v) for v in adapter.shift.weights)
    expected = (1 + z @ ws + bs) * h + (z @ wt + bt)
    np.testing.assert_allclose(to_np(adapter(h, z)), expected, rtol=1e-5, atol=1e-6)


def test_concat_adapter_is_a_1x1_conv_over_h_and_tiled_z():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    z = rng.normal(size=(2, 2)).astype("float32")
    adapter = ConcatConvAdapter()
    adapter(h, z)
    kernel, bias = (to_np(v) for v in adapter.mix.weights)
    stacked = np.concatenate([h, np.broadcast_to(z[:, None, None, :], (2, 3, 3, 2))], axis=-1)
    expected = np.einsum("bhwc,cd->bhwd", stacked, kernel[0, 0]) + bias
    np.testing.assert_allclose(to_np(adapter(h, z)), expected, rtol=1e-5, atol=1e-5)


def test_eq7_blend_against_hand_computation():
    h = np.array([[1.0, -2.0, 3.0]], dtype="float32")
    refined = np.array([[0.5, 4.0, -1.0]], dtype="float32")
    out = to_np(CBLModel.blend(h, refined, 0.25))
    np.testing.assert_allclose(out, 0.25 * h + 0.75 * refined)  # α h + (1 − α) ψ(h, z)


def test_refinement_step_equals_manual_unrolling_of_eqs_6_to_8():
    """One step by hand: z = g(y0); every tapped stage output is blended (eq. 7) and the
    refined state is propagated through the stages above it (eq. 8)."""
    model = tiny_cbl(iterations=1, alpha=0.3, taps=["block2", "block3"])
    x, _ = batch()
    y0 = x
    for layer in model.stage_layers:
        y0 = layer(y0, training=False)
    z = to_np(model.context(keras.ops.softmax(y0, axis=-1)))  # g = tanh(W·softmax(y) + b): tanh is the layer's
    h = x
    for name, layer in zip(model.stage_names, model.stage_layers):
        h = layer(h, training=False)
        if name in ("block2", "block3"):
            adapter = model.adapters[["block2", "block3"].index(name)]
            h = 0.3 * to_np(h) + 0.7 * to_np(adapter(h, z))
    steps = model.refine(x)
    np.testing.assert_allclose(to_np(steps[0]), to_np(y0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(steps[1]), to_np(h), rtol=1e-4, atol=1e-5)


def _unrolled_by_hand(model, x, taps, alpha, steps):
    """Eqs. 6–8 unrolled by hand, recomputing every stage from the input at every step."""
    outputs, z = [], None
    for _ in range(steps + 1):
        h = x
        for name, layer in zip(model.stage_names, model.stage_layers):
            h = layer(h, training=False)
            if z is not None and name in taps:
                h = alpha * to_np(h) + (1 - alpha) * to_np(model.adapters[taps.index(name)](h, z))
        outputs.append(to_np(h))
        z = to_np(model.context(keras.ops.softmax(h, axis=-1)))
    return outputs


@pytest.mark.parametrize("taps", [["block1", "block3"], ["block2", "block4"]])
def test_lowest_tap_computed_once_gives_the_same_steps_as_recomputing_everything(taps):
    """The lowest tapped stage's input never changes, so refine() computes it once per input
    (issue 12) — the steps must equal a hand unrolling that recomputes every stage each step."""
    model = energise(tiny_cbl(iterations=3, alpha=0.2, taps=taps))
    x, _ = batch()
    expected = _unrolled_by_hand(model, x, taps, 0.2, 3)
    lowest = model.stage_layers[model.stage_names.index(taps[0])]
    calls = []
    original = lowest.call
    lowest.call = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        steps = model.refine(x)
    finally:
        lowest.call = original
    for got, want in zip(steps, expected):
        np.testing.assert_allclose(to_np(got), want, rtol=1e-4, atol=1e-5)
    assert len(calls) == 1
    assert not np.allclose(expected[0], expected[-1])  # refinement really moved the output


def test_eq9_step_weighted_loss_against_hand_computation():
    losses = [keras.ops.convert_to_tensor(v) for v in (2.0, 1.0, 0.5)]
    assert float(step_weighted_loss(losses, [0.2, 0.3, 0.5])) == pytest.approx(0.2 * 2 + 0.3 * 1 + 0.5 * 0.5)
    assert resolve_step_weights("uniform", 2) == [1 / 3] * 3
    assert resolve_step_weights("last", 2) == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="needs 3"):
        resolve_step_weights([1.0, 1.0], 2)


def test_bptt_loss_is_the_weighted_sum_of_per_step_cross_entropies():
    model = tiny_cbl(iterations=2, step_weights=[0.5, 0.25, 0.25])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch(6)
    steps = model.refine(x)
    loss = float(to_np(model.bptt_loss(y, steps)))

    def ce(logits):
        logits = to_np(logits).astype("float64")
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    expected = 0.5 * ce(steps[0]) + 0.25 * ce(steps[1]) + 0.25 * ce(steps[2])
    assert loss == pytest.approx(expected, rel=1e-5)


def test_alpha_one_leaves_the_backbone_output_unchanged():
    model = tiny_cbl(iterations=3, alpha=1.0)
    x, _ = batch()
    steps = [to_np(s) for s in model.refine(x)]
    for step in steps[1:]:
        np.testing.assert_allclose(step, steps[0], atol=1e-6)


def test_zero_iterations_equals_the_backbone():
    cbl = tiny_cbl(iterations=0)
    plain = build_feedforward(SHAPE, **TINY)
    for src, dst in zip(cbl.stage_layers, plain.stage_layers):
        dst.set_weights(src.get_weights())
    x, _ = batch()
    np.testing.assert_allclose(to_np(cbl(x)), to_np(plain(x)), atol=1e-6)
    assert len(cbl.refine(x)) == 1


@pytest.mark.parametrize("adapter", ["gating", "film", "concat"])
def test_every_adapter_and_context_variable_gets_a_nonzero_gradient(adapter):
    """One BPTT step (eq. 9) of plain SGD through the backend's own training step moves every
    feedback parameter, i.e. each has a non-zero gradient."""
    model = tiny_cbl(iterations=2, adapter=adapter, alpha=0.2, alpha_trainable=True)
    model.compile(optimizer=keras.optimizers.SGD(100.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch(8)
    feedback_vars = [v for a in model.adapters for v in a.trainable_weights]
    feedback_vars += model.context.trainable_weights + [model.alpha_logits]
    before = [keras.ops.convert_to_numpy(v).copy() for v in feedback_vars]
    model.train_on_batch(x, y)
    for var, old in zip(feedback_vars, before):
        assert np.abs(keras.ops.convert_to_numpy(var) - old).max() > 0.0, var.path


def test_each_tapped_adapter_changes_the_output():
    """Refined early layers reach the output: perturbing any one adapter moves y(T)."""
    model = tiny_cbl(iterations=1)
    x, _ = batch()
    before = to_np(model(x))
    for adapter in model.adapters:
        kernel = adapter.gate.kernel
        saved = to_np(kernel)
        kernel.assign(saved + 1.0)
        assert np.abs(to_np(model(x)) - before).max() > 1e-6, adapter.name
        kernel.assign(saved)


def test_tolerance_stops_refinement_early():
    x, _ = batch()
    loose = energise(tiny_cbl(iterations=4, tolerance=1e9))
    y, steps_run = loose.refine_until_converged(x)
    assert int(steps_run) == 1  # the first change is already below the tolerance
    np.testing.assert_allclose(to_np(y), to_np(loose.refine(x, iterations=1)[-1]), atol=1e-6)
    np.testing.assert_allclose(to_np(loose.refine(x)[-1]), to_np(y), atol=1e-6)

    strict = tiny_cbl(iterations=4, tolerance=0.0)
    strict.set_weights(loose.get_weights())
    y_full, steps_full = strict.refine_until_converged(x)
    assert int(steps_full) == 4
    assert np.abs(to_np(y_full) - to_np(y)).max() > 1e-7


def test_anytime_counts_each_examples_steps_against_its_own_output_changes():
    """refine_anytime's per-example count is the first τ with max|y⁽τ⁾−y⁽τ⁻¹⁾| < tolerance (eq. 11),
    else T — recomputed here from the unrolled steps."""
    model = energise(tiny_cbl(iterations=4))
    x, _ = batch(8)
    steps = [to_np(y) for y in model.refine(x)]
    changes = np.stack([np.abs(b - a).max(-1) for a, b in zip(steps, steps[1:])], axis=1)  # (n, T)
    model.tolerance = float(np.median(changes[:, 0]))  # about half the batch stops after one step
    below = changes < model.tolerance
    expected = np.where(below.any(1), below.argmax(1) + 1, 4)
    y, batch_steps, counts = model.refine_anytime(x)
    np.testing.assert_array_equal(to_np(counts), expected)
    assert int(batch_steps) == expected.max()
    assert 1 <= expected.min() < expected.max()  # the tolerance splits the batch
    np.testing.assert_allclose(to_np(y), np.stack([steps[c][i] for i, c in enumerate(expected)]), atol=1e-5)


def test_per_example_convergence_does_not_depend_on_the_batch():
    model = energise(tiny_cbl(iterations=4))
    x, _ = batch(6)
    y_full = to_np(model(x))
    deltas = np.abs(to_np(model.refine(x)[2]) - to_np(model.refine(x)[1])).max(-1)
    model.tolerance = float(np.median(deltas))
    y_tol = to_np(model(x))
    singles = np.concatenate([to_np(model(x[i:i + 1])) for i in range(len(x))])
    np.testing.assert_allclose(y_tol, singles, atol=1e-5)
    assert np.abs(y_tol - y_full).max() > 0


@pytest.mark.parametrize("adapter", ["gating", "film", "concat"])
def test_keras_file_round_trip_gives_identical_outputs(tmp_path, adapter):
    model = tiny_cbl(iterations=2, adapter=adapter, alpha=0.4, alpha_trainable=True, tolerance=1e-3)
    x, _ = batch()
    path = tmp_path / "cbl.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["adapter"] == adapter and loaded.tolerance == 1e-3
    np.testing.assert_array_equal(to_np(loaded(x)), to_np(model(x)))
    for a, b in zip(loaded.refine(x), model.refine(x)):
        np.testing.assert_array_equal(to_np(a), to_np(b))


def test_bad_config_values_name_the_key_and_the_allowed_values():
    with pytest.raises(ConfigError, match="adapter='attention'.*'gating', 'film', 'concat'"):
        tiny_cbl(adapter="attention")
    with pytest.raises(ConfigError, match="taps=.*block1"):
        tiny_cbl(taps=["conv9"])
    with pytest.raises(ConfigError, match="alpha=1.5"):
        tiny_cbl(alpha=1.5)
    with pytest.raises(ConfigError, match="iterations=-1"):
        tiny_cbl(iterations=-1)
    with pytest.raises(ConfigError, match="tolerance=nan"):
        tiny_cbl(tolerance=float("nan"))
    with pytest.raises(ConfigError, match="context_input='probs'"):
        tiny_cbl(context_input="probs")
    with pytest.raises(ConfigError, match="backbone='vgg'"):
        tiny_cbl(backbone="vgg")


def test_a_huge_iteration_count_is_refused_before_anything_is_built(monkeypatch):
    """An untrusted config asking for 10⁹ refinement steps fails fast, before the backbone exists."""
    import topdown_zoo.models.cbl.model as cbl_model

    model = tiny_cbl(iterations=1)
    with pytest.raises(ConfigError, match="iterations=1000000000"):
        model.refine(batch()[0], iterations=10**9)

    def no_backbone(*args, **kwargs):
        raise AssertionError("the backbone was built before the step count was checked")

    monkeypatch.setattr(cbl_model, "make_backbone", no_backbone)
    with pytest.raises(ConfigError, match="iterations=1000000000"):
        cbl_model.CBLModel(**TINY, iterations=10**9)

"""BL/BLT, the gated ConvRNN and the feedback network: unrolling, readouts, losses, serialization."""
import keras
import numpy as np
import pytest
from convrnn_reference import feedforward_first_step

from topdown_zoo.errors import ConfigError, TopdownZooError
from topdown_zoo.models.convrnn.base import resolve_time_weights
from topdown_zoo.models.convrnn.blt import RecurrentCNN, build_recurrent_cnn
from topdown_zoo.models.convrnn.convrnn import build_gated_convrnn
from topdown_zoo.models.convrnn.feedback import build_feedback_network

X = np.random.default_rng(0).random((3, 12, 12, 1)).astype("float32")
Y = np.array([0, 1, 2])
TINY = dict(widths=[4, 6], num_classes=5)
to_np = keras.ops.convert_to_numpy
MODELS = [
    (build_recurrent_cnn, dict(connectivity="blt", iterations=3, **TINY)),
    (build_recurrent_cnn, dict(connectivity="bl", iterations=2, **TINY)),
    (build_gated_convrnn, dict(cell="reciprocal_gated", iterations=3, **TINY)),
    (build_gated_convrnn, dict(cell="resnet_like", iterations=2, **TINY)),
    (build_feedback_network, dict(stem_width=4, iterations=3, **TINY)),
]
MODEL_IDS = ["blt", "bl", "rgcell", "resnetlike", "feedbacknet"]


@pytest.mark.backends
def test_bl_with_one_step_is_its_feedforward_path():
    b = build_recurrent_cnn((12, 12, 1), connectivity="b", iterations=1, **TINY)
    for connectivity in ("bl", "blt"):
        rec = build_recurrent_cnn((12, 12, 1), connectivity=connectivity, iterations=1, **TINY)
        for src, dst in [(b.bottom_up, rec.bottom_up), (b.norms[0], rec.norms[0]), ([b.readout], [rec.readout])]:
            for s, d in zip(src, dst):
                d.set_weights(s.get_weights())
        np.testing.assert_allclose(to_np(rec(X)), to_np(b(X)), rtol=1e-5, atol=1e-6)
        # with more steps the lateral/top-down terms act: the output differs from the B pass
        rec4 = build_recurrent_cnn((12, 12, 1), connectivity=connectivity, iterations=2, **TINY)
        for src, dst in [(b.bottom_up, rec4.bottom_up), (b.norms[0], rec4.norms[0]), ([b.readout], [rec4.readout])]:
            for s, d in zip(src, dst):
                d.set_weights(s.get_weights())
        steps = rec4.refine(X)
        np.testing.assert_allclose(to_np(steps[0]), to_np(b(X)), rtol=1e-5, atol=1e-6)
        assert np.abs(to_np(steps[1]) - to_np(steps[0])).max() > 1e-4


@pytest.mark.backends
def test_blt_has_top_down_and_bl_does_not():
    bl = build_recurrent_cnn((12, 12, 1), connectivity="bl", **TINY)
    blt = build_recurrent_cnn((12, 12, 1), connectivity="blt", **TINY)
    assert len(bl.top_down) == 0 and len(blt.top_down) == 1
    assert blt.count_params() - bl.count_params() == 3 * 3 * 6 * 4  # one 3×3 conv, 6 -> 4 channels


@pytest.mark.backends
@pytest.mark.parametrize("build,kw", MODELS, ids=MODEL_IDS)
def test_per_step_readouts_count_shapes_and_last_step(build, kw, tmp_path):
    model = build((12, 12, 1), **kw)
    steps = model.refine(X)
    assert len(steps) == kw["iterations"] == model.num_steps
    assert model.step_key == "iterations" and model.evaluator.endswith("evaluate_anytime")
    assert all(tuple(s.shape) == (3, 5) for s in steps)
    np.testing.assert_allclose(to_np(model(X)), to_np(steps[-1]), rtol=1e-6)
    for a, b in zip(model.step_outputs(X), steps):
        np.testing.assert_array_equal(to_np(a), to_np(b))
    assert len(model.refine(X, iterations=1)) == 1
    # the recurrence changes the prediction over time
    assert np.abs(to_np(steps[-1]) - to_np(steps[0])).max() > 1e-5
    # round trip through .keras
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert type(again) is type(model) and again.iterations == model.iterations
    np.testing.assert_allclose(to_np(again(X)), to_np(model(X)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build,kw", MODELS, ids=MODEL_IDS)
def test_graph_mode_trace_gives_the_eager_output(build, kw):
    # TensorFlow only: not marked `backends`, so the backend matrix never runs it
    import tensorflow as tf

    model = build((12, 12, 1), **kw)
    traced = tf.function(lambda t: model(t), input_signature=[tf.TensorSpec((None, 12, 12, 1))])
    np.testing.assert_allclose(traced(X).numpy(), to_np(model(X)), rtol=1e-5, atol=1e-5)


@pytest.mark.backends
@pytest.mark.parametrize("build,kw", MODELS, ids=MODEL_IDS)
def test_a_few_bptt_steps_lower_the_loss_of_every_model(build, kw):
    """Training through the backend's own step (StepLossTraining) lowers the loss over every step."""
    keras.utils.set_random_seed(1)
    model = build((12, 12, 1), **kw)
    model.compile_default(keras.optimizers.Adam(1e-2))
    x, y = np.concatenate([X] * 4), np.concatenate([Y] * 4)
    before = float(to_np(model.step_loss(y, model.refine(x))))
    model.fit(x, y, epochs=6, batch_size=12, verbose=0, shuffle=False)
    after = float(to_np(model.step_loss(y, model.refine(x, training=True))))
    assert np.isfinite(after) and after < before


@pytest.mark.backends
def test_gated_convrnn_first_step_is_the_feedforward_elu_network():
    """Bypass at the network level: step 0 (zero states) = Conv → ELU → pool → … → GAP → Dense."""
    model = build_gated_convrnn((12, 12, 1), iterations=2, **TINY)
    expected = feedforward_first_step(model, X)
    np.testing.assert_allclose(to_np(model.refine(X)[0]), to_np(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.backends
def test_step_weights_uniform_last_geometric():
    assert resolve_time_weights("uniform", 4) == [0.25] * 4
    assert resolve_time_weights("last", 3) == [0.0, 0.0, 1.0]
    assert resolve_time_weights("geometric", 3, gamma=0.5) == [0.5, 0.25, 0.125]
    with pytest.raises(TopdownZooError):
        resolve_time_weights([1.0, 2.0], 3)
    with pytest.raises(TopdownZooError):
        RecurrentCNN(connectivity="bt")


@pytest.mark.backends
@pytest.mark.parametrize("build", [build_recurrent_cnn, build_gated_convrnn, build_feedback_network])
def test_bad_configs_raise_config_errors_before_anything_is_built(build):
    with pytest.raises(ConfigError, match="iterations=1000000000"):
        build((12, 12, 1), iterations=10**9, **TINY)
    with pytest.raises(ConfigError, match="iterations=0"):
        build((12, 12, 1), iterations=0, **TINY)
    with pytest.raises(ConfigError, match=r"widths\[1\]=-2"):
        build((12, 12, 1), widths=[4, -2], num_classes=5)
    with pytest.raises(ConfigError, match="gamma=nan"):
        build((12, 12, 1), gamma=float("nan"), **TINY)
    model = build((12, 12, 1), iterations=2, **TINY)
    with pytest.raises(ConfigError, match="iterations=1000000000"):
        model.refine(X, iterations=10**9)


@pytest.mark.backends
def test_feedback_network_loss_is_gamma_weighted_sum_over_iterations():
    model = build_feedback_network((12, 12, 1), stem_width=4, iterations=3, gamma=0.7, **TINY)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = model.refine(X)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = sum(0.7 ** t * float(to_np(ce(Y, s))) for t, s in zip(range(1, 4), steps))
    assert float(to_np(model.step_loss(Y, steps))) == pytest.approx(expected, rel=1e-5)


@pytest.mark.backends
def test_training_over_every_step_lowers_the_loss():
    keras.utils.set_random_seed(1)
    model = build_recurrent_cnn((12, 12, 1), connectivity="blt", iterations=2, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x = np.concatenate([X] * 4)
    y = np.concatenate([Y] * 4)
    hist = model.fit(x, y, epochs=15, batch_size=12, verbose=0).history
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    # the early readouts are trained too (batch statistics: the BN moving averages lag after 15 updates)
    steps = model.refine(x, training=True)
    assert all((to_np(s).argmax(-1) == y).mean() > 0.5 for s in steps)

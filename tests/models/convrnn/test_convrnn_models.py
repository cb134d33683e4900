"""BL/BLT, the gated ConvRNN and the feedback network: unrolling, readouts, losses, serialization."""
import numpy as np
import pytest
import keras
import tensorflow as tf

from convrnn_reference import feedforward_first_step
from topdown_zoo.errors import TopdownZooError
from topdown_zoo.models.convrnn.base import resolve_time_weights
from topdown_zoo.models.convrnn.blt import RecurrentCNN, build_recurrent_cnn
from topdown_zoo.models.convrnn.convrnn import build_gated_convrnn
from topdown_zoo.models.convrnn.feedback import build_feedback_network

X = np.random.default_rng(0).random((3, 12, 12, 1)).astype("float32")
Y = np.array([0, 1, 2])
TINY = dict(widths=[4, 6], num_classes=5)


def test_bl_with_one_step_is_its_feedforward_path():
    b = build_recurrent_cnn((12, 12, 1), connectivity="b", iterations=1, **TINY)
    for connectivity in ("bl", "blt"):
        rec = build_recurrent_cnn((12, 12, 1), connectivity=connectivity, iterations=1, **TINY)
        for src, dst in [(b.bottom_up, rec.bottom_up), (b.norms[0], rec.norms[0]), ([b.readout], [rec.readout])]:
            for s, d in zip(src, dst):
                d.set_weights(s.get_weights())
        np.testing.assert_allclose(np.asarray(rec(X)), np.asarray(b(X)), rtol=1e-5, atol=1e-6)
        # with more steps the lateral/top-down terms act: the output differs from the B pass
        rec4 = build_recurrent_cnn((12, 12, 1), connectivity=connectivity, iterations=2, **TINY)
        for src, dst in [(b.bottom_up, rec4.bottom_up), (b.norms[0], rec4.norms[0]), ([b.readout], [rec4.readout])]:
            for s, d in zip(src, dst):
                d.set_weights(s.get_weights())
        steps = rec4.refine(X)
        np.testing.assert_allclose(np.asarray(steps[0]), np.asarray(b(X)), rtol=1e-5, atol=1e-6)
        assert np.abs(np.asarray(steps[1]) - np.asarray(steps[0])).max() > 1e-4


def test_blt_has_top_down_and_bl_does_not():
    bl = build_recurrent_cnn((12, 12, 1), connectivity="bl", **TINY)
    blt = build_recurrent_cnn((12, 12, 1), connectivity="blt", **TINY)
    assert len(bl.top_down) == 0 and len(blt.top_down) == 1
    assert blt.count_params() - bl.count_params() == 3 * 3 * 6 * 4  # one 3×3 conv, 6 -> 4 channels


@pytest.mark.parametrize("build,kw", [
    (build_recurrent_cnn, dict(connectivity="blt", iterations=3, **TINY)),
    (build_recurrent_cnn, dict(connectivity="bl", iterations=2, **TINY)),
    (build_gated_convrnn, dict(cell="reciprocal_gated", iterations=3, **TINY)),
    (build_gated_convrnn, dict(cell="resnet_like", iterations=2, **TINY)),
    (build_feedback_network, dict(stem_width=4, iterations=3, **TINY)),
])
def test_per_step_readouts_count_shapes_and_last_step(build, kw, tmp_path):
    model = build((12, 12, 1), **kw)
    steps = model.refine(X)
    assert len(steps) == kw["iterations"]
    assert all(tuple(s.shape) == (3, 5) for s in steps)
    np.testing.assert_allclose(np.asarray(model(X)), np.asarray(steps[-1]), rtol=1e-6)
    assert len(model.refine(X, iterations=1)) == 1
    # the recurrence changes the prediction over time
    assert np.abs(np.asarray(steps[-1]) - np.asarray(steps[0])).max() > 1e-5
    # round trip through .keras and a graph-mode trace
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert type(again) is type(model) and again.iterations == model.iterations
    np.testing.assert_allclose(np.asarray(again(X)), np.asarray(model(X)), rtol=1e-5, atol=1e-6)
    traced = tf.function(lambda t: model(t), input_signature=[tf.TensorSpec((None, 12, 12, 1))])
    np.testing.assert_allclose(traced(X).numpy(), np.asarray(model(X)), rtol=1e-5, atol=1e-5)


def test_gated_convrnn_first_step_is_the_feedforward_elu_network():
    """Bypass at the network level: step 0 (zero states) = Conv → ELU → pool → … → GAP → Dense."""
    model = build_gated_convrnn((12, 12, 1), iterations=2, **TINY)
    expected = feedforward_first_step(model, X)
    np.testing.assert_allclose(np.asarray(model.refine(X)[0]), np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_step_weights_uniform_last_geometric():
    assert resolve_time_weights("uniform", 4) == [0.25] * 4
    assert resolve_time_weights("last", 3) == [0.0, 0.0, 1.0]
    assert resolve_time_weights("geometric", 3, gamma=0.5) == [0.5, 0.25, 0.125]
    with pytest.raises(TopdownZooError):
        resolve_time_weights([1.0, 2.0], 3)
    with pytest.raises(TopdownZooError):
        RecurrentCNN(connectivity="bt")


def test_feedback_network_loss_is_gamma_weighted_sum_over_iterations():
    model = build_feedback_network((12, 12, 1), stem_width=4, iterations=3, gamma=0.7, **TINY)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    steps = model.refine(X)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = sum(0.7 ** t * float(ce(Y, s)) for t, s in zip(range(1, 4), steps))
    assert float(model.step_loss(Y, steps)) == pytest.approx(expected, rel=1e-5)


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
    assert all((np.asarray(s).argmax(-1) == y).mean() > 0.5 for s in steps)

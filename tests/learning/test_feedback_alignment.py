"""Feedback alignment and direct feedback alignment against their definitions."""
import numpy as np
import pytest
import keras

from topdown_zoo.errors import TopdownZooError
from topdown_zoo.learning.feedback_alignment import (
    FeedbackAlignmentModel, backprop_gradients, blocks, chain_layers, dfa_gradients, fa_gradients,
    with_feedback_alignment,
)

CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(7, activation="relu"), keras.layers.Dense(3)])


def cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.MaxPooling2D(2), keras.layers.Conv2D(5, 3, padding="same", activation="elu"),
                             keras.layers.Flatten(), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3)])


def data(shape, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype("float32")
    w = rng.normal(size=(int(np.prod(shape)), 3))
    y = (x.reshape(n, -1) @ w).argmax(-1).astype("int32")
    return x, y


@pytest.mark.parametrize("make,shape", [(mlp, (6,)), (cnn, (8, 8, 1))], ids=["mlp", "cnn"])
def test_fa_with_b_equal_to_w_is_backprop(make, shape):
    net = make()
    layers = chain_layers(net)
    x, y = data(shape)
    feedbacks = {l.name: l.kernel for l in layers if hasattr(l, "kernel")}  # B = W: the backward uses Wᵀ
    loss_bp, _, bp = backprop_gradients(layers, x, y, CE)
    loss_fa, _, fa = fa_gradients(layers, feedbacks, x, y, CE)
    assert float(loss_fa) == pytest.approx(float(loss_bp), rel=1e-6)
    assert len(bp) == len(fa) == len(net.trainable_weights)
    for (g_bp, v1), (g_fa, v2) in zip(bp, fa):
        assert v1 is v2
        np.testing.assert_allclose(np.asarray(g_fa), np.asarray(g_bp), rtol=1e-5, atol=1e-7)
    # with random B the hidden layers' updates differ from backprop's, the last layer's do not
    rng = np.random.default_rng(1)
    random_b = {k: rng.normal(size=tuple(v.shape)).astype("float32") for k, v in feedbacks.items()}
    _, _, fa_rand = fa_gradients(layers, random_b, x, y, CE)
    np.testing.assert_allclose(np.asarray(fa_rand[-1][0]), np.asarray(bp[-1][0]), rtol=1e-5, atol=1e-7)
    assert np.abs(np.asarray(fa_rand[0][0]) - np.asarray(bp[0][0])).max() > 1e-4


def test_dfa_update_matches_the_definition():
    """Two hidden layers by hand: δa_l = (e B_l) ⊙ f'(a_l), ΔW_l = h_{l−1}ᵀ δa_l, e = (softmax − onehot)/N."""
    net = mlp()
    layers = chain_layers(net)
    x, y = data((6,))
    rng = np.random.default_rng(2)
    b1, b2 = rng.normal(size=(3, 8)).astype("float32"), rng.normal(size=(3, 7)).astype("float32")
    loss, logits, grads = dfa_gradients(layers, {layers[0].name: b1, layers[1].name: b2}, x, y, CE)
    (W1, c1), (W2, c2), (W3, c3) = [[np.asarray(w) for w in l.weights] for l in layers]
    a1 = x @ W1 + c1
    h1 = np.tanh(a1)
    a2 = h1 @ W2 + c2
    h2 = np.maximum(a2, 0)
    out = h2 @ W3 + c3
    p = np.exp(out - out.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    e = (p - np.eye(3)[y]) / len(y)
    d1 = (e @ b1) * (1 - h1 ** 2)
    d2 = (e @ b2) * (a2 > 0)
    expected = [x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ e, e.sum(0)]
    assert [tuple(g.shape) for g, _ in grads] == [tuple(v.shape) for v in net.trainable_weights]
    for (g, _), ref in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-4, atol=1e-6)


def test_dfa_blocks_and_feedback_shapes_on_a_cnn():
    net = cnn()
    model = with_feedback_alignment(net, rule="dfa", input_shape=(8, 8, 1))
    parts = blocks(chain_layers(net))
    assert [type(p[0]).__name__ for p in parts] == ["Conv2D", "Conv2D", "Dense", "Dense"]
    shapes = sorted(tuple(b.shape) for b in model.feedbacks.values())
    assert shapes == sorted([(3, 3 * 3 * 4), (3, 3 * 3 * 5), (3, 6)])


def _fit(rule, make, shape, epochs=60, seed=0):
    net = make(seed)
    model = with_feedback_alignment(net, rule=rule, seed=seed, input_shape=shape)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=CE, metrics=["accuracy"])
    x, y = data(shape, n=128)
    hist = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history
    return model, hist


@pytest.mark.parametrize("rule", ["fa", "dfa"])
@pytest.mark.parametrize("make,shape", [(mlp, (6,)), (cnn, (8, 8, 1))], ids=["mlp", "cnn"])
def test_random_feedback_training_lowers_the_loss(rule, make, shape):
    model, hist = _fit(rule, make, shape)
    # chance is 1/3 and the initial loss ≈ log 3; backprop reaches ≈ 0.02 on these data
    assert hist["loss"][-1] < 0.75 * hist["loss"][0], hist["loss"]
    assert hist["accuracy"][-1] > 0.55


def test_dfa_gradients_have_the_variables_shapes_and_hidden_layers_learn():
    net = cnn()
    model = with_feedback_alignment(net, rule="dfa", input_shape=(8, 8, 1))
    model.compile(optimizer="adam", loss=CE)
    x, y = data((8, 8, 1))
    _, _, grads = model.rule_gradients(x, y)
    assert [tuple(g.shape) for g, _ in grads] == [tuple(v.shape) for v in net.trainable_weights]
    assert all(float(np.abs(np.asarray(g)).max()) > 0 for g, _ in grads)


def test_feedback_matrices_are_fixed_and_saved(tmp_path):
    model, _ = _fit("fa", mlp, (6,), epochs=2)
    before = {k: np.asarray(v).copy() for k, v in model.feedbacks.items()}
    assert len(before) == 2  # every Dense but the first
    model.fit(*data((6,), n=32), epochs=1, verbose=0)
    for k, v in model.feedbacks.items():
        np.testing.assert_array_equal(np.asarray(v), before[k])
    path = tmp_path / "fa.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, FeedbackAlignmentModel) and again.rule == "fa"
    x, _ = data((6,))
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6)
    for k, v in again.feedbacks.items():
        np.testing.assert_array_equal(np.asarray(v), before[k])


def test_rejects_unknown_rules_and_non_chain_layers():
    with pytest.raises(TopdownZooError):
        FeedbackAlignmentModel(mlp(), rule="hebb")
    net = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(3), keras.layers.Dense(2)])
    with pytest.raises(TopdownZooError):
        with_feedback_alignment(net, input_shape=(5, 4))

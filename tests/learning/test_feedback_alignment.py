"""Feedback alignment and direct feedback alignment, as local rules, against their definitions
(every backend: the hand-written backward pass runs on keras.ops)."""
import keras
import numpy as np
import pytest
from autodiff_reference import autodiff_gradients

from topdown_zoo.errors import ConfigError, TopdownZooError
from topdown_zoo.learning.feedback_alignment import (
    FeedbackAlignmentModel,
    blocks,
    chain_layers,
    dfa_updates,
    fa_updates,
    output_error,
    with_feedback_alignment,
)

pytestmark = pytest.mark.backends
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
to_np = keras.ops.convert_to_numpy


def numpy_init(net, seed):
    """Glorot-uniform kernels and zero biases from NumPy: the same start on every backend (Keras'
    own initializers draw different numbers per backend, and FA's progress depends on the start)."""
    rng = np.random.default_rng(seed)
    for layer in chain_layers(net):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            shape = tuple(layer.kernel.shape)
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
            layer.kernel.assign(rng.uniform(-limit, limit, size=shape).astype("float32"))
            if layer.use_bias:
                layer.bias.assign(np.zeros(tuple(layer.bias.shape), "float32"))
    return net


def mlp(seed=0):
    return numpy_init(keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                                        keras.layers.Dense(7, activation="relu"), keras.layers.Dense(3)]), seed)


def cnn(seed=0):
    return numpy_init(keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(5, 3, padding="same", activation="elu"), keras.layers.Flatten(),
        keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3)]), seed)


def wide_cnn(seed=0):
    """Every other supported layer: strided 'same' conv, batch norm, overlapping 'same' max pool,
    average pool, activation layers, reshape, global average pooling, a nested Sequential."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((9, 9, 2)),
        keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ELU(alpha=0.7),
        keras.layers.MaxPooling2D(3, strides=2, padding="same"),
        keras.Sequential([keras.layers.Conv2D(6, 2, padding="valid", activation="sigmoid"),
                          keras.layers.LeakyReLU(negative_slope=0.1)]),
        keras.layers.Conv2D(6, 1, activation="silu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Reshape((2, 3)),
        keras.layers.Dense(4, activation="softplus"),
        keras.layers.Flatten(),
        keras.layers.Activation("tanh"),
        keras.layers.Dense(3),
    ])


def avg_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, activation="tanh"),
                             keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                             keras.layers.Dense(3)])


def data(shape, n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + shape).astype("float32")
    w = rng.normal(size=(int(np.prod(shape)), 3))
    y = (x.reshape(n, -1) @ w).argmax(-1).astype("int32")
    return x, y


def _assert_same_updates(got, want, rtol=1e-4, atol=1e-6):
    assert [v.path for v, _ in got] == [v.path for v, _ in want]
    for (v, g), (_, w) in zip(got, want):
        np.testing.assert_allclose(to_np(g), to_np(w), rtol=rtol, atol=atol, err_msg=v.path)


@pytest.mark.parametrize("make,shape", [(mlp, (6,)), (cnn, (8, 8, 1)), (wide_cnn, (9, 9, 2)), (avg_cnn, (8, 8, 1))],
                         ids=["mlp", "cnn", "wide_cnn", "avg_cnn"])
def test_fa_with_b_equal_to_w_is_backprop(make, shape):
    net = make()
    layers = chain_layers(net)
    x, y = data(shape)
    feedbacks = {l.name: l.kernel for l in layers if hasattr(l, "kernel")}  # B = W: the backward uses Wᵀ
    loss_bp, _, bp = autodiff_gradients(layers, x, y, CE)
    loss_fa, _, fa = fa_updates(layers, feedbacks, x, y, CE)
    assert float(to_np(loss_fa)) == pytest.approx(float(to_np(loss_bp)), rel=1e-6)
    assert len(fa) == len(net.trainable_weights)
    _assert_same_updates(fa, bp)
    # with random B the hidden layers' updates differ from backprop's, the last layer's do not
    rng = np.random.default_rng(1)
    random_b = {k: rng.normal(size=tuple(v.shape)).astype("float32") for k, v in feedbacks.items()}
    _, _, fa_rand = fa_updates(layers, random_b, x, y, CE)
    np.testing.assert_allclose(to_np(fa_rand[-1][1]), to_np(bp[-1][1]), rtol=1e-5, atol=1e-7)
    assert np.abs(to_np(fa_rand[0][1]) - to_np(bp[0][1])).max() > 1e-4


def test_dfa_update_matches_the_definition():
    """Two hidden layers by hand: δa_l = (e B_l) ⊙ f'(a_l), ΔW_l = h_{l−1}ᵀ δa_l, e = (softmax − onehot)/N."""
    net = mlp()
    layers = chain_layers(net)
    x, y = data((6,))
    rng = np.random.default_rng(2)
    b1, b2 = rng.normal(size=(3, 8)).astype("float32"), rng.normal(size=(3, 7)).astype("float32")
    loss, logits, updates = dfa_updates(layers, {layers[0].name: b1, layers[1].name: b2}, x, y, CE)
    (W1, c1), (W2, c2), (W3, c3) = [[to_np(w) for w in l.weights] for l in layers]
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
    assert [v.path for v, _ in updates] == [v.path for v in net.trainable_weights]
    for (_, g), ref in zip(updates, expected):
        np.testing.assert_allclose(to_np(g), ref, rtol=1e-4, atol=1e-6)
    assert float(to_np(loss)) == pytest.approx(-np.log(p[np.arange(len(y)), y]).mean(), rel=1e-5)


@pytest.mark.parametrize("loss,target", [
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), "sparse"),
    (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "onehot"),
    (keras.losses.MeanSquaredError(), "onehot"),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"), "sparse"),
], ids=["sparse_ce", "ce_smoothed", "mse", "sparse_ce_sum"])
def test_output_error_is_the_gradient_of_the_loss(loss, target):
    """e = ∂L/∂y by hand equals the autodiff gradient for each supported loss, with sample weights."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 4)).astype("float32")
    labels = rng.integers(0, 4, size=5)
    y = labels if target == "sparse" else np.eye(4, dtype="float32")[labels]
    weights = rng.uniform(0.5, 2.0, size=5).astype("float32")
    identity = keras.layers.Dense(4, use_bias=False, kernel_initializer="identity")
    identity.build((None, 4))
    # through an identity Dense layer fed with the logits, the kernel's gradient is xᵀ e
    x = logits
    kernel_grad = autodiff_gradients([identity], x, y, lambda t, p: loss(t, p, sample_weight=weights))[2][0][1]
    e = to_np(output_error(loss, y, logits, weights))
    np.testing.assert_allclose(x.T @ e, to_np(kernel_grad), rtol=1e-5, atol=1e-6)


def test_unknown_losses_are_refused():
    with pytest.raises(ConfigError, match="from_logits=True"):
        output_error(keras.losses.SparseCategoricalCrossentropy(), np.zeros(2, "int32"), np.zeros((2, 3), "float32"))


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
    hist = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, shuffle=False).history
    return model, hist


@pytest.mark.parametrize("rule,make,shape,seed,epochs", [
    ("fa", mlp, (6,), 0, 30), ("dfa", mlp, (6,), 0, 30), ("fa", cnn, (8, 8, 1), 3, 40), ("dfa", cnn, (8, 8, 1), 3, 40),
    ("backprop", mlp, (6,), 0, 30)], ids=["fa-mlp", "dfa-mlp", "fa-cnn", "dfa-cnn", "backprop-mlp"])
def test_random_feedback_training_lowers_the_loss(rule, make, shape, seed, epochs):
    """A few hundred steps through ``fit`` (same start and same numbers on every backend)."""
    model, hist = _fit(rule, make, shape, epochs=epochs, seed=seed)
    # chance is 1/3 and the initial loss ≈ log 3; backprop reaches ≈ 0.06 on these data
    assert hist["loss"][-1] < 0.6 * hist["loss"][0], hist["loss"]
    assert hist["accuracy"][-1] > 0.7


def test_dfa_updates_have_the_variables_shapes_and_hidden_layers_learn():
    net = cnn()
    model = with_feedback_alignment(net, rule="dfa", input_shape=(8, 8, 1))
    model.compile(optimizer="adam", loss=CE)
    x, y = data((8, 8, 1))
    _, _, updates = model.local_updates(x, y, None)
    assert [tuple(u.shape) for _, u in updates] == [tuple(v.shape) for v in net.trainable_weights]
    assert all(float(np.abs(to_np(u)).max()) > 0 for _, u in updates)


def test_feedback_matrices_are_fixed_and_saved(tmp_path):
    model, _ = _fit("fa", mlp, (6,), epochs=2)
    before = {k: to_np(v).copy() for k, v in model.feedbacks.items()}
    assert len(before) == 2  # every Dense but the first
    model.fit(*data((6,), n=32), epochs=1, verbose=0)
    for k, v in model.feedbacks.items():
        np.testing.assert_array_equal(to_np(v), before[k])
    path = tmp_path / "fa.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, FeedbackAlignmentModel) and again.rule == "fa"
    x, _ = data((6,))
    np.testing.assert_allclose(to_np(again(x)), to_np(model(x)), rtol=1e-6)
    for k, v in again.feedbacks.items():
        np.testing.assert_array_equal(to_np(v), before[k])


def test_the_wrapper_follows_the_model_contract():
    model = with_feedback_alignment(mlp(), rule="dfa", input_shape=(6,))
    assert model.learning_rule == "local" and model.num_steps == 0 and model.step_key is None
    assert [s.shape for s in model.input_specs()] == [(6,)]
    x = model.example_inputs(batch=3)
    assert len(model.step_outputs(x)) == 1
    assert model.interpret(x).columns["label"].shape == (3,)
    assert with_feedback_alignment(mlp(), rule="backprop", input_shape=(6,)).learning_rule == "objective"


def test_rejects_unknown_rules_and_non_chain_layers():
    with pytest.raises(ConfigError, match="rule='hebb'"):
        FeedbackAlignmentModel(mlp(), rule="hebb")
    net = keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(3), keras.layers.Dense(2)])
    with pytest.raises(TopdownZooError, match="LSTM"):
        with_feedback_alignment(net, input_shape=(5, 4))
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="gelu"), keras.layers.Dense(2)])
    with pytest.raises(TopdownZooError, match="gelu"):
        with_feedback_alignment(net, input_shape=(6,))

"""Symmetric Counter-Hebb = backprop (paper section 4; Akrouf et al. 2019), layer type by layer type,
on every backend: the eq.-4 updates equal the backend's autodiff gradients of the same loss."""
import keras
import numpy as np
import pytest
from autodiff import to_numpy, value_and_grad
from keras import layers, ops

from topdown_zoo.layers.backbones import BasicBlock
from topdown_zoo.models.butd.model import BUTDModel

pytestmark = pytest.mark.backends


def _model(body, input_shape, num_tasks=3, num_classes=4, **kw):
    m = BUTDModel(body, num_tasks=num_tasks, num_classes=num_classes, **kw)
    x = np.random.default_rng(0).normal(size=(6,) + input_shape).astype("float32")
    task = np.array([0, 1, 2, 0, 1, 2], dtype="int32")[: len(x)] % num_tasks
    m((x, task))
    return m, x, task


def _autodiff(loss_fn, variables):
    """(loss, [∂loss/∂v]) from the active backend's autodiff."""
    loss, _, grads = value_and_grad(lambda: (loss_fn(), None), variables)
    return float(to_numpy(loss)), [to_numpy(g) for g in grads]


def _compare(m, x, task, y, training=True):
    loss, _, pairs = m.counter_hebb_updates(ops.convert_to_tensor(x), ops.convert_to_tensor(task),
                                            ops.convert_to_tensor(y), training=training)
    variables = [v for v, _ in pairs]

    def ref_loss():
        logits, _ = m.bu_pass(ops.convert_to_tensor(x), ops.convert_to_tensor(task), training=training)
        return ops.mean(keras.losses.sparse_categorical_crossentropy(ops.convert_to_tensor(y), logits,
                                                                     from_logits=True))

    ref, grads = _autodiff(ref_loss, variables)
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), ref, rtol=1e-5)
    assert {id(v) for v in variables} == {id(v) for v in m.trainable_variables}
    nonzero = 0
    for (v, upd), g in zip(pairs, grads):
        assert g is not None, v.path
        np.testing.assert_allclose(ops.convert_to_numpy(upd), g, atol=1e-5, rtol=1e-4, err_msg=v.path)
        nonzero += int(np.abs(g).max() > 1e-6)
    assert nonzero == len(pairs)  # every layer really received an error signal


Y = np.array([0, 1, 2, 3, 0, 1], dtype="int32")


def test_dense_network_with_biases():
    body = [layers.Flatten(), layers.Dense(16, activation="relu"), layers.Dense(12), layers.ReLU()]
    m, x, t = _model(body, (5, 3))
    _compare(m, x, t, Y)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_network(stride, padding):
    body = [layers.Conv2D(5, 3, stride, padding=padding, activation="relu"),
            layers.Conv2D(4, 2, stride, padding=padding, use_bias=False), layers.ReLU(),
            layers.Flatten(), layers.Dense(10, activation="relu")]
    m, x, t = _model(body, (9, 9, 2))  # odd sizes: the transposed convolutions must pad exactly
    _compare(m, x, t, Y)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_network(training):
    body = [layers.Conv2D(4, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
            layers.Flatten(), layers.Dense(8, use_bias=False), layers.BatchNormalization(), layers.ReLU()]
    m, x, t = _model(body, (6, 6, 2))
    if not training:  # moving statistics away from (0, 1) so the inference-mode path is exercised
        for v in m.non_trainable_variables:
            if "moving_mean" in v.path:
                v.assign(np.full(v.shape, 0.3, "float32"))
            if "moving_variance" in v.path:
                v.assign(np.full(v.shape, 2.0, "float32"))
    _compare(m, x, t, Y, training=training)


def test_resnet_block_network():
    body = [layers.Conv2D(4, 3, padding="same", use_bias=False), layers.BatchNormalization(), layers.ReLU(),
            BasicBlock(4, 1), BasicBlock(6, 2), layers.Flatten()]
    m, x, t = _model(body, (7, 7, 3))
    _compare(m, x, t, Y)


def test_multi_decoder_network():
    body = [layers.Flatten(), layers.Dense(16, activation="relu")]
    m, x, t = _model(body, (4, 4), multi_decoder=True)
    _compare(m, x, t, Y)

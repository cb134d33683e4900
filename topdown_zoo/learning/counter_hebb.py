"""Counter-Hebbian learning (BU-TD paper, section 4, eq. 4 and Algorithms 1–2) as plain functions.

For a connection ``b = W a`` the Counter-Hebb update is ``ΔW_ij = η · a_j · b̄_i``: the product of
the presynaptic BU activity ``a_j`` and the *counter* unit ``b̄_i`` of the postsynaptic unit — the
top-down unit with the same index, which after the error pass (bias-blocking, GaLU-gated by the
BU activity) holds the error signal of ``b_i``. Every function here is local: it sees only the
activities at the two ends of the connections it updates.

Sign convention: the TD pass starts from ``∂L/∂y`` (the paper's ``-∂L/∂y`` with the sign moved
into the optimizer), so the values returned are *descent directions* to pass to
``optimizer.apply_gradients``; SGD then applies exactly ``ΔW = -η a·b̄`` = ``η a·(counter error)``.
With Adam, schedules and loss scaling, the optimizer treats them as it treats gradients (the
paper's appendix B: "we replace the gradients with the computed Counter-Hebb update values").
"""
from __future__ import annotations

from typing import Iterable, Sequence

from keras import ops


def dense_update(a, b_bar):
    """Σ_batch a_j b̄_i for a dense connection ``b = a @ W`` (W in (in, out) layout): ``aᵀ b̄``."""
    return ops.matmul(ops.transpose(a), b_bar)


def bias_update(b_bar):
    """A bias is a weight from a constant unit a ≡ 1: Σ over batch (and positions) of b̄."""
    return ops.sum(b_bar, axis=tuple(range(len(b_bar.shape) - 1)))


def conv2d_update(a, b_bar, kernel_shape: Sequence[int], strides: int, padding: str):
    """Σ over batch and positions of a_j b̄_i for every kernel tap of a 2-D convolution: each
    kernel entry W[dy, dx, c_in, c_out] is shared by the connections from input unit
    a[y·s+dy, x·s+dx, c_in] to output unit b[y, x, c_out] and collects the sum of their
    products (TensorFlow's filter correlation op computes exactly this sum)."""
    import tensorflow as tf

    return tf.compat.v1.nn.conv2d_backprop_filter(
        a, [int(d) for d in kernel_shape], b_bar, strides=[1, strides, strides, 1], padding=padding.upper())


def batchnorm_updates(x_hat, b_bar):
    """A batch-norm unit ``b = γ·x̂ + β``: Δγ = Σ x̂·b̄ (presynaptic activity x̂), Δβ = Σ b̄."""
    axes = tuple(range(len(b_bar.shape) - 1))
    return ops.sum(x_hat * b_bar, axis=axes), ops.sum(b_bar, axis=axes)


def output_error(logits, labels, loss: str):
    """The output error ``∂L/∂y`` of the mean loss over the batch, computed in closed form
    (Algorithm 2, step 3): softmax cross-entropy → (softmax(y) − onehot)/B; sigmoid binary
    cross-entropy → (σ(y) − t)/B. Returns (loss value, error)."""
    batch = ops.cast(ops.shape(logits)[0], logits.dtype)
    if loss == "softmax":
        classes = logits.shape[-1]
        onehot = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), classes, dtype=logits.dtype)
        log_p = ops.log_softmax(logits, axis=-1)
        value = -ops.sum(onehot * log_p) / batch
        return value, (ops.exp(log_p) - onehot) / batch
    if loss == "sigmoid":
        target = ops.reshape(ops.cast(labels, logits.dtype), ops.shape(logits))
        value = ops.sum(ops.maximum(logits, 0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))) / batch
        return value, (ops.sigmoid(logits) - target) / batch
    raise ValueError(f"unknown BU-TD loss {loss!r}; allowed: softmax, sigmoid")


def noisy(update, std: float, seed=None):
    """Weakly symmetric mode: the update times element-wise noise drawn from N(1, std)."""
    import keras

    return update * keras.random.normal(ops.shape(update), mean=1.0, stddev=std, dtype=update.dtype, seed=seed)


def with_weight_decay(pairs: Iterable, decay: float):
    """Adds ``decay · W`` to each update (the asymmetric mode's weight decay, after Akrouf et al.
    2019 / Kolen–Pollack: BU and TD weights receiving the same update and decaying together
    converge to each other)."""
    return [(v, u + decay * ops.cast(v, u.dtype)) for v, u in pairs]

"""Counter-Hebbian learning (BU-TD paper, section 4, eq. 4 and Algorithms 1–2) as plain functions.

For a connection ``b = W a`` the Counter-Hebb update is ``ΔW_ij = η · a_j · b̄_i`` (eq. 4): the
product of the presynaptic BU activity ``a_j`` and the *counter* unit ``b̄_i`` of the postsynaptic
unit — the top-down unit with the same index, which after the error pass (bias-blocking,
GaLU-gated by the BU activity, Algorithm 1 step 3) holds the error signal of ``b_i``. Every
function here is local: it sees only the activities at the two ends of the connections it updates.

Sign convention: the TD pass starts from ``∂L/∂y`` (the paper's ``-∂L/∂y`` of Algorithm 2 step 3
with the sign moved into the optimizer), so the values returned are *descent directions* handed
to the optimizer as gradients; SGD then applies exactly ``ΔW = -η a·b̄`` = ``η a·(counter error)``.
With Adam, schedules and loss scaling, the optimizer treats them as it treats gradients (the
paper's appendix B: "we replace the gradients with the computed Counter-Hebb update values").

All functions use ``keras.ops`` only (every backend). The per-mode bookkeeping (which TD weights
receive which update) lives in :mod:`topdown_zoo.learning.counter_hebb_modes`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_choice
from topdown_zoo.layers.conv_ops import conv2d_filter_correlation

LOSSES = ("softmax", "sigmoid")


def dense_update(a: Any, b_bar: Any) -> Any:
    """Eq. 4 for a dense connection ``b = a @ W`` (W in (in, out) layout): Σ_batch a_j b̄_i = ``aᵀ b̄``."""
    return ops.matmul(ops.transpose(a), b_bar)


def bias_update(b_bar: Any) -> Any:
    """Eq. 4 for a bias, a weight from a constant unit a ≡ 1: Σ over batch (and positions) of b̄."""
    return ops.sum(b_bar, axis=tuple(range(len(b_bar.shape) - 1)))


def conv2d_update(a: Any, b_bar: Any, kernel_shape: Sequence[int], strides: int, padding: str) -> Any:
    """Eq. 4 for a 2-D convolution: Σ over batch and positions of a_j b̄_i for every kernel tap.

    Each kernel entry W[dy, dx, c_in, c_out] is shared by the connections from input unit
    a[y·s+dy, x·s+dx, c_in] to output unit b[y, x, c_out] and collects the sum of their products
    (:func:`~topdown_zoo.layers.conv_ops.conv2d_filter_correlation` computes exactly this sum)."""
    return conv2d_filter_correlation(a, b_bar, kernel_shape, int(strides), padding)


def batchnorm_updates(x_hat: Any, b_bar: Any) -> tuple[Any, Any]:
    """Eq. 4 for a batch-norm unit ``b = γ·x̂ + β``: Δγ = Σ x̂·b̄ (presynaptic activity x̂), Δβ = Σ b̄."""
    axes = tuple(range(len(b_bar.shape) - 1))
    return ops.sum(x_hat * b_bar, axis=axes), ops.sum(b_bar, axis=axes)


def output_error(logits: Any, labels: Any, loss: str) -> tuple[Any, Any]:
    """The output error ``∂L/∂y`` of the mean loss over the batch, in closed form (Algorithm 2,
    step 3): softmax cross-entropy → (softmax(y) − onehot)/B; sigmoid binary cross-entropy →
    (σ(y) − t)/B. Returns (loss value, error)."""
    check_choice("loss", loss, LOSSES)
    batch = ops.cast(ops.shape(logits)[0], logits.dtype)
    if loss == "softmax":
        classes = logits.shape[-1]
        onehot = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), classes, dtype=logits.dtype)
        log_p = ops.log_softmax(logits, axis=-1)
        value = -ops.sum(onehot * log_p) / batch
        return value, (ops.exp(log_p) - onehot) / batch
    target = ops.reshape(ops.cast(labels, logits.dtype), ops.shape(logits))
    value = ops.sum(ops.maximum(logits, 0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))) / batch
    return value, (ops.sigmoid(logits) - target) / batch


def noisy(update: Any, std: float, seed: Any = None) -> Any:
    """Weakly symmetric mode (appendix B): the update times element-wise noise drawn from N(1, std).

    ``seed`` is a ``keras.random.SeedGenerator`` (or an int): a generator's state is a variable,
    so the noise also works inside JAX's stateless training step."""
    return update * keras.random.normal(ops.shape(update), mean=1.0, stddev=std, dtype=update.dtype, seed=seed)


def with_weight_decay(pairs: Iterable[tuple[Any, Any]], decay: float) -> list[tuple[Any, Any]]:
    """Adds ``decay · W`` to each update (the asymmetric mode's weight decay, appendix B, after
    Akrouf et al. 2019 / Kolen–Pollack: BU and TD weights receiving the same update and decaying
    together converge to each other)."""
    return [(v, u + decay * ops.cast(v, u.dtype)) for v, u in pairs]

"""Layers of the BU-TD family (Top-Down Network Combines Back-Propagation with Attention, sec. 3).

* :func:`galu` — the Gated Linear Unit of eq. 3, ``GaLU(x, x̄) = x · 1[x̄ > 0]``: a unit passes
  its value only where its counter unit (the unit with the same index in the opposite stream) is
  strictly positive. The gate carries no gradient.
* :func:`td_dense`, :func:`td_conv2d` — the mirrored (transposed) linear maps of the top-down
  stream: a dense layer ``b = W a`` becomes ``ā = Wᵀ b̄``; a convolution becomes the transposed
  convolution with the same kernel, strides and padding whose output has exactly the BU input's
  shape (``tf.nn.conv2d_transpose`` with an explicit output shape, so any stride and both
  paddings mirror exactly).
* :class:`TDKernels` — the separate top-down weights of the non-symmetric modes (asymmetric,
  weakly symmetric, feedback alignment): one variable per mirrored dense/conv kernel, stored in
  the BU kernel's layout and applied transposed.
"""
from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

_PACKAGE = "topdown_zoo"


def galu(x, gate):
    """Eq. 3: ``x`` where ``gate > 0``, else 0 (no gradient flows into ``gate``)."""
    return x * ops.cast(ops.greater(ops.stop_gradient(gate), 0), x.dtype)


def td_dense(u, kernel):
    """Mirror of ``y = x @ kernel``: ``ū = u @ kernelᵀ`` (kernel in the BU layout (in, out))."""
    return ops.matmul(u, ops.transpose(ops.cast(kernel, u.dtype)))


def bu_conv2d(x, kernel, strides: int, padding: str):
    import tensorflow as tf

    return tf.nn.conv2d(x, ops.cast(kernel, x.dtype), strides=strides, padding=padding.upper())


def td_conv2d(u, kernel, strides: int, padding: str, input_hw: Sequence[int]):
    """Mirror of a stride-``strides`` convolution with ``kernel`` (kh, kw, c_in, c_out): the
    transposed convolution mapping (B, h, w, c_out) back to exactly (B, H, W, c_in)."""
    import tensorflow as tf

    kernel = ops.cast(kernel, u.dtype)
    out_shape = tf.stack([tf.shape(u)[0], int(input_hw[0]), int(input_hw[1]), int(kernel.shape[2])])
    out = tf.nn.conv2d_transpose(u, kernel, out_shape, strides=strides, padding=padding.upper())
    return tf.ensure_shape(out, (None, int(input_hw[0]), int(input_hw[1]), int(kernel.shape[2])))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GaLU(keras.layers.Layer):
    """Layer form of :func:`galu`: ``GaLU()([x, gate])``."""

    def call(self, inputs):
        x, gate = inputs
        return galu(x, gate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TDKernels(keras.layers.Layer):
    """The top-down stream's own kernels (one per mirrored dense/conv kernel of the BU stream).

    Args:
        shapes: the BU kernels' shapes; TD kernel ``i`` has ``shapes[i]`` and is used transposed.
        names: a name per kernel (the BU layer's), for readable checkpoints.
        trainable: False in feedback-alignment mode (the TD weights stay fixed).
        seed: seed of their initialisation (Glorot uniform), different from the BU stream's.
    """

    def __init__(self, shapes, names=None, seed: int = 1234, **kwargs):
        super().__init__(**kwargs)
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.names = list(names or [f"k{i}" for i in range(len(self.shapes))])
        self.seed = int(seed)
        self.kernels = [
            self.add_weight(shape=s, initializer=keras.initializers.GlorotUniform(seed=self.seed + i),
                            name=f"td_{n}", trainable=self.trainable)
            for i, (s, n) in enumerate(zip(self.shapes, self.names))
        ]
        self.built = True

    def get_config(self):
        return {**super().get_config(), "shapes": [list(s) for s in self.shapes], "names": self.names,
                "seed": self.seed}

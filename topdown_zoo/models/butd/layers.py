"""Layers of the BU-TD family (Top-Down Network Combines Back-Propagation with Attention, sec. 3).

* :func:`galu` — the Gated Linear Unit of eq. 3, ``GaLU(x, x̄) = x · 1[x̄ > 0]``: a unit passes
  its value only where its counter unit (the unit with the same index in the opposite stream) is
  strictly positive. The gate carries no gradient.
* :func:`bu_dense`, :func:`bu_conv2d` — the BU stream's linear maps ``f_{l+1}`` of eq. 1.
* :func:`td_dense`, :func:`td_conv2d` — their mirrors ``f̄_{l+1}`` in the top-down stream (eq. 2):
  a dense layer ``b = W a`` becomes ``ā = Wᵀ b̄``; a convolution becomes the transposed convolution
  with the same kernel, strides and padding whose output has exactly the BU input's shape (the
  exact adjoint, :func:`topdown_zoo.layers.conv_ops.conv2d_transpose_to`), so any stride and both
  paddings mirror exactly.
* :class:`TDKernels` — the separate top-down weights of the non-symmetric modes (asymmetric,
  weakly symmetric, feedback alignment): one variable per mirrored dense/conv kernel, stored in
  the BU kernel's layout and applied transposed.

Everything is written on ``keras.ops`` and runs on every Keras 3 backend.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from topdown_zoo.layers.conv_ops import conv2d, conv2d_transpose_to

_PACKAGE = "topdown_zoo"


def galu(x: Any, gate: Any) -> Any:
    """Eq. 3: ``x`` where ``gate > 0``, else 0 (no gradient flows into ``gate``)."""
    return x * ops.cast(ops.greater(ops.stop_gradient(gate), 0), x.dtype)


def bu_dense(x: Any, kernel: Any) -> Any:
    """BU dense map of eq. 1 (bias excluded): ``x @ kernel``, kernel in the (in, out) layout."""
    return ops.matmul(x, ops.cast(kernel, x.dtype))


def td_dense(u: Any, kernel: Any) -> Any:
    """Mirror of ``y = x @ kernel`` (eq. 2): ``ū = u @ kernelᵀ`` (kernel in the BU layout (in, out))."""
    return ops.matmul(u, ops.transpose(ops.cast(kernel, u.dtype)))


def bu_conv2d(x: Any, kernel: Any, strides: int, padding: str) -> Any:
    """BU convolution of eq. 1 (bias excluded), channels-last, TensorFlow's padding convention."""
    return conv2d(x, kernel, int(strides), padding)


def td_conv2d(u: Any, kernel: Any, strides: int, padding: str, input_hw: Sequence[int]) -> Any:
    """Mirror of a stride-``strides`` convolution with ``kernel`` (kh, kw, c_in, c_out) (eq. 2):
    the transposed convolution mapping (B, h, w, c_out) back to exactly (B, H, W, c_in)."""
    return conv2d_transpose_to(u, kernel, int(strides), padding, input_hw)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GaLU(keras.layers.Layer):
    """Layer form of :func:`galu` (eq. 3): ``GaLU()([x, gate])``."""

    def call(self, inputs: Sequence[Any]) -> Any:
        x, gate = inputs
        return galu(x, gate)

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple[Any, ...]:
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

    def __init__(self, shapes: Sequence[Sequence[int]], names: Sequence[str] | None = None, seed: int = 1234,
                 **kwargs: Any) -> None:
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

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "shapes": [list(s) for s in self.shapes], "names": self.names,
                "seed": self.seed}

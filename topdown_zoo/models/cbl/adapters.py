"""Feedback adapters ψ(h, z) of Contextual Backpropagation Loops (CBL paper, eqs. 4 and 7).

An adapter takes an intermediate representation ``h`` (a feature map ``(B, H, W, C)`` or a
vector ``(B, C)``) and the top-down context vector ``z`` ``(B, D)`` and returns a refined
representation of the same shape as ``h``. The blend of eq. 7 is applied by the model, not here.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from topdown_zoo.checks import check_choice, check_float

_PACKAGE = "topdown_zoo"


def _broadcast_to_map(v: Any, h: Any) -> Any:
    """Reshape a per-channel ``(B, C)`` tensor so that it broadcasts over ``h``'s spatial axes."""
    extra_axes = len(h.shape) - 2
    return ops.reshape(v, (-1,) + (1,) * extra_axes + (v.shape[-1],))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GatingAdapter(keras.layers.Layer):  # type: ignore[misc]
    """Channel gating ψ(h, z) = σ(W z + b) ⊙ h — the paper's "lightweight gating adapters".

    ``bias_init`` sets b at initialisation; the default 2.0 starts every gate near σ(2)≈0.88 so
    a freshly added loop only mildly damps the backbone's features.
    """

    def __init__(self, bias_init: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bias_init = check_float("bias_init", bias_init)

    def build(self, h_shape: tuple[Any, ...], z_shape: tuple[Any, ...]) -> None:
        channels = int(h_shape[-1])
        self.gate = keras.layers.Dense(
            channels,
            kernel_initializer="glorot_uniform",
            bias_initializer=keras.initializers.Constant(self.bias_init),
            dtype=self.dtype_policy,
            name="gate",
        )
        self.gate.build(tuple(z_shape))

    def call(self, h: Any, z: Any) -> Any:
        gate = ops.sigmoid(self.gate(z))
        return _broadcast_to_map(ops.cast(gate, h.dtype), h) * h

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "bias_init": self.bias_init}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FiLMAdapter(keras.layers.Layer):  # type: ignore[misc]
    """Feature-wise linear modulation ψ(h, z) = (1 + γ(z)) ⊙ h + β(z).

    γ and β are linear maps of z initialised small (N(0, 0.01²)) with zero bias, so the
    adapter starts close to the identity while the context still receives a gradient.
    """

    def build(self, h_shape: tuple[Any, ...], z_shape: tuple[Any, ...]) -> None:
        channels = int(h_shape[-1])
        small = keras.initializers.RandomNormal(stddev=0.01)
        self.scale = keras.layers.Dense(channels, kernel_initializer=small, dtype=self.dtype_policy, name="scale")
        self.shift = keras.layers.Dense(channels, kernel_initializer=small, dtype=self.dtype_policy, name="shift")
        self.scale.build(tuple(z_shape))
        self.shift.build(tuple(z_shape))

    def call(self, h: Any, z: Any) -> Any:
        gamma = _broadcast_to_map(ops.cast(self.scale(z), h.dtype), h)
        beta = _broadcast_to_map(ops.cast(self.shift(z), h.dtype), h)
        return (1.0 + gamma) * h + beta


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConcatConvAdapter(keras.layers.Layer):  # type: ignore[misc]
    """Concatenation + 1×1 convolution: ψ(h, z) = W·[h; tile(z)] + b (a dense layer for vectors).

    The kernel is initialised so that the h→output block is the identity and the z block is
    small (N(0, 0.01²)): the adapter starts close to the identity, learns how much context to
    mix in, and the context still receives a gradient.
    """

    def build(self, h_shape: tuple[Any, ...], z_shape: tuple[Any, ...]) -> None:
        channels = int(h_shape[-1])
        context = int(z_shape[-1])
        self._is_map = len(h_shape) == 4
        in_channels = channels + context

        def identity_then_zero(shape: Any, dtype: Any = None) -> Any:
            eye = ops.eye(channels, dtype=dtype)
            small = keras.random.normal((context, channels), stddev=0.01, dtype=dtype)
            kernel = ops.concatenate([eye, small], axis=0)
            return ops.reshape(kernel, shape)

        if self._is_map:
            self.mix = keras.layers.Conv2D(channels, 1, kernel_initializer=identity_then_zero,
                                           dtype=self.dtype_policy, name="mix")
            self.mix.build(tuple(h_shape[:-1]) + (in_channels,))
        else:
            self.mix = keras.layers.Dense(channels, kernel_initializer=identity_then_zero,
                                          dtype=self.dtype_policy, name="mix")
            self.mix.build(tuple(h_shape[:-1]) + (in_channels,))

    def call(self, h: Any, z: Any) -> Any:
        z = ops.cast(z, h.dtype)
        if self._is_map:
            z = ops.broadcast_to(z[:, None, None, :], ops.shape(h)[:-1] + (z.shape[-1],))
        return self.mix(ops.concatenate([h, z], axis=-1))


ADAPTERS = {"gating": GatingAdapter, "film": FiLMAdapter, "concat": ConcatConvAdapter}


def make_adapter(kind: str, name: str) -> keras.layers.Layer:
    """A fresh adapter ψ of kind ``"gating"``, ``"film"`` or ``"concat"``."""
    return ADAPTERS[check_choice("adapter", kind, ADAPTERS)](name=name)

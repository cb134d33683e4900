"""BL / BLT recurrent convolutional networks (Spoerer, McClure & Kriegeskorte 2017), with the
feed-forward B network as their control.

Layer l at time step t (t = 0 … T−1), with the same image x at every step::

    h_l^t = ReLU(BN_l^t( W_b^l ∗ in_l^t  +  W_l^l ∗ h_l^{t−1}  +  up(W_t^l ∗ h_{l+1}^{t−1}) ))
    in_0^t = x,   in_l^t = maxpool(h_{l−1}^t)

B keeps only the bottom-up term, BL adds the lateral term, BLT also the top-down term (from the
layer above, upsampled to this layer's size; the last layer has none). At t = 0 there is no
previous state, so every variant's first step is the B network's pass. Batch norm has its own
statistics and scale/offset per time step (``BN_l^t``; steps beyond the built T reuse the last).
A readout (max-pool 2, flatten, dense) shared over time reads the top layer out at **every**
step: ``refine(x)`` returns the T logits ("anytime" predictions), ``model(x)`` the last.
Training minimises the mean of the T per-step cross-entropies (``step_weights="uniform"``).
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int, check_int_list
from topdown_zoo.models.convrnn.base import AnytimeClassifier, upsample_to

_PACKAGE = "topdown_zoo"
CONNECTIVITY = ("b", "bl", "blt")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RecurrentCNN(AnytimeClassifier):
    """B / BL / BLT network.

    Args:
        connectivity: ``"b"`` (feed-forward), ``"bl"`` (+ lateral), ``"blt"`` (+ top-down).
        widths: feature maps per layer (the paper: two layers of 32).
        kernel_size: size of every convolution (bottom-up, lateral, top-down).
        num_classes: readout size.
        iterations: T, time steps (the paper: 4). B runs the same pass at every step.
        step_weights, gamma: loss weights over steps (see :mod:`topdown_zoo.models.convrnn.base`).
        bn_momentum: momentum of the per-step batch-norm moving averages (0.9: they settle within a
            short CPU training; Keras' 0.99 leaves them far from the batch statistics after a few
            hundred updates, which the recurrence then amplifies at inference).
    """

    def __init__(self, connectivity: str = "blt", widths: Sequence[int] = (32, 32), kernel_size: int = 3,
                 num_classes: int = 10, iterations: int = 4, step_weights: str | Sequence[float] = "uniform",
                 gamma: float = 1.0, bn_momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(iterations=iterations, step_weights=step_weights, gamma=gamma, **kwargs)
        self.bn_momentum = check_float("bn_momentum", bn_momentum, 0.0, 1.0)
        self.connectivity = check_choice("connectivity", connectivity, CONNECTIVITY)
        self.widths = check_int_list("widths", widths)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.num_classes = check_int("num_classes", num_classes, 2)
        k, d = self.kernel_size, self.dtype_policy

        def conv(w: int, name: str) -> keras.layers.Conv2D:
            return keras.layers.Conv2D(w, k, padding="same", use_bias=False, name=name, dtype=d)

        n = len(self.widths)
        self.bottom_up = [conv(w, f"bottom_up_{l}") for l, w in enumerate(self.widths)]
        self.lateral = [conv(w, f"lateral_{l}") for l, w in enumerate(self.widths)] if "l" in connectivity else []
        self.top_down = ([conv(self.widths[l], f"top_down_{l}") for l in range(n - 1)]
                         if connectivity == "blt" else [])
        self.norms = [[keras.layers.BatchNormalization(momentum=self.bn_momentum, name=f"bn_t{t}_{l}", dtype=d)
                       for l in range(n)] for t in range(self.iterations)]
        self.pool = keras.layers.MaxPooling2D(2, padding="same", dtype=d)
        self.readout_pool = keras.layers.MaxPooling2D(2, padding="same", dtype=d)
        self.flatten = keras.layers.Flatten(dtype=d)
        self.readout = keras.layers.Dense(self.num_classes, name="readout", dtype=d)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        shape = (None,) + tuple(input_shape)[1:]
        self._sizes = []
        for l, w in enumerate(self.widths):
            if l > 0:
                shape = self.pool.compute_output_shape(shape)
            self.bottom_up[l].build(shape)
            out = shape[:-1] + (w,)
            self._sizes.append((out[1], out[2]))
            if self.lateral:
                self.lateral[l].build(out)
            for t in range(self.iterations):
                self.norms[t][l].build(out)
            if l > 0 and self.top_down:
                self.top_down[l - 1].build(out)
            shape = out
        flat = self.flatten.compute_output_shape(self.readout_pool.compute_output_shape(shape))
        self.readout.build(flat)
        self.built = True

    def read_out(self, h: Any) -> Any:
        """The readout shared over time: max-pool 2, flatten, dense."""
        return self.readout(self.flatten(self.readout_pool(h)))

    def _unroll(self, x: Any, training: bool | None, iterations: int) -> list[Any]:
        x = ops.cast(x, self.compute_dtype)
        drive0 = self.bottom_up[0](x)  # the image is the same at every step
        states = None
        outputs = []
        for t in range(iterations):
            norms = self.norms[min(t, self.iterations - 1)]
            new: list[Any] = []
            for l in range(len(self.widths)):
                z = drive0 if l == 0 else self.bottom_up[l](self.pool(new[l - 1]))
                if states is not None:
                    if self.lateral:
                        z = z + self.lateral[l](states[l])
                    if self.top_down and l < len(self.widths) - 1:
                        height, width = self._sizes[l]
                        z = z + upsample_to(self.top_down[l](states[l + 1]), 2, height, width)
                new.append(ops.relu(norms[l](z, training=training)))
            states = new
            outputs.append(self.read_out(states[-1]))
        return outputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "connectivity": self.connectivity, "widths": list(self.widths),
                "kernel_size": self.kernel_size, "num_classes": self.num_classes, "bn_momentum": self.bn_momentum}


def build_recurrent_cnn(input_shape: Sequence[int], **config: Any) -> RecurrentCNN:
    """Registry builder: a built B / BL / BLT network (every keyword goes to the class)."""
    model = RecurrentCNN(**config)
    model.build((None,) + tuple(input_shape))
    return model


build_recurrent_cnn.model_class = RecurrentCNN  # type: ignore[attr-defined]

"""Shared pieces of the ConvRNN family: an "anytime" classifier read out at every time step,
trained on a weighted sum of the per-step cross-entropies (BPTT through the unrolled steps).

Subclasses implement ``_unroll(x, training, iterations) -> [logits_0, …, logits_{T−1}]``;
``refine(x)`` returns that list, ``model(x)`` the last step's logits. Step weights:

* ``"uniform"``: the mean of the T per-step losses (BL/BLT: a readout loss at every step);
* ``"last"``: only the final step;
* ``"geometric"``: L = Σ_{t=1..T} γ^t L_t (the feedback network's loss, Zamir et al. 2017), with
  ``gamma`` = γ;
* or an explicit list of T non-negative numbers.
"""
from __future__ import annotations

import keras
from keras import ops

from topdown_zoo.errors import TopdownZooError
from topdown_zoo.learning.bptt import StepLossTraining


#: ``stem`` values: none (the first recurrent layer sees the image) or a feed-forward ImageNet stem
STEMS = (None, "imagenet")


def check_stem(stem):
    if stem not in STEMS:
        raise TopdownZooError(f"stem={stem!r} is not allowed; use null (no stem, small images) or 'imagenet'")
    return stem


@keras.saving.register_keras_serializable(package="topdown_zoo")
class ImageNetStem(keras.layers.Layer):
    """The feed-forward front end for 224×224 images, run once per image (not recurrent):
    ``maxpool_3×3/2(f(Conv_7×7/2(x)))``, 224 → 56 (the ResNet stem without batch norm). The
    recurrent layers then run at 56×56 and below, which keeps T unrolled steps affordable."""

    def __init__(self, width: int = 64, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.width, self.activation = check_int("stem_width", width, 1), activation
        self.conv = keras.layers.Conv2D(self.width, 7, strides=2, padding="same", activation=activation,
                                        name="conv", dtype=self.dtype_policy)
        self.pool = keras.layers.MaxPooling2D(3, strides=2, padding="same", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.built = True

    def call(self, x):
        return self.pool(self.conv(x))

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "activation": self.activation}


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < low:
        raise TopdownZooError(f"{name}={value!r} is not allowed; it must be an integer >= {low}")
    return int(value)


def resolve_time_weights(step_weights, iterations: int, gamma: float = 1.0) -> list[float]:
    """The T loss weights of the T per-step readouts (see the module docstring)."""
    if step_weights in (None, "uniform"):
        return [1.0 / iterations] * iterations
    if step_weights == "last":
        return [0.0] * (iterations - 1) + [1.0]
    if step_weights == "geometric":
        return [float(gamma) ** t for t in range(1, iterations + 1)]
    if isinstance(step_weights, str):
        raise TopdownZooError(
            f"step_weights={step_weights!r} is not allowed; use 'uniform', 'last', 'geometric' or {iterations} numbers")
    weights = [float(w) for w in step_weights]
    if len(weights) != iterations or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise TopdownZooError(
            f"step_weights needs {iterations} non-negative numbers with a positive sum (one per time step), got {weights}")
    return weights


class AnytimeClassifier(StepLossTraining, keras.Model):
    """Base class: per-step readouts, last-step output, loss over every step."""

    def __init__(self, iterations: int = 4, step_weights="uniform", gamma: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.iterations = check_int("iterations", iterations, 1)
        self.gamma = float(gamma)
        self.step_weights = step_weights if isinstance(step_weights, str) else [float(w) for w in step_weights]
        self._time_weights = resolve_time_weights(self.step_weights, self.iterations, self.gamma)

    # subclasses: def _unroll(self, x, training, iterations) -> list of logits
    def refine(self, x, training=False, iterations: int | None = None) -> list:
        """Per-step logits [y_0, …, y_{T−1}] (one readout per time step)."""
        steps = self.iterations if iterations is None else check_int("iterations", iterations, 1)
        return [ops.cast(y, "float32") for y in self._unroll(x, training, steps)]

    def call(self, x, training=None):
        return self.refine(x, training=training)[-1]

    @property
    def step_loss_weights(self) -> list[float]:
        return list(self._time_weights)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "step_weights": self.step_weights,
                "gamma": self.gamma}


def upsample_to(h, factor: int, height: int, width: int):
    """Nearest-neighbour upsampling by ``factor`` then a static crop to (height, width): works for
    odd sizes (unlike UpSampling2D feedback) and exports as plain ops."""
    if factor > 1:
        h = ops.repeat(ops.repeat(h, factor, axis=1), factor, axis=2)
    return h[:, :height, :width, :]

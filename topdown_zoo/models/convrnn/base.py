"""Shared pieces of the ConvRNN family: an "anytime" classifier read out at every time step,
trained on a weighted sum of the per-step cross-entropies (BPTT through the unrolled steps).

Subclasses implement ``_unroll(x, training, iterations) -> [logits_0, …, logits_{T−1}]``;
``refine(x)`` (the contract's ``step_outputs``) returns that list, ``model(x)`` the last step's
logits. Step weights:

* ``"uniform"``: the mean of the T per-step losses (BL/BLT: a readout loss at every step);
* ``"last"``: only the final step;
* ``"geometric"``: L = Σ_{t=1..T} γ^t L_t (the feedback network's loss, Zamir et al. 2017), with
  ``gamma`` = γ;
* or an explicit list of T non-negative numbers.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int, check_steps
from topdown_zoo.errors import ConfigError
from topdown_zoo.learning.bptt import StepLossTraining
from topdown_zoo.models.base import ZooModel

#: ``stem`` values: none (the first recurrent layer sees the image) or a feed-forward ImageNet stem
STEMS = (None, "imagenet")


def check_stem(stem: str | None) -> str | None:
    """``stem`` if it is ``None`` (no stem: small images) or ``"imagenet"`` (else
    :class:`~topdown_zoo.errors.ConfigError`)."""
    return None if stem is None else check_choice("stem", stem, [s for s in STEMS if s is not None])


@keras.saving.register_keras_serializable(package="topdown_zoo")
class ImageNetStem(keras.layers.Layer):  # type: ignore[misc]
    """The feed-forward front end for 224×224 images, run once per image (not recurrent):
    ``maxpool_3×3/2(f(Conv_7×7/2(x)))``, 224 → 56 (the ResNet stem without batch norm). The
    recurrent layers then run at 56×56 and below, which keeps T unrolled steps affordable."""

    def __init__(self, width: int = 64, activation: str = "relu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.width, self.activation = check_int("stem_width", width, 1), activation
        self.conv = keras.layers.Conv2D(self.width, 7, strides=2, padding="same", activation=activation,
                                        name="conv", dtype=self.dtype_policy)
        self.pool = keras.layers.MaxPooling2D(3, strides=2, padding="same", dtype=self.dtype_policy)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        self.conv.build(input_shape)
        self.built = True

    def call(self, x: Any) -> Any:
        return self.pool(self.conv(x))

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> Any:
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width, "activation": self.activation}


def resolve_time_weights(step_weights: str | Sequence[float] | None, iterations: int,
                         gamma: float = 1.0) -> list[float]:
    """The T loss weights of the T per-step readouts (see the module docstring)."""
    if step_weights in (None, "uniform"):
        return [1.0 / iterations] * iterations
    if step_weights == "last":
        return [0.0] * (iterations - 1) + [1.0]
    if step_weights == "geometric":
        return [float(gamma) ** t for t in range(1, iterations + 1)]
    if isinstance(step_weights, str) or not isinstance(step_weights, Sequence):
        raise ConfigError(
            f"step_weights={step_weights!r} is not allowed; use 'uniform', 'last', 'geometric' or {iterations} numbers")
    weights = [check_float(f"step_weights[{i}]", w, 0.0) for i, w in enumerate(step_weights)]
    if len(weights) != iterations or sum(weights) <= 0:
        raise ConfigError(
            f"step_weights needs {iterations} non-negative numbers with a positive sum (one per time step), "
            f"got {weights}")
    return weights


class AnytimeClassifier(StepLossTraining, ZooModel):
    """Base class: per-step readouts, last-step output, loss over every step.

    Contract: ``step_key = "iterations"`` (T time steps, at least 1), ``step_outputs(x)`` =
    :meth:`refine` = the T per-step logits, evaluated by
    :func:`topdown_zoo.models.convrnn.evaluate.evaluate_anytime`.
    """

    step_key = "iterations"
    evaluator = "topdown_zoo.models.convrnn.evaluate:evaluate_anytime"

    def __init__(self, iterations: int = 4, step_weights: str | Sequence[float] = "uniform", gamma: float = 1.0,
                 **kwargs: Any) -> None:
        # checked before any layer is made: a refused config allocates nothing
        iterations = check_steps("iterations", iterations, 1)
        gamma = check_float("gamma", gamma)
        time_weights = resolve_time_weights(step_weights, iterations, gamma)
        super().__init__(**kwargs)
        self.iterations = iterations
        self.gamma = gamma
        self.step_weights = step_weights if isinstance(step_weights, str) else list(time_weights)
        self._time_weights = time_weights

    def _unroll(self, x: Any, training: bool | None, iterations: int) -> list[Any]:
        """The T per-step logits (subclasses)."""
        raise NotImplementedError

    def refine(self, x: Any, training: bool | None = False, iterations: int | None = None) -> list[Any]:
        """Per-step logits [y_0, …, y_{T−1}] (one readout per time step)."""
        steps = self.iterations if iterations is None else check_steps("iterations", iterations, 1)
        if not training:
            self.check_inputs(x)  # eager calls only: a traced tensor holds no values to check
        return [ops.cast(y, "float32") for y in self._unroll(x, training, steps)]

    def step_outputs(self, inputs: Any, training: bool = False) -> list[Any]:
        """The contract's per-step outputs: :meth:`refine`."""
        return self.refine(inputs, training=training)

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self.refine(x, training=training)[-1]

    @property
    def step_loss_weights(self) -> list[float]:
        """The T loss weights over the time steps."""
        return list(self._time_weights)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "iterations": self.iterations, "step_weights": self.step_weights,
                "gamma": self.gamma}


def upsample_to(h: Any, factor: int, height: int, width: int) -> Any:
    """Nearest-neighbour upsampling by ``factor`` then a static crop to (height, width): works for
    odd sizes (unlike UpSampling2D feedback). Done as an image resize (each output pixel copies
    input pixel ⌊i / factor⌋, the same values as repeating every row and column ``factor`` times),
    which exports as one ONNX ``Resize`` instead of tiles, casts and layout transposes."""
    if factor > 1:
        size = (int(h.shape[1]) * factor, int(h.shape[2]) * factor)
        h = ops.image.resize(h, size, interpolation="nearest", data_format="channels_last")
    return h[:, :height, :width, :]

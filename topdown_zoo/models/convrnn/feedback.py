"""Feedback network (Zamir et al. 2017): a stack of ConvLSTM layers unrolled for T iterations
on the same image; the representation is fed back through the recurrent states, a readout at
every iteration makes an early prediction, and the loss is the lecture's

    L = Σ_{t=1..T} γ^t L_t,   L_t = −log softmax(H_t^D)[C]      (``step_weights="geometric"``).

Iteration t::

    x̂ = ReLU(Conv_stem(x))                         (once; same input every iteration;
                                                    stem="imagenet": 7×7/2 conv + 3×3/2 max-pool)
    h_1^t, s_1^t = ConvLSTM_1(x̂,             s_1^{t−1})
    h_l^t, s_l^t = ConvLSTM_l(maxpool(h_{l−1}^t), s_l^{t−1})
    y_t = Dense(GAP(h_L^t))

The paper's skip connections across time and its curriculum are not implemented.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_int, check_int_list
from topdown_zoo.models.convrnn.base import AnytimeClassifier, ImageNetStem, check_stem
from topdown_zoo.models.convrnn.cells import ConvLSTMCell

_PACKAGE = "topdown_zoo"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedbackNetwork(AnytimeClassifier):
    """ConvLSTM feedback network. Args: ``stem_width``, ``widths`` (ConvLSTM channels; a 2×2
    max-pool between layers), ``kernel_size``, ``num_classes``, ``iterations`` (T), ``gamma``
    (γ of the loss), ``step_weights`` (default ``"geometric"``), ``stem`` (``None``: a 3×3 conv;
    ``"imagenet"``: 7×7/2 conv + 3×3/2 max-pool, 224 → 56)."""

    def __init__(self, stem_width: int = 32, widths: Sequence[int] = (32, 64, 128), kernel_size: int = 3,
                 num_classes: int = 10, iterations: int = 4, step_weights: str | Sequence[float] = "geometric",
                 gamma: float = 1.0, stem: str | None = None, **kwargs: Any) -> None:
        super().__init__(iterations=iterations, step_weights=step_weights, gamma=gamma, **kwargs)
        self.stem_width = check_int("stem_width", stem_width, 1)
        self.widths = check_int_list("widths", widths)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.num_classes = check_int("num_classes", num_classes, 2)
        self.stem_kind = check_stem(stem)
        d = self.dtype_policy
        if self.stem_kind == "imagenet":
            self.stem = ImageNetStem(self.stem_width, "relu", name="stem", dtype=d)
        else:
            self.stem = keras.layers.Conv2D(self.stem_width, 3, padding="same", activation="relu", name="stem", dtype=d)
        self.cells = [ConvLSTMCell(w, self.kernel_size, name=f"conv_lstm_{l}", dtype=d)
                      for l, w in enumerate(self.widths)]
        self.pool = keras.layers.MaxPooling2D(2, padding="same", dtype=d)
        self.gap = keras.layers.GlobalAveragePooling2D(dtype=d)
        self.readout = keras.layers.Dense(self.num_classes, name="readout", dtype=d)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        shape = (None,) + tuple(input_shape)[1:]
        self.stem.build(shape)
        shape = self.stem.compute_output_shape(shape)
        for l, w in enumerate(self.widths):
            if l > 0:
                shape = self.pool.compute_output_shape(shape)
            self.cells[l].build(shape)
            shape = shape[:-1] + (w,)
        self.readout.build((None, self.widths[-1]))
        self.built = True

    def _unroll(self, x: Any, training: bool | None, iterations: int) -> list[Any]:
        x_hat = self.stem(ops.cast(x, self.compute_dtype))
        states = [None] * len(self.widths)
        outputs = []
        for _ in range(iterations):
            h = x_hat
            for l, cell in enumerate(self.cells):
                h, states[l] = cell(h if l == 0 else self.pool(h), states[l])
            outputs.append(self.readout(self.gap(h)))
        return outputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stem_width": self.stem_width, "widths": list(self.widths),
                "kernel_size": self.kernel_size, "num_classes": self.num_classes, "stem": self.stem_kind}


def build_feedback_network(input_shape: Sequence[int], **config: Any) -> FeedbackNetwork:
    """Registry builder: a built feedback network (every keyword goes to the class)."""
    model = FeedbackNetwork(**config)
    model.build((None,) + tuple(input_shape))
    return model


build_feedback_network.model_class = FeedbackNetwork  # type: ignore[attr-defined]

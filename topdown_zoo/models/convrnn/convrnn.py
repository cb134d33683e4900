"""Convolutional recurrent networks with local recurrent cells (Nayebi et al. 2018): every
convolutional layer carries a recurrent cell (reciprocal gated or ResNet-like, see
:mod:`topdown_zoo.models.convrnn.cells`), the network is unrolled for T steps on the same image
and read out at every step.

Layer l at step t::

    u_l^t = Conv_l(in_l^t)                     (feed-forward convolution, with bias)
    h_l^t, s_l^t = cell_l(u_l^t, s_l^{t−1})    (zero state at t = 0)
    in_0^t = x,   in_l^t = maxpool(h_{l−1}^t)

Both cells bypass: with zero state h = f(u), so the first step is exactly the feed-forward
ELU network ``Conv → ELU → pool`` (``iterations=1`` *is* the feed-forward control). Readout:
global average pooling and a dense layer, shared over steps. Loss: mean over steps, or any
``step_weights`` (see :mod:`topdown_zoo.models.convrnn.base`).
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_choice, check_int, check_int_list
from topdown_zoo.models.convrnn.base import AnytimeClassifier, ImageNetStem, check_stem
from topdown_zoo.models.convrnn.cells import ReciprocalGatedCell, ResNetLikeCell

_PACKAGE = "topdown_zoo"
LOCAL_CELLS = {"reciprocal_gated": ReciprocalGatedCell, "resnet_like": ResNetLikeCell}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GatedConvRNN(AnytimeClassifier):
    """A ConvRNN with one local recurrent cell per layer.

    Args:
        cell: ``"reciprocal_gated"`` or ``"resnet_like"``.
        widths: channels per layer; a 2×2 max-pool follows every layer but the last.
        kernel_size: feed-forward kernel size; cell_kernel_size: the cells' recurrent kernels.
        cell_config: extra keyword arguments of the cell (gate multipliers/offsets, activations).
        stem: ``None`` (layer 0 sees the image) or ``"imagenet"``: a feed-forward 7×7/2 conv (ELU,
            ``stem_width`` channels) and 3×3/2 max-pool run once before layer 0 (224 → 56).
        num_classes, iterations, step_weights, gamma: as in the other ConvRNN models.
    """

    def __init__(self, cell: str = "reciprocal_gated", widths: Sequence[int] = (64, 128, 256), kernel_size: int = 3,
                 cell_kernel_size: int = 3, cell_config: dict[str, Any] | None = None, num_classes: int = 10,
                 iterations: int = 4, step_weights: str | Sequence[float] = "uniform", gamma: float = 1.0,
                 stem: str | None = None, stem_width: int = 64, **kwargs: Any) -> None:
        super().__init__(iterations=iterations, step_weights=step_weights, gamma=gamma, **kwargs)
        self.cell = check_choice("cell", cell, LOCAL_CELLS)
        self.widths = check_int_list("widths", widths)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.cell_kernel_size = check_int("cell_kernel_size", cell_kernel_size, 1)
        self.cell_config = dict(cell_config or {})
        self.num_classes = check_int("num_classes", num_classes, 2)
        self.stem, self.stem_width = check_stem(stem), check_int("stem_width", stem_width, 1)
        d = self.dtype_policy
        self.stem_layer = ImageNetStem(self.stem_width, "elu", name="stem", dtype=d) if self.stem else None
        self.convs = [keras.layers.Conv2D(w, self.kernel_size, padding="same", name=f"conv_{l}", dtype=d)
                      for l, w in enumerate(self.widths)]
        self.cells = [LOCAL_CELLS[cell](w, self.cell_kernel_size, name=f"cell_{l}", dtype=d, **self.cell_config)
                      for l, w in enumerate(self.widths)]
        self.pool = keras.layers.MaxPooling2D(2, padding="same", dtype=d)
        self.gap = keras.layers.GlobalAveragePooling2D(dtype=d)
        self.readout = keras.layers.Dense(self.num_classes, name="readout", dtype=d)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        shape = (None,) + tuple(input_shape)[1:]
        if self.stem_layer is not None:
            self.stem_layer.build(shape)
            shape = self.stem_layer.compute_output_shape(shape)
        for l, w in enumerate(self.widths):
            if l > 0:
                shape = self.pool.compute_output_shape(shape)
            self.convs[l].build(shape)
            shape = shape[:-1] + (w,)
            self.cells[l].build(shape)
        self.readout.build((None, self.widths[-1]))
        self.built = True

    def _unroll(self, x: Any, training: bool | None, iterations: int) -> list[Any]:
        x = ops.cast(x, self.compute_dtype)
        if self.stem_layer is not None:
            x = self.stem_layer(x)  # once: the stem is feed-forward
        u0 = self.convs[0](x)
        states = [None] * len(self.widths)
        outputs = []
        for _ in range(iterations):
            h = None
            for l in range(len(self.widths)):
                u = u0 if l == 0 else self.convs[l](self.pool(h))
                h, states[l] = self.cells[l](u, states[l])
            outputs.append(self.readout(self.gap(h)))
        return outputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cell": self.cell, "widths": list(self.widths),
                "kernel_size": self.kernel_size, "cell_kernel_size": self.cell_kernel_size,
                "cell_config": dict(self.cell_config), "num_classes": self.num_classes, "stem": self.stem,
                "stem_width": self.stem_width}


def build_gated_convrnn(input_shape: Sequence[int], **config: Any) -> GatedConvRNN:
    """Registry builder: a built gated ConvRNN (every keyword goes to the class)."""
    model = GatedConvRNN(**config)
    model.build((None,) + tuple(input_shape))
    return model


build_gated_convrnn.model_class = GatedConvRNN  # type: ignore[attr-defined]

"""Backbones as ordered stages f⁽¹⁾ … f⁽ᴸ⁺¹⁾ (CBL paper, eq. 2).

A backbone is a list of ``(name, layer)`` pairs; applying them in order maps an input batch to
logits. Families tap the outputs of named stages (CBL feeds context back into them). The same
stage list serves the plain feed-forward baseline and its CBL version, so the two differ only
by the loop.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import layers

from topdown_zoo.checks import check_choice, check_float, check_int, check_int_list
from topdown_zoo.errors import ConfigError

_PACKAGE = "topdown_zoo"
#: Batch-norm momentum 0.9 = PyTorch's default (momentum 0.1), which the papers' reference code
#: uses. Keras' 0.99 leaves the moving statistics far from the data after a few hundred steps
#: (e.g. a 10-epoch mnist5k run), so inference would disagree with training.
BN_MOMENTUM = 0.9


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BasicBlock(layers.Layer):  # type: ignore[misc]
    """ResNet basic block (He et al. 2016): two 3×3 conv-BN with an identity or 1×1 shortcut."""

    def __init__(self, filters: int, stride: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, 1)
        self.stride = check_int("stride", stride, 1)

    def build(self, input_shape: tuple[Any, ...]) -> None:
        input_shape = tuple(input_shape)
        policy = self.dtype_policy
        self.conv1 = layers.Conv2D(self.filters, 3, self.stride, padding="same", use_bias=False, dtype=policy,
                                   name="conv1")
        self.bn1 = layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name="bn1")
        self.conv2 = layers.Conv2D(self.filters, 3, 1, padding="same", use_bias=False, dtype=policy, name="conv2")
        self.bn2 = layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name="bn2")
        self.conv1.build(input_shape)
        mid = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(mid)
        self.conv2.build(mid)
        self.bn2.build(mid)
        self.has_projection = self.stride != 1 or int(input_shape[-1]) != self.filters
        if self.has_projection:
            self.proj = layers.Conv2D(self.filters, 1, self.stride, use_bias=False, dtype=policy, name="proj")
            self.proj_bn = layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name="proj_bn")
            self.proj.build(input_shape)
            self.proj_bn.build(mid)

    def call(self, x: Any, training: bool | None = None) -> Any:
        out = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        out = self.bn2(self.conv2(out), training=training)
        shortcut = self.proj_bn(self.proj(x), training=training) if self.has_projection else x
        return keras.ops.relu(out + shortcut)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return self.conv1.compute_output_shape(tuple(input_shape)) if self.built else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


def _conv_bn_relu(filters: int, prefix: str, dtype: Any) -> list[layers.Layer]:
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False, dtype=dtype, name=f"{prefix}_conv"),
        layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=dtype, name=f"{prefix}_bn"),
        layers.ReLU(dtype=dtype, name=f"{prefix}_relu"),
    ]


def standard_cnn(
    num_classes: int,
    widths: Sequence[int] = (32, 64, 128, 256),
    dense_units: int = 256,
    dropout: float = 0.0,
    dtype: Any = None,
) -> list[tuple[str, layers.Layer]]:
    """The CBL paper's StandardCNN (section 4.1): 8 conv layers with batch norm and ReLU in four
    blocks of two, max pooling after each block, then two dense layers (the last gives logits).

    Works for 32×32 images and for 64-bin log-mel spectrograms (any fixed H×W).
    """
    num_classes = check_int("num_classes", num_classes, 1)
    widths = check_int_list("widths", widths)
    dense_units = check_int("dense_units", dense_units, 1)
    dropout = check_float("dropout", dropout, 0.0, 0.99)
    stages: list[tuple[str, layers.Layer]] = []
    for i, width in enumerate(widths, start=1):
        block = keras.Sequential(
            _conv_bn_relu(width, f"b{i}c1", dtype) + _conv_bn_relu(width, f"b{i}c2", dtype)
            + [layers.MaxPooling2D(2, padding="same", dtype=dtype, name=f"b{i}_pool")],
            name=f"block{i}",
        )
        stages.append((f"block{i}", block))
    head_layers = [layers.Flatten(dtype=dtype, name="flatten"),
                   layers.Dense(dense_units, activation="relu", dtype=dtype, name="fc1")]
    if dropout:
        head_layers.append(layers.Dropout(dropout, dtype=dtype, name="dropout"))
    head_layers.append(layers.Dense(num_classes, dtype=dtype, name="logits"))
    stages.append(("head", keras.Sequential(head_layers, name="head")))
    return stages


def resnet18(
    num_classes: int,
    stem: str = "imagenet",
    widths: Sequence[int] = (64, 128, 256, 512),
    dtype: Any = None,
) -> list[tuple[str, layers.Layer]]:
    """ResNet-18 with basic blocks. ``stem="imagenet"``: 7×7/2 conv + 3×3/2 max pool for 224×224
    inputs; ``stem="cifar"``: one 3×3/1 conv and no pooling for 32×32 inputs."""
    num_classes = check_int("num_classes", num_classes, 1)
    widths = check_int_list("widths", widths)
    check_choice("stem", stem, ("imagenet", "cifar"))
    if stem == "imagenet":
        stem_layers = [
            layers.Conv2D(widths[0], 7, 2, padding="same", use_bias=False, dtype=dtype, name="stem_conv"),
            layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=dtype, name="stem_bn"),
            layers.ReLU(dtype=dtype, name="stem_relu"),
            layers.MaxPooling2D(3, 2, padding="same", dtype=dtype, name="stem_pool"),
        ]
    else:
        stem_layers = _conv_bn_relu(widths[0], "stem", dtype)
    stages: list[tuple[str, layers.Layer]] = [("stem", keras.Sequential(stem_layers, name="stem"))]
    for i, width in enumerate(widths, start=1):
        stride = 1 if i == 1 else 2
        stage = keras.Sequential(
            [BasicBlock(width, stride, dtype=dtype, name=f"s{i}b1"), BasicBlock(width, 1, dtype=dtype, name=f"s{i}b2")],
            name=f"stage{i}",
        )
        stages.append((f"stage{i}", stage))
    head = keras.Sequential(
        [layers.GlobalAveragePooling2D(dtype=dtype, name="gap"), layers.Dense(num_classes, dtype=dtype, name="logits")],
        name="head",
    )
    stages.append(("head", head))
    return stages


BACKBONES = {"standard_cnn": standard_cnn, "resnet18": resnet18}

#: Stages that get feedback by default ("earlier convolutional blocks" / "preceding residual blocks").
DEFAULT_TAPS = {
    "standard_cnn": ("block1", "block2", "block3", "block4"),
    "resnet18": ("stage1", "stage2", "stage3", "stage4"),
}


def make_backbone(name: str, **kwargs: Any) -> list[tuple[str, layers.Layer]]:
    """The stages of backbone ``name`` (``"standard_cnn"`` or ``"resnet18"``) built from ``kwargs``."""
    builder: Any = BACKBONES[check_choice("backbone", name, BACKBONES)]
    try:
        stages: list[tuple[str, layers.Layer]] = builder(**kwargs)
    except TypeError as err:
        raise ConfigError(f"bad backbone_config for {name!r}: {err}") from None
    return stages

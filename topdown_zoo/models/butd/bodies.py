"""The BU bodies of the paper's experiments (appendix B) and the registry builder."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

from keras import layers, ops

from topdown_zoo.checks import check_choice, check_int, check_int_list
from topdown_zoo.errors import ConfigError
from topdown_zoo.layers.backbones import BN_MOMENTUM, BasicBlock
from topdown_zoo.models.butd.model import BUTDModel


def multimnist_body(channels: int = 64, hidden: int = 50, use_bias: bool = False, dtype: Any = None) -> list[Any]:
    """Appendix B's Multi-MNIST BU net: two 5×5 stride-1 'valid' convolutions of 64 channels,
    each followed by a 3×3 stride-2 convolution (the max pools' replacement), ReLU after every
    convolution, then FC-50 + ReLU. No biases (paper section 3)."""
    channels, hidden = check_int("channels", channels, 1), check_int("hidden", hidden, 1)

    def conv(kernel: int, stride: int, name: str) -> layers.Conv2D:
        return layers.Conv2D(channels, kernel, stride, padding="valid", activation="relu", use_bias=bool(use_bias),
                             dtype=dtype, name=name)

    return [conv(5, 1, "conv1"), conv(3, 2, "pool1"), conv(5, 1, "conv2"), conv(3, 2, "pool2"),
            layers.Flatten(dtype=dtype, name="flatten"),
            layers.Dense(hidden, activation="relu", use_bias=bool(use_bias), dtype=dtype, name="fc")]


def resnet18_body(widths: Sequence[int] = (64, 128, 256, 512), stem: str = "cifar", dtype: Any = None) -> list[Any]:
    """Appendix B's CelebA encoder: ResNet-18 with batch norm, without the final average pooling
    (the last stage's feature map is flattened) and without the classifier."""
    widths = check_int_list("widths", widths)
    if stem != "cifar":
        raise ConfigError(f"stem={stem!r} is not allowed; the BU-TD ResNet-18 can only mirror the 'cifar' stem "
                          "(3×3 conv, no max pool)")
    out = [layers.Conv2D(widths[0], 3, 1, padding="same", use_bias=False, dtype=dtype, name="stem_conv"),
           layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=dtype, name="stem_bn"),
           layers.ReLU(dtype=dtype, name="stem_relu")]
    for i, width in enumerate(widths, start=1):
        stride = 1 if i == 1 else 2
        out += [BasicBlock(width, stride, dtype=dtype, name=f"s{i}b1"),
                BasicBlock(width, 1, dtype=dtype, name=f"s{i}b2")]
    return out + [layers.Flatten(dtype=dtype, name="flatten")]


BODIES: dict[str, Callable[..., list[Any]]] = {"multimnist": multimnist_body, "resnet18": resnet18_body}


def build_butd(input_shape: Sequence[int], body: str = "multimnist", body_config: dict[str, Any] | None = None,
               num_tasks: int = 2, num_classes: int = 10, multi_decoder: bool = False, loss: str = "softmax",
               mode: str = "symmetric", weight_decay: float | None = None, noise_std: float = 0.01,
               td_seed: int = 1234, **kwargs: Any) -> BUTDModel:
    """Registry builder: a built :class:`BUTDModel` over a named BU body (``kwargs`` such as
    ``registry_name``, ``registry_overrides``, ``dtype`` and ``name`` go to the model)."""
    check_choice("body", body, BODIES)
    if body_config is not None and not isinstance(body_config, dict):
        raise ConfigError(f"body_config={body_config!r} is not allowed; it must be a mapping of {body}'s arguments")
    allowed = set(inspect.signature(BODIES[body]).parameters)
    unknown = sorted(set(body_config or {}) - allowed)
    if unknown:
        raise ConfigError(f"body_config key(s) {', '.join(unknown)} are not allowed for body {body!r}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    model = BUTDModel(BODIES[body](**dict(body_config or {})), num_tasks=num_tasks, num_classes=num_classes,
                      multi_decoder=multi_decoder, loss=loss, mode=mode, weight_decay=weight_decay,
                      noise_std=noise_std, td_seed=td_seed, **kwargs)
    x = ops.zeros((1,) + tuple(input_shape))
    model((x, ops.zeros((1,), dtype="int32")))
    return model


build_butd.model_class = BUTDModel  # type: ignore[attr-defined]

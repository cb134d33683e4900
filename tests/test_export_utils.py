"""Small builds of registry entries for the export tests and the export benchmark.

Every entry is built by its own registry builder, ``spec.build_fn()(small_shape, **config)``,
with a reduced input size and (for the wide ImageNet/CelebA/CIFAR networks) reduced widths so
that exporting the whole registry stays affordable on two CPU cores. Config keys that a family
does not have are never added, so new families are exported with their own config.
"""
from __future__ import annotations

import copy

import numpy as np

#: larger image inputs are reduced to this side in tests (MNIST-sized entries keep their size:
#: the BU-TD Multi-MNIST body's valid convolutions need 28×28)
SMALL_SIDE = 32
#: channel widths are capped at this many in tests
MAX_WIDTH = 16


def small_shape(spec) -> tuple:
    shape = tuple(spec.input_shape)
    if len(shape) == 3 and shape[0] and shape[1]:
        h, w, c = shape
        if max(h, w) > SMALL_SIDE:
            # the ImageNet stem divides by 32; keep one pixel at the bottom of the network
            side = 32 if spec.config.get("backbone_config", {}).get("stem") == "imagenet" else SMALL_SIDE
            return (side, side, c)
    return shape


def _shrink(value, key):
    if key in ("widths",) and isinstance(value, (list, tuple)):
        return [min(int(w), MAX_WIDTH) for w in value]
    if key in ("channels", "stem_width", "context_dim") and isinstance(value, int):
        return min(value, MAX_WIDTH)
    if key in ("dense_units", "hidden") and isinstance(value, int):
        return min(value, 32)
    return value


def small_config(spec) -> dict:
    config = copy.deepcopy(dict(spec.config))
    for key, value in list(config.items()):
        if isinstance(value, dict):
            config[key] = {k: _shrink(v, k) for k, v in value.items()}
        else:
            config[key] = _shrink(value, key)
    if spec.family == "cbl" and spec.builder.endswith("build_cbl"):
        config.setdefault("context_dim", MAX_WIDTH)
    if "backbone_config" in config and config.get("backbone") == "standard_cnn":
        config["backbone_config"].setdefault("widths", [8, 8, 16, 16])
        config["backbone_config"].setdefault("dense_units", 32)
    if "backbone_config" in config and config.get("backbone") == "resnet18":
        config["backbone_config"].setdefault("widths", [8, 8, 16, 16])
    return config


def small_model(name: str, **overrides):
    """``name``'s architecture at a small input size (random weights, seeded)."""
    import keras

    from topdown_zoo.registry import get_spec

    spec = get_spec(name)
    keras.utils.set_random_seed(0)
    # registry_name: the export reads the entry's input range and preprocessing from it
    return spec.build_fn()(small_shape(spec), **{**small_config(spec), **overrides}, registry_name=name)


def sample_batch(model, batch: int = 3, seed: int = 1) -> list[np.ndarray]:
    """``model.example_inputs`` in the entry's input range, as arrays in ``input_specs`` order."""
    from topdown_zoo.exporting import InputSignature

    return InputSignature.infer(model).random_inputs(batch=batch, seed=seed)

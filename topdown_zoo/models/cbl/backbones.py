"""Any built Keras image model as CBL stages f⁽¹⁾…f⁽ᴸ⁺¹⁾ (CBL paper, eq. 2), keras-hub backbones included.

A Functional model (a keras-hub backbone is one) is cut at the outputs of the tapped layers:
the stage ending at tap l computes h⁽ˡ⁾ from h⁽ˡ⁻¹⁾, the last stage ("head") maps the last tap
to the logits y = f⁽ᴸ⁺¹⁾(h⁽ᴸ⁾) (eq. 8) — the model's own output, or a new global-pool + dense
classifier when ``num_classes`` is given (a keras-hub backbone has no classifier). A tap must
*cut* the graph: everything above it reads the input only through it (e.g. the output of a
whole residual block, not a layer inside one).

The stages are rebuilt from the model's serialized Keras config (``backbone_config["model"]``),
so a CBL model around any Keras model saves, loads and exports like the zoo's own backbones.
The CBL model's backbone key is :data:`KERAS_MODEL`. keras-hub is an optional extra
(``pip install 'topdown_zoo[keras-hub]'``), imported only here and only when needed.
"""
from __future__ import annotations

import copy
import importlib
import json
from typing import Any, Sequence

import keras

from topdown_zoo.checks import check_int
from topdown_zoo.errors import BackendError, ConfigError, did_you_mean

#: the ``backbone`` value of a CBL model built around a Keras model
KERAS_MODEL = "keras_model"
#: name of the stage that maps the last tap to the logits
HEAD = "head"
_INSTALL = "pip install 'topdown_zoo[keras-hub]'"


def require_keras_hub() -> Any:
    """The ``keras_hub`` module, or a :class:`BackendError` naming the install command."""
    try:
        return importlib.import_module("keras_hub")
    except ImportError as err:
        raise BackendError(f"keras-hub is not installed ({err}); install the extra: {_INSTALL}") from None


def load_keras_hub_backbone(preset: str | None = None, architecture: dict[str, Any] | None = None,
                            load_weights: bool = True) -> keras.Model:
    """A keras-hub image backbone with its pretrained weights.

    Args:
        preset: a keras-hub preset name (``"resnet_18_imagenet"``, ``"resnet_50_imagenet"``), a
            local preset folder (written by ``backbone.save_to_preset(folder)``), or a handle
            (``"kaggle://…"``, ``"hf://…"``; ``"hf://timm/resnet18.a1_in1k"`` converts a timm
            checkpoint).
        architecture: instead of a preset, ``{"class_name": "ResNetBackbone", "config": {...}}``:
            a randomly initialised backbone of that keras-hub class (tests, training from scratch).
        load_weights: load the preset's pretrained weights (``False``: its architecture only).
    """
    keras_hub = require_keras_hub()
    if (preset is None) == (architecture is None):
        raise ConfigError("give exactly one of preset= (a keras-hub preset name or folder) and architecture= "
                          "({'class_name': 'ResNetBackbone', 'config': {...}})")
    if architecture is not None:
        name = architecture.get("class_name") if isinstance(architecture, dict) else None
        cls = getattr(keras_hub.models, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, keras_hub.models.Backbone)):
            raise ConfigError(f"architecture class_name={name!r} is not a keras-hub backbone class; "
                              f"e.g. 'ResNetBackbone'.{did_you_mean(str(name), _backbone_classes(keras_hub))}")
        try:
            return cls(**dict(architecture.get("config") or {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad architecture config for keras_hub.models.{name}: {_first_line(err)}") from None
    try:
        return keras_hub.models.Backbone.from_preset(preset, load_weights=load_weights)
    except ValueError as err:
        raise ConfigError(f"unknown keras-hub preset {preset!r}: give a preset name such as 'resnet_18_imagenet' "
                          "(keras_hub.models.ResNetBackbone.presets), a local folder written by save_to_preset, "
                          f"or a kaggle:// or hf:// handle ({_first_line(err)})") from None
    except (OSError, ConnectionError) as err:
        raise ConfigError(f"could not fetch keras-hub preset {preset!r} ({type(err).__name__}); connect to the "
                          "network once (keras-hub caches presets) or pass a local preset folder") from None
    except Exception as err:  # requests/kagglehub/huggingface errors do not share a base class
        raise ConfigError(f"could not load keras-hub preset {preset!r}: {type(err).__name__}: {_first_line(err)}; "
                          "check the name and the network, or pass a local preset folder") from None


def _backbone_classes(keras_hub: Any) -> list[str]:
    base = keras_hub.models.Backbone
    return [n for n, c in vars(keras_hub.models).items() if isinstance(c, type) and issubclass(c, base)]


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


def default_stem(model: keras.Model, taps: Sequence[str]) -> str | None:
    """The layer that ends a keras-hub ResNet's stem (``pool1_pool``) when it lies below every tap."""
    names = [layer.name for layer in model.layers]
    if "pool1_pool" in names and all(t in names and names.index(t) > names.index("pool1_pool") for t in taps):
        return "pool1_pool"
    return None


def default_taps(model: keras.Model) -> list[str]:
    """The stage outputs of a keras-hub feature-pyramid backbone (ResNet: ``stack0_block1_out`` …)."""
    pyramid = getattr(model, "pyramid_outputs", None) or {}
    names = [tensor._keras_history.operation.name for tensor in pyramid.values()]
    if not names:
        raise ConfigError(f"{model.name} has no known stage outputs; give taps=[layer names] "
                          f"(the outputs of whole blocks, e.g. {', '.join(_example_layers(model))})")
    return names


def _example_layers(model: keras.Model, n: int = 3) -> list[str]:
    return [layer.name for layer in model.layers[-n - 1:-1]]


def serialize_model(model: keras.Model) -> dict[str, Any]:
    """The JSON-able Keras config of ``model`` (what ``backbone_config["model"]`` holds)."""
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or not getattr(model, "outputs", None):
        raise ConfigError(f"feedback needs a built Functional Keras model (keras.Model(inputs, outputs), a Sequential "
                          f"or a keras-hub backbone), got {type(model).__name__}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConfigError(f"{model.name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                          "feedback wraps a model with one image input and one output")
    try:
        config: dict[str, Any] = keras.saving.serialize_keras_object(model)
        json.dumps(config)
    except (TypeError, ValueError, NotImplementedError) as err:
        raise ConfigError(f"{model.name} cannot be serialized ({_first_line(err)}); its custom layers need "
                          "get_config and @keras.saving.register_keras_serializable") from None
    return config


def _deserialize(config: dict[str, Any]) -> keras.Model:
    if "keras_hub" in json.dumps(config):
        require_keras_hub()  # registers keras-hub's classes
    try:
        model = keras.saving.deserialize_keras_object(copy.deepcopy(config))  # Keras pops keys of what it reads
    except (TypeError, ValueError) as err:
        raise ConfigError(f"cannot rebuild the wrapped model from its config ({_first_line(err)}); register its "
                          "custom layers with @keras.saving.register_keras_serializable") from None
    if not isinstance(model, keras.Model):
        raise ConfigError(f"backbone_config['model'] rebuilds a {type(model).__name__}, not a keras.Model")
    return model


def _tap_tensor(model: keras.Model, name: str) -> Any:
    names = [layer.name for layer in model.layers]
    if name not in names:
        raise ConfigError(f"layer {name!r} is not in model {model.name!r}.{did_you_mean(name, names)} "
                          "Tap layers of the model itself (model.summary() lists them)")
    return model.get_layer(name).output


def _segment(inputs: Any, outputs: Any, name: str, tap: str) -> keras.Model:
    try:
        return keras.Model(inputs, outputs, name=name)
    except ValueError:
        raise ConfigError(f"tap {tap!r} does not cut the model: a connection bypasses it (e.g. a residual "
                          "shortcut), so feedback there would not reach the output alone. Tap the output of a "
                          "whole block instead (for a keras-hub ResNet: stack<i>_block<j>_out)") from None


def keras_model_stages(dtype: Any = None, **backbone_config: Any) -> list[tuple[str, keras.layers.Layer]]:
    """The stages of backbone ``"keras_model"``: :func:`cut_model` with ``backbone_config``."""
    try:
        return cut_model(dtype=dtype, **backbone_config)
    except TypeError as err:
        raise ConfigError(f"bad backbone_config for {KERAS_MODEL!r}: {err}; its keys are model, taps, num_classes, "
                          "freeze and stem") from None


def cut_model(model: dict[str, Any], taps: Sequence[str], num_classes: int | None = None,
              freeze: bool = False, stem: str | None = None, dtype: Any = None) -> list[tuple[str, keras.layers.Layer]]:
    """Stages ``[(tap₁, x→h⁽¹⁾), …, (tap_L, h⁽ᴸ⁻¹⁾→h⁽ᴸ⁾), ("head", h⁽ᴸ⁾→y)]`` of a Keras model.

    Args:
        model: the model's serialized Keras config (:func:`serialize_model`).
        taps: names of the layers whose outputs are cut points (any order; sorted bottom-up).
        stem: optional layer below the first tap whose output ends a first stage of its own
            (``[(stem, x→stem), (tap₁, stem→h⁽¹⁾), …]``): the CBL loop computes stages below its
            lowest tap once per input, so cutting the stem off saves recomputing it every step.
        num_classes: add a classifier (global average pool when the features are maps, then a
            dense layer giving ``num_classes`` logits); ``None``: the model's output are the logits.
        freeze: make every layer of the wrapped model non-trainable (its batch norms then use
            their moving statistics; the new classifier stays trainable).
        dtype: dtype policy of the new classifier.
    """
    if isinstance(taps, str) or not taps:
        raise ConfigError(f"taps must be a non-empty list of layer names, got {taps!r}")
    body = _deserialize(model)
    order = {layer.name: i for i, layer in enumerate(body.layers)}
    tensors = {name: _tap_tensor(body, name) for name in taps}
    taps = sorted(set(taps), key=order.__getitem__)
    stages: list[tuple[str, keras.layers.Layer]] = []
    below = body.inputs[0]
    if stem is not None:
        tensor = _tap_tensor(body, stem)
        if order[stem] >= order[taps[0]]:
            raise ConfigError(f"stem {stem!r} must come before the first tap {taps[0]!r}")
        stages.append((stem, _segment(below, tensor, f"to_{stem}", stem)))
        below = tensor
    for tap in taps:
        stages.append((tap, _segment(below, tensors[tap], f"to_{tap}", tap)))
        below = tensors[tap]
    top = body.outputs[0]
    head_layers: list[keras.layers.Layer] = []
    if top is not below:
        head_layers.append(_segment(below, top, "to_output", taps[-1]))
    elif num_classes is None:
        raise ConfigError(f"tap {taps[-1]!r} is the model's output: nothing maps it to logits; tap an earlier layer "
                          "or give num_classes to add a classifier")
    if freeze:
        for _, stage in stages:
            stage.trainable = False
        for layer in head_layers:
            layer.trainable = False
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, 1)
        if len(top.shape) == 4:
            head_layers.append(keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool"))
        elif len(top.shape) != 2:
            raise ConfigError(f"num_classes needs feature maps (B, H, W, C) or vectors (B, C); {body.name} outputs "
                              f"{tuple(top.shape)}")
        head_layers.append(keras.layers.Dense(num_classes, dtype=dtype, name="logits"))
    stages.append((HEAD, keras.Sequential(head_layers, name=HEAD)))
    return stages

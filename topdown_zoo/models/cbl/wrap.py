"""Add Contextual Backpropagation Loops to a Keras model you already have (CBL paper, sections 3.3–3.7).

>>> import keras_hub, topdown_zoo as tz
>>> body = keras_hub.models.Backbone.from_preset("resnet_18_imagenet")   # pretrained, or a local preset folder
>>> model = tz.add_feedback(body, num_classes=10, iterations=2)          # taps: every ResNet stage
>>> model.step_outputs(x)                                                # [y(0), y(1), y(2)]

:func:`add_feedback` cuts the model at the tapped layers (eq. 2: h⁽¹⁾ … h⁽ᴸ⁾, y = f⁽ᴸ⁺¹⁾(h⁽ᴸ⁾)),
adds a context head z = g(y) (eqs. 3, 6) and one adapter ψ⁽ˡ⁾ per tap (eq. 4,
:mod:`topdown_zoo.models.cbl.adapters`), and refines h⁽ˡ⁾ ← α·h⁽ˡ⁾ + (1 − α)·ψ⁽ˡ⁾(h⁽ˡ⁾, z) for T
steps (eqs. 7–8). The result is a :class:`~topdown_zoo.models.cbl.model.CBLModel` (backbone
``"keras_model"``): it trains with the step loss Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9), saves and loads as
a ``.keras`` file, and exports with :func:`topdown_zoo.export`. With α = 1 (or T = 0) eq. 7 is
the identity and the result predicts exactly what the model (plus its new classifier) predicts.
"""
from __future__ import annotations

from typing import Any, Sequence

import keras

from topdown_zoo.errors import ConfigError
from topdown_zoo.models.cbl.backbones import (
    KERAS_MODEL,
    default_stem,
    default_taps,
    load_keras_hub_backbone,
    serialize_model,
)
from topdown_zoo.models.cbl.model import CBLModel


def add_feedback(
    model: keras.Model,
    taps: Sequence[str] | None = None,
    num_classes: int | None = None,
    iterations: int = 2,
    alpha: float = 0.0,
    adapter: str = "film",
    freeze: bool = True,
    stem: str | None = None,
    input_shape: Sequence[int | None] | None = None,
    **cbl_config: Any,
) -> CBLModel:
    """Wrap a built Keras image model with CBL feedback at the layers ``taps``.

    Args:
        model: a built Functional model (``keras.Model(inputs, outputs)``, a ``Sequential``, a
            keras-hub backbone such as ``keras_hub.models.ResNetBackbone``) with one image input.
            Its weights (pretrained or not) are copied into the result; ``model`` is not changed.
        taps: names of the layers whose outputs get feedback (h⁽ˡ⁾ of eq. 7). Each must cut the
            model (the output of a whole block). Default for a keras-hub backbone: the output of
            every stage (``pyramid_outputs``: ``stack0_block1_out`` … for ResNet-18).
        num_classes: add a classifier (global average pool + dense) giving ``num_classes`` logits
            on top of the model; ``None`` when the model's output already are class logits.
        iterations: T, the number of refinement steps (0: the model alone).
        alpha: α of eq. 7 in [0, 1]: 0 replaces each tapped state by its refined version (the
            paper's setting), 1 switches feedback off exactly.
        adapter: ψ of eq. 4: ``"film"`` ((1+γ(z))⊙h+β(z), starts at the identity: the default here,
            so a pretrained model's prediction is unchanged before training), ``"gating"``
            (σ(Wz+b)⊙h, the paper's) or ``"concat"``.
        freeze: train only what is new (adapters, context head, classifier): the model's weights
            and batch-norm statistics stay as they are. ``False`` fine-tunes everything.
        stem: a layer below the first tap whose output ends a stage computed once per input
            (default for a keras-hub ResNet: ``pool1_pool``).
        input_shape: one example's shape; default: the model's input shape.
        **cbl_config: the other :class:`~topdown_zoo.models.cbl.model.CBLModel` keys
            (``step_weights``, ``tolerance``, ``context_dim``, ``context_input``,
            ``alpha_trainable``, ``name`` …).

    Returns:
        a built :class:`~topdown_zoo.models.cbl.model.CBLModel` (a :class:`~topdown_zoo.ZooModel`)
        whose ``step_outputs(x)`` are [y⁽⁰⁾, …, y⁽ᵀ⁾].

    Raises:
        ConfigError: a tap that is not a layer of the model or does not cut it, a model with
            several inputs or outputs, or one that cannot be serialized.
    """
    config = serialize_model(model)
    taps = list(taps) if taps is not None else default_taps(model)
    if isinstance(taps, str) or not taps:
        raise ConfigError(f"taps must be a non-empty list of layer names, got {taps!r}")
    stem = stem if stem is not None else default_stem(model, taps)
    backbone_config = {"model": config, "taps": taps, "num_classes": num_classes, "freeze": bool(freeze),
                       "stem": stem}
    cbl = CBLModel(backbone=KERAS_MODEL, backbone_config=backbone_config, iterations=iterations, alpha=alpha,
                   adapter=adapter, taps=taps, **cbl_config)
    own = tuple(model.input_shape[1:])
    shape = tuple(input_shape) if input_shape is not None else own
    if len(shape) != len(own) or any(a is not None and a != b for a, b in zip(own, shape)):
        raise ConfigError(f"{model.name} takes inputs shaped {own}, not {shape}; build the model for that size "
                          "(keras-hub: image_shape=(None, None, 3)) or give input_shape to match")
    cbl.build((None, *shape))
    copy_weights(model, cbl)
    return cbl


def copy_weights(source: keras.Model, cbl: CBLModel) -> None:
    """Copy every weight of ``source`` into the stages of ``cbl`` that were cut from it (by layer name)."""
    segments = list(cbl.stage_layers[:-1]) + [layer for layer in cbl.stage_layers[-1].layers
                                              if isinstance(layer, keras.Model)]
    targets = {layer.name: layer for segment in segments for layer in segment.layers}
    copied = 0
    for layer in source.layers:
        if not layer.weights:
            continue
        target = targets.get(layer.name)
        if target is None or len(target.weights) != len(layer.weights):
            raise ConfigError(f"layer {layer.name!r} of {source.name!r} has no counterpart in the feedback model")
        for dst, src in zip(target.weights, layer.weights):
            dst.assign(src.value)
        copied += len(layer.weights)
    if copied != len(source.weights):
        raise ConfigError(f"copied {copied} of the {len(source.weights)} weights of {source.name!r}")


def build_cbl_from_preset(input_shape: Sequence[int], preset: str | None = "resnet_18_imagenet",
                          architecture: dict[str, Any] | None = None, load_weights: bool = True,
                          **config: Any) -> CBLModel:
    """Registry builder: a keras-hub backbone (a pretrained ``preset``, or an ``architecture`` with
    random weights) wrapped by :func:`add_feedback` with ``config`` (``taps``, ``num_classes``,
    ``freeze``, ``iterations``, ``alpha``, ``adapter``, ``registry_name`` …)."""
    body = load_keras_hub_backbone(preset=preset, architecture=architecture, load_weights=load_weights)
    return add_feedback(body, input_shape=input_shape, **config)


build_cbl_from_preset.model_class = CBLModel  # type: ignore[attr-defined]

"""The public entry points: ``create`` (architecture) and ``load`` (architecture + weights).

This module is light: it imports Keras (and the families) only when a model is built or loaded,
so that ``import topdown_zoo`` and ``topdown-zoo list`` stay fast.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from topdown_zoo.checks import check_config_limits
from topdown_zoo.errors import ConfigError, WeightsNotAvailableError
from topdown_zoo.registry import ModelSpec, all_specs, get_spec

#: keys that ``build_from_spec`` passes to every builder; never user overrides
REGISTRY_KEYS = frozenset({"registry_name", "registry_overrides"})


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Drop what native code writes on the process's stderr (file descriptor 2) inside the block.

    TensorFlow's C++ runtime prints start-up banners (absl, oneDNN) while it is imported, whatever
    ``TF_CPP_MIN_LOG_LEVEL`` says; they would break the CLI's one-line errors. Unless the user asked
    for TensorFlow's logs (``TF_CPP_MIN_LOG_LEVEL`` < 2) they are dropped. Python exceptions are
    unaffected: they propagate and are printed after stderr is restored.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        yield
        return
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptors to juggle (e.g. embedded interpreters)
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_import(*modules: str) -> None:
    """Import ``modules`` (e.g. ``"keras"``, ``"tensorflow"``) inside :func:`quiet_stderr`;
    modules already imported or not installed are skipped."""
    missing = [m for m in modules if m not in sys.modules and importlib.util.find_spec(m) is not None]
    if missing:
        with quiet_stderr():
            for module in missing:
                importlib.import_module(module)


_CLASSES_REGISTERED = False


def register_keras_classes() -> None:
    """Import every family's model modules so that their Keras classes are registered.

    ``keras.saving`` rebuilds a zoo model from a ``model.keras`` file or a hub folder's config only
    when its classes are registered; :func:`load` calls this, and so may code that deserializes
    zoo models itself. Importing Keras and every family takes a few seconds, so it is done once,
    on demand, never by ``import topdown_zoo``.
    """
    global _CLASSES_REGISTERED
    if _CLASSES_REGISTERED:
        return
    quiet_import("keras")
    import pkgutil

    import topdown_zoo.layers  # noqa: F401  (the shared layers)
    import topdown_zoo.models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        if info.ispkg:
            importlib.import_module(f"topdown_zoo.models.{info.name}")
    for spec in all_specs().values():  # the builders' modules define the model classes
        importlib.import_module(spec.builder.partition(":")[0])
    _CLASSES_REGISTERED = True


def model_config(spec: ModelSpec, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``spec.config`` with ``overrides`` applied; nested dicts (``backbone_config``) merge key by key."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.config.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def create(name: str, weights: str | Path | None = None, *, dtype: str | None = None, **overrides: Any) -> Any:
    """Build the named model, optionally with architecture overrides.

    Args:
        name: a registry name (see :func:`topdown_zoo.list_models`).
        weights: ``None`` for random initialisation, ``"pretrained"`` to load the zoo's trained
            weights (same as :func:`load`), or a path to a ``.weights.h5`` file / hub folder.
        dtype: a Keras dtype policy every layer is built under (e.g. ``"mixed_bfloat16"``).
        **overrides: config keys of the family, e.g. ``iterations=4`` or ``alpha=0.5``.

    Returns:
        the built :class:`~topdown_zoo.models.base.ZooModel`; its ``registry_name`` and
        ``registry_overrides`` record ``name`` and ``overrides``.

    Unknown config keys raise an error that lists the allowed ones.
    """
    spec = get_spec(name)
    if weights is not None:
        return load(name, weights=None if weights == "pretrained" else weights, dtype=dtype, **overrides)
    with dtype_policy(dtype):
        return build_from_spec(spec, overrides)


def build_from_spec(spec: ModelSpec, overrides: dict[str, Any] | None = None) -> Any:
    """Build ``spec``'s model with ``overrides``; the builder receives ``registry_name`` and
    ``registry_overrides`` and hands them to the model (the contract's members of the same names)."""
    overrides = dict(overrides or {})
    allowed = _allowed_keys(spec)
    unknown = sorted(k for k in overrides if k in REGISTRY_KEYS or (allowed and k not in allowed))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(unknown)} for {spec.name}; "
            f"allowed: {', '.join(sorted(allowed)) if allowed else 'the family config keys'}"
        )
    check_config_limits(overrides)  # before anything is allocated: an untrusted config may ask for 10⁹ steps
    config = model_config(spec, overrides)
    return spec.build_fn()(spec.input_shape, **config, registry_name=spec.name, registry_overrides=dict(overrides))


def _allowed_keys(spec: ModelSpec) -> set[str]:
    """Config keys the family accepts: the model class's constructor arguments (a builder names
    its class as ``builder.model_class``), else the builder's own keyword arguments. An empty set
    means "anything" (the model validates)."""
    import inspect

    quiet_import("keras")
    builder = spec.build_fn()
    model_cls = getattr(builder, "model_class", None)
    target = model_cls.__init__ if model_cls is not None else builder
    params = set(spec.config) | {"dtype", "name"}
    for p in inspect.signature(target).parameters.values():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "input_shape"):
            params.add(p.name)
        elif p.kind == p.VAR_KEYWORD and model_cls is None:
            return set()
    return params - REGISTRY_KEYS


@contextlib.contextmanager
def dtype_policy(dtype: str | None) -> Iterator[None]:
    """Build models under the Keras dtype policy ``dtype`` (e.g. ``"mixed_bfloat16"``), so that
    every layer a family creates gets it, then restore the global policy. ``None``: no change."""
    if dtype is None:
        yield
        return
    quiet_import("keras")
    import keras

    before = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy(dtype)
    except ValueError as err:
        raise ConfigError(f"dtype={dtype!r} is not a Keras dtype policy (e.g. 'float32', 'mixed_bfloat16', "
                          f"'mixed_float16', 'bfloat16'): {err}") from None
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def load(name: str, revision: str | None = None, weights: str | Path | None = None, *,
         num_classes: int | None = None, freeze: bool = False, dtype: str | None = None, preprocess: bool = False,
         **overrides: Any) -> Any:
    """Build the named model and load its trained weights, verified by sha256.

    Fine-tuning, as timm users do it: ``num_classes=N`` builds the entry with a new classifier
    head of N outputs and loads every pretrained weight that fits (the head, and any layer whose
    shape follows the number of classes, such as CBL's context adapters, keep their fresh
    initialisation; ``model.reinitialized_layers`` names them). ``freeze=True`` makes every other
    layer non-trainable (train the new head only; set ``layer.trainable = True`` to unfreeze later).
    ``dtype="mixed_bfloat16"`` (any Keras dtype policy) builds every layer under that policy.

    Raw inputs: ``preprocess=True`` returns the model behind the entry's preprocessing as Keras
    layers (:class:`topdown_zoo.preprocessing.Preprocessed`): it takes the dataset's raw images
    (e.g. ``uint8`` 0…255 for the ``*-mnist5k`` entries) and scales them as ``spec.preprocessing``
    records. Only per-pixel affine preprocessing (scale / mean-std) can be; any other (audio
    spectrograms, crops, binarisation) raises :class:`~topdown_zoo.errors.ConfigError` saying why.

    Weights are resolved in this order: ``weights=`` (a hub folder or ``.weights.h5`` file);
    the local mirror ``$TOPDOWN_ZOO_HUB/<name>``; the folders shipped with the package
    (``hub/<name>``); the Hugging Face Hub (``spec.hf_repo_id`` at ``revision``, through its cache,
    honouring ``HF_HUB_OFFLINE``). ``name`` may also be an ``hf://org/repo`` handle.

    Overrides that change the architecture's weights (e.g. another backbone) fail to load;
    inference-time keys such as ``iterations`` or ``tolerance`` are fine.

    Integrity: beside each folder's ``SHA256SUMS``, the package pins the sha256 of every file of
    every published entry (``topdown_zoo/hub/pins.json``). The mirror, shipped and Hugging Face
    copies must match those pins; a folder or ``.weights.h5`` of your own loads with an
    ``UnpinnedWeightsWarning``; weights pinned for another entry are refused (docs/hub.md).
    """
    if preprocess:
        _check_preprocessing(name)  # before any weights are read
        from topdown_zoo.preprocessing import preprocessed

        return preprocessed(load(name, revision, weights, num_classes=num_classes, freeze=freeze, dtype=dtype,
                                 **overrides))
    if num_classes is not None or freeze:
        return _load_for_fine_tuning(name, revision, weights, num_classes, freeze, dtype, overrides)
    with dtype_policy(dtype):
        return _load(name, revision, weights, overrides)


def _check_preprocessing(name: str) -> None:
    """Refuse ``preprocess=True`` early for a registry entry whose preprocessing is not a per-pixel
    affine map (an ``hf://`` handle is checked once its model is loaded)."""
    if isinstance(name, str) and not name.startswith("hf://"):
        from topdown_zoo.preprocessing import affine_map

        spec = get_spec(name)
        affine_map(spec.name, spec.preprocessing)


def _load(name: str, revision: str | None, weights: str | Path | None, overrides: dict[str, Any]) -> Any:
    if isinstance(name, str) and name.startswith("hf://"):
        register_keras_classes()
        from topdown_zoo import hub

        folder = hub.resolve_hf_handle(name, revision=revision)
        return hub.load_folder(folder, overrides=overrides)
    spec = get_spec(name)
    register_keras_classes()
    from topdown_zoo import hub

    found = hub.resolve_source(spec, revision=revision, weights=weights)
    if found is None:
        raise WeightsNotAvailableError(
            f"{name} has no trained weights yet. Train them with `topdown-zoo train recipes/{spec.recipe}` "
            f"and load the run's hub folder with load({name!r}, weights='runs/.../hub'), "
            f"or use create({name!r}) for a randomly initialised model."
        )
    folder_or_file, source = found
    return hub.load_folder(folder_or_file, spec=spec, overrides=overrides,
                           published=source in hub.PUBLISHED_SOURCES)


def _load_for_fine_tuning(name: str, revision: str | None, weights: str | Path | None, num_classes: int | None,
                          freeze: bool, dtype: str | None, overrides: dict[str, Any]) -> Any:
    """``load(name, num_classes=N, freeze=...)``: the pretrained body, a fresh head."""
    from topdown_zoo import hub
    from topdown_zoo.checks import check_int

    if isinstance(name, str) and name.startswith("hf://"):
        raise ConfigError("num_classes= / freeze= take a registry name; load the hf:// handle, then fine-tune it")
    spec = get_spec(name)
    register_keras_classes()
    changes = dict(overrides)
    if num_classes is not None:
        check_int("num_classes", num_classes, 1, 1_000_000)
        model_class = getattr(spec.build_fn(), "model_class", None)
        if model_class is None:
            raise ConfigError(f"{name}'s builder names no model class; num_classes= cannot resize its head")
        changes.update(model_class.num_classes_overrides(model_config(spec, overrides), int(num_classes)))
    with dtype_policy(dtype):
        model = build_from_spec(spec, changes)
    if freeze and num_classes is None:
        raise ConfigError("freeze=True freezes the pretrained body around a new head: give num_classes= too "
                          "(to freeze layers of a loaded model yourself, set layer.trainable = False)")
    source = "pretrained" if weights is None else weights
    if revision is not None:
        raise ConfigError("revision= is not supported with num_classes= / freeze=; download that revision and "
                          "give its folder as weights=")
    skipped = hub.load_weights_into(model, spec, source, skip_mismatch=num_classes is not None)
    model.reinitialized_layers = skipped
    if freeze:
        _freeze_all_but(model, set(skipped))
    return model


def _freeze_all_but(model: Any, fresh: set[str]) -> None:
    """Make every layer non-trainable except the layers named in ``fresh`` (and what they hold)."""
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    for layer in layers:
        layer.trainable = False
    for layer in layers:
        if layer.name in fresh:
            layer.trainable = True  # Keras applies it to the layer's own sub-layers too

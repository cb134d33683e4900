"""The public entry points: ``create`` (architecture) and ``load`` (architecture + weights)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from topdown_zoo.errors import TopdownZooError, WeightsNotAvailableError
from topdown_zoo.registry import ModelSpec, get_spec


def model_config(spec: ModelSpec, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``spec.config`` with ``overrides`` applied; nested dicts (``backbone_config``) merge key by key."""
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.config.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def create(name: str, weights: str | Path | None = None, **overrides):
    """Build the named model, optionally with architecture overrides.

    Args:
        name: a registry name (see :func:`topdown_zoo.list_models`).
        weights: ``None`` for random initialisation, ``"pretrained"`` to load the zoo's trained
            weights (same as :func:`load`), or a path to a ``.weights.h5`` file / hub folder.
        **overrides: config keys of the family, e.g. ``iterations=4`` or ``alpha=0.5``.

    Unknown config keys raise an error that lists the allowed ones.
    """
    spec = get_spec(name)
    if weights is not None:
        return load(name, weights=None if weights == "pretrained" else weights, **overrides)
    return build_from_spec(spec, overrides)


def build_from_spec(spec: ModelSpec, overrides: dict[str, Any] | None = None):
    config = model_config(spec, overrides)
    allowed = _allowed_keys(spec)
    unknown = sorted(set(overrides or {}) - allowed) if allowed else []
    if unknown:
        raise TopdownZooError(
            f"unknown config key(s) {', '.join(unknown)} for {spec.name}; allowed: {', '.join(sorted(allowed))}"
        )
    model = spec.build_fn()(spec.input_shape, **config)
    model._zoo_spec_name = spec.name  # lets hub.package and evaluate find the entry again
    model._zoo_overrides = dict(overrides or {})
    return model


def _allowed_keys(spec: ModelSpec) -> set[str]:
    """Config keys the family accepts: the model class's constructor arguments (a builder names
    its class as ``builder.model_class``), else the builder's own keyword arguments. An empty set
    means "anything" (the model validates)."""
    import inspect

    builder = spec.build_fn()
    model_cls = getattr(builder, "model_class", None)
    target = model_cls.__init__ if model_cls is not None else builder
    params = set(spec.config) | {"dtype", "name"}
    for p in inspect.signature(target).parameters.values():
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "input_shape"):
            params.add(p.name)
        elif p.kind == p.VAR_KEYWORD and model_cls is None:
            return set()
    return params


def load(name: str, revision: str | None = None, weights: str | Path | None = None, **overrides):
    """Build the named model and load its trained weights, verified by sha256.

    Weights are resolved in this order: ``weights=`` (a hub folder or ``.weights.h5`` file);
    the local mirror ``$TOPDOWN_ZOO_HUB/<name>``; the folders shipped with the package
    (``hub/<name>``); the Hugging Face Hub (``spec.hf_repo_id`` at ``revision``, through its cache,
    honouring ``HF_HUB_OFFLINE``). ``name`` may also be an ``hf://org/repo`` handle.

    Overrides that change the architecture's weights (e.g. another backbone) fail to load;
    inference-time keys such as ``iterations`` or ``tolerance`` are fine.
    """
    from topdown_zoo import hub

    if name.startswith("hf://"):
        folder = hub.resolve_hf_handle(name, revision=revision)
        return hub.load_folder(folder, overrides=overrides)
    spec = get_spec(name)
    folder_or_file = hub.resolve(spec, revision=revision, weights=weights)
    if folder_or_file is None:
        raise WeightsNotAvailableError(
            f"{name} has no trained weights yet. Train them with `topdown-zoo train recipes/{spec.recipe}` "
            f"and load the run's hub folder with load({name!r}, weights='runs/.../hub'), "
            f"or use create({name!r}) for a randomly initialised model."
        )
    return hub.load_folder(folder_or_file, spec=spec, overrides=overrides)

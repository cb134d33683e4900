"""Loading a hub folder: verify its checksums, rebuild its architecture (:func:`rebuild`, the one
way every loading path does it) and load its weights, naming the layer when they do not fit."""
from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topdown_zoo.checks import check_config_limits
from topdown_zoo.errors import HubError, TopdownZooError, WeightsNotAvailableError
from topdown_zoo.hub import pins
from topdown_zoo.hub.layout import CONFIG, METADATA, WEIGHTS
from topdown_zoo.hub.manifest import verify
from topdown_zoo.hub.resolving import PUBLISHED_SOURCES, hub_folder_of, resolve_source

if TYPE_CHECKING:
    import keras

    from topdown_zoo.registry import ModelSpec

#: keys of a zoo model's Keras config that record its identity, not its architecture
_IDENTITY_KEYS = ("registry_name", "registry_overrides")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise HubError(f"{path} cannot be read as JSON: {err}") from err
    if not isinstance(data, dict):
        raise HubError(f"{path} holds no JSON object")
    return data


def read_config(folder: str | Path) -> dict[str, Any]:
    """What a hub folder (or a run directory) records about its model, as one dict: the zoo's
    fields (``registry_name``, ``overrides``, ``input_shape``, ``preprocessing`` …) and the model's
    Keras config under ``keras_config``.

    Format 2 folders keep Keras's own ``config.json`` (what ``keras.saving.load_model`` reads) and
    the zoo's fields in ``metadata.json["topdown_zoo"]``; format 1 folders kept both in
    ``config.json``.
    """
    folder = Path(folder)
    config = _read_json(folder / CONFIG)
    if "format" in config:  # format 1
        return config
    metadata = _read_json(folder / METADATA) if (folder / METADATA).is_file() else {}
    zoo = dict(metadata.get("topdown_zoo") or {})
    if not zoo:  # a plain Keras folder (keras.saving.save_model(..., zipped=False))
        inner = config.get("config") or {}
        zoo = {"registry_name": inner.get("registry_name"), "overrides": inner.get("registry_overrides") or {},
               "input_shape": ((config.get("build_config") or {}).get("input_shape") or [None])[1:] or None}
    return {**zoo, "keras_config": config}


def rebuild(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *,
            spec: ModelSpec | None = None, source: str | Path = CONFIG) -> keras.Model:
    """The (built, untrained) architecture that a hub folder's ``config.json`` records.

    When ``spec`` is given, or the recorded ``registry_name`` is registered here, the model is
    built from the registry with the recorded overrides and then ``overrides`` (so folders
    packaged by older versions keep loading). Otherwise the Keras config saved in ``config``
    (``keras_config``) is deserialised in safe mode, with ``overrides`` applied to it; nothing
    in it is executed. ``source`` names the file in error messages.
    """
    from topdown_zoo.registry import all_specs

    overrides = dict(overrides or {})
    recorded = config.get("registry_name")
    if spec is None and recorded and recorded in all_specs():
        spec = all_specs()[recorded]
    try:
        if spec is not None:
            from topdown_zoo.api import build_from_spec

            return build_from_spec(spec, {**(config.get("overrides") or {}), **overrides})
        return _from_keras_config(config, overrides, source)
    except TopdownZooError:
        raise
    except Exception as err:  # a config the registry or Keras cannot build
        raise HubError(f"cannot rebuild the architecture recorded in {source}: {err}") from err


def _from_keras_config(config: Mapping[str, Any], overrides: Mapping[str, Any], source: str | Path) -> keras.Model:
    import keras

    from topdown_zoo.api import register_keras_classes

    register_keras_classes()  # safe mode deserialises registered classes only
    keras_config = config.get("keras_config")
    if not keras_config:
        raise HubError(f"{source} names no registered model and holds no keras_config; cannot rebuild")
    keras_config = json.loads(json.dumps(keras_config))  # a private copy
    inner = keras_config.setdefault("config", {})
    allowed = set(inner) - set(_IDENTITY_KEYS)
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise HubError(f"unknown config key(s) {', '.join(unknown)} for {config.get('model_class')}; "
                       f"allowed: {', '.join(sorted(allowed))}")
    inner.update(overrides)
    check_config_limits(inner, f"{source}: ")  # an untrusted config must not ask for 10⁹ steps or units
    if "registry_overrides" in inner:  # the model's identity records what changed
        inner["registry_overrides"] = {**(inner["registry_overrides"] or {}), **overrides}
    keras_config.pop("build_config", None)
    keras_config.pop("compile_config", None)
    model = keras.saving.deserialize_keras_object(keras_config, safe_mode=True)
    if not model.built:
        shape = config.get("input_shape")
        if not shape:
            raise HubError(f"{source} records no input_shape; cannot build the model")
        model.build((None, *shape))
    return model


def load_folder(folder_or_file: str | Path, spec: ModelSpec | None = None,
                overrides: Mapping[str, Any] | None = None, *, published: bool = False) -> keras.Model:
    """Rebuild the model of a hub folder (or a bare ``.weights.h5``) and load its weights.

    Every file listed in ``SHA256SUMS`` is verified first, then the files are checked against
    the sha256 pins of the package (:mod:`~topdown_zoo.hub.pins`): ``published=True`` says the
    folder was found where the entry's published weights are expected, so it must match them; an
    unpinned folder (a user's own run) loads with an ``UnpinnedWeightsWarning``. The architecture
    comes from :func:`rebuild` (the registry entry ``spec`` or the one recorded in
    ``config.json``, else the saved Keras config in safe mode). Weights are read from the
    ``.weights.h5`` file, which holds arrays only: nothing in the folder is executed.
    """
    path = Path(folder_or_file)
    if path.is_dir():
        verify(path)
        config = read_config(path)
        recorded = config.get("registry_name")
        if spec is not None and recorded and recorded != spec.name:
            raise HubError(f"{path} holds weights of {recorded!r}, not {spec.name!r}; "
                           f"load it with topdown_zoo.load({recorded!r}, weights={str(path)!r})")
        pins.check_folder(path, spec.name if spec is not None else recorded, published=published)
        model = rebuild(config, overrides, spec=spec, source=path / CONFIG)
        weights_file = path / WEIGHTS
    elif path.is_file():
        if spec is None:
            raise HubError(f"{path} is a bare weights file: give the model name (load(name, weights=...)) "
                           "so that the architecture can be rebuilt")
        if not path.name.endswith(".weights.h5"):
            raise HubError(f"{path} is not a .weights.h5 file or a hub folder")
        pins.check_weights_file(path, spec.name)
        model = rebuild({}, overrides, spec=spec, source=path)
        weights_file = path
    else:
        raise HubError(f"weights path {path} does not exist")
    load_weights_file(model, weights_file)
    return model


# ------------------------------------------------------------------------------ weights
def _h5_tree(path: Path) -> dict[str, tuple[int, ...]]:
    """``{dataset path: shape}`` of an HDF5 file; a HubError if it is not a readable HDF5 file."""
    import h5py

    tree: dict[str, tuple[int, ...]] = {}
    try:
        with h5py.File(path, "r") as handle:
            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    tree[name] = tuple(obj.shape)
                    obj[()]  # reads the data: a truncated file fails here, not half-way through loading
            handle.visititems(visit)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise HubError(f"{path} is not a readable Keras weights file (truncated or corrupt HDF5): {err}. "
                       "Download or copy it again.") from err
    return tree


def _expected_tree(model: keras.Model) -> dict[str, tuple[int, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "expected.weights.h5"
        model.save_weights(target)
        return _h5_tree(target)


def _layer_names_by_path(model: keras.Model) -> dict[str, str]:
    """Map the ``.weights.h5`` group path of each layer to the layer's own name (best effort: the
    walk follows Keras's saving code, whose internals may change; then the map is empty)."""
    try:
        from keras.src.saving import saving_lib
        from keras.src.utils import naming
    except ImportError:  # pragma: no cover
        return {}
    names: dict[str, str] = {}
    seen: set[int] = set()

    def walk(obj: Any, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if hasattr(obj, "name") and path:
            names[path] = obj.name
        for child_name, child in saving_lib._walk_saveable(obj):
            child_path = f"{path}/{child_name}" if path else child_name
            if isinstance(child, (list, dict, tuple)):
                values = child.values() if isinstance(child, dict) else child
                used: dict[str, int] = {}
                for item in values:
                    if not hasattr(item, "save_own_variables"):
                        continue
                    base = naming.to_snake_case(item.__class__.__name__)
                    count = used.get(base, 0)
                    used[base] = count + 1
                    walk(item, f"{child_path}/{base}" + (f"_{count}" if count else ""))
            elif hasattr(child, "save_own_variables"):
                walk(child, child_path)

    try:
        walk(model, "")
    except Exception:  # pragma: no cover - diagnostics only
        return {}
    return names


def _describe(h5_path: str, names: Mapping[str, str]) -> str:
    group = h5_path.rsplit("/vars/", 1)[0]
    layer = names.get(group)
    return f"layer {layer!r} ({h5_path})" if layer else h5_path


def load_weights_file(model: keras.Model, weights_file: str | Path) -> None:
    """Load a ``.weights.h5`` file into ``model``; a :class:`HubError` naming each layer whose
    variables are missing, extra or of another shape (or an unreadable file)."""
    weights_file = Path(weights_file)
    found = _h5_tree(weights_file)
    expected = _expected_tree(model)
    problems = []
    if found != expected:
        names = _layer_names_by_path(model)
        for key in sorted(set(expected) | set(found)):
            if key not in found:
                problems.append(f"{_describe(key, names)}: missing from the file (the model expects {expected[key]})")
            elif key not in expected:
                problems.append(f"{_describe(key, names)}: in the file {found[key]} but not in the model")
            elif found[key] != expected[key]:
                problems.append(f"{_describe(key, names)}: the file has shape {found[key]}, "
                                f"the model expects {expected[key]}")
    if not problems:
        try:
            model.load_weights(weights_file)
            return
        except Exception as err:  # Keras names the layer ("Layer 'gate' expected 2 variables ...")
            problems.append(str(err).strip().splitlines()[0] + " " + " ".join(str(err).split()[1:40]))
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    owner = getattr(model, "registry_name", None) or type(model).__name__
    raise HubError(f"the weights in {weights_file} do not fit the architecture of "
                   f"{owner} ({len(problems)} problem(s)): {shown}. "
                   "Were they trained with other config overrides (see the folder's config.json)?")


def load_weights_into(model: keras.Model, spec: ModelSpec, weights: str | Path = "pretrained", *,
                      skip_mismatch: bool = False) -> list[str]:
    """Load ``spec``'s trained weights (``"pretrained"``, resolved like :func:`topdown_zoo.load`) or
    those of a hub folder / run directory / ``.weights.h5`` file into an already built ``model``:
    the start of a fine-tuning run. Folders are sha256-verified first.

    With ``skip_mismatch=True`` the layers with a variable whose shape differs (e.g. a classifier
    head for another number of classes) keep their fresh initialisation; the return value names
    those layers. Without it, any mismatch is a :class:`HubError` naming the layers.
    """
    resolved = resolve_source(spec, weights=None if weights == "pretrained" else weights)
    if resolved is None:
        raise WeightsNotAvailableError(
            f"{spec.name} has no trained weights to start from (init.weights: pretrained); train them with "
            f"`topdown-zoo train recipes/{spec.recipe}` or set init.weights to a hub folder or .weights.h5 file")
    path = hub_folder_of(resolved[0])
    if path.is_dir():
        verify(path)
        recorded = read_config(path).get("registry_name")
        pins.check_folder(path, recorded or spec.name, published=resolved[1] in PUBLISHED_SOURCES)
        weights_file = path / WEIGHTS
    elif path.is_file() and path.name.endswith(".weights.h5"):
        pins.check_weights_file(path, None)  # any entry's published weights may start a fine-tuning run
        weights_file = path
    else:
        raise HubError(f"init weights {path} is neither a hub folder, a run directory nor a .weights.h5 file")
    if not skip_mismatch:
        load_weights_file(model, weights_file)
        return []
    found, expected = _h5_tree(weights_file), _expected_tree(model)
    names = _layer_names_by_path(model)
    groups = {key.rsplit("/vars/", 1)[0] for key in expected if found.get(key) != expected[key]}
    skipped = sorted(names.get(group, group) for group in groups)  # whole layers: Keras skips per layer
    with warnings.catch_warnings():  # Keras warns once per skipped layer; we report them together
        warnings.simplefilter("ignore")
        model.load_weights(weights_file, skip_mismatch=True)
    return skipped

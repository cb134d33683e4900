"""The hub module: package, verify, publish, resolve and load trained models.

A *hub folder* is the exact layout of a Hugging Face model repository (keras-hub's preset
folder, plus a few files of ours)::

    README.md           model card: YAML front matter (model-index with the measured metrics) + text
    config.json         enough to rebuild the architecture from the registry or from the file alone
    model.weights.h5    the weights (Keras 3 ``.weights.h5``; no code, no pickles)
    metadata.json       keras / tensorflow / topdown_zoo versions, parameter count, date
    metrics.json        what the training / evaluation run measured
    recipe.yaml         the recipe that produced the weights (when known)
    SHA256SUMS          ``<sha256>  <file>`` for every other file (``sha256sum -c SHA256SUMS`` works)

:func:`resolve` finds such a folder for a registry entry (explicit path > ``$TOPDOWN_ZOO_HUB``
mirror > folders shipped in the package > the Hugging Face Hub through its cache), and
:func:`load_folder` verifies every checksum before rebuilding the model and loading the weights.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from topdown_zoo.errors import HubError, TopdownZooError, WeightsNotAvailableError

MANIFEST = "SHA256SUMS"
WEIGHTS = "model.weights.h5"
CONFIG = "config.json"
METADATA = "metadata.json"
METRICS = "metrics.json"
CARD = "README.md"
RECIPE = "recipe.yaml"
FORMAT = "topdown_zoo-hub"
FORMAT_VERSION = 1
MIRROR_ENV = "TOPDOWN_ZOO_HUB"
_REQUIRED = (WEIGHTS, CONFIG, MANIFEST)


# ------------------------------------------------------------------------------ checksums
def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder/SHA256SUMS``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise HubError(f"{folder} has no {MANIFEST} manifest, so its files cannot be verified; "
                       "package it with topdown_zoo.hub.package(model, out_dir).")
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise HubError(f"{path}: line {number} is not '<sha256>  <file>': {line!r}")
        digest, name = parts[0].lower(), parts[1].strip().lstrip("*")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise HubError(f"{path}: refusing the file name {name!r} (outside the folder)")
        entries[name] = digest
    return entries


def write_manifest(folder: str | Path) -> dict[str, str]:
    """Write ``SHA256SUMS`` for every file in ``folder`` (except itself); returns the entries."""
    folder = Path(folder)
    entries = {p.relative_to(folder).as_posix(): sha256_file(p)
               for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text("".join(f"{digest}  {name}\n" for name, digest in entries.items()))
    return entries


def verify(folder: str | Path) -> dict[str, str]:
    """Check every file listed in the folder's ``SHA256SUMS``; returns ``{file: sha256}``.

    Raises :class:`HubError` for a missing manifest, a missing required file (``config.json``,
    ``model.weights.h5``), a listed file that is absent, or a hash that differs (naming the file,
    the expected and the actual hash).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder")
    entries = read_manifest(folder)
    for required in (WEIGHTS, CONFIG):
        if required not in entries:
            raise HubError(f"{folder / MANIFEST} does not list {required}; the folder is incomplete")
    for name, expected in entries.items():
        path = folder / name
        if not path.is_file():
            raise HubError(f"{path} is listed in {MANIFEST} but missing; download or copy the folder again")
        actual = sha256_file(path)
        if actual != expected:
            raise HubError(
                f"sha256 mismatch for {path}: {MANIFEST} expects {expected}, the file has {actual}. "
                "The file is corrupt, truncated or was changed after packaging; download it again."
            )
    return entries


# ------------------------------------------------------------------------------ packaging
def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _versions() -> dict[str, str]:
    import keras

    import topdown_zoo

    out = {"keras_version": keras.__version__, "topdown_zoo_version": topdown_zoo.__version__,
           "backend": keras.backend.backend()}
    try:
        import tensorflow as tf

        out["tensorflow_version"] = tf.__version__
    except ImportError:  # pragma: no cover - TensorFlow is a dependency
        pass
    return out


def _model_from_run_dir(run_dir: Path):
    """The trained model, recipe and metrics of a training run directory."""
    import yaml

    recipe = metrics = None
    if (run_dir / RECIPE).is_file():
        recipe = yaml.safe_load((run_dir / RECIPE).read_text())
    if (run_dir / METRICS).is_file():
        metrics = json.loads((run_dir / METRICS).read_text())
    if (run_dir / "model.keras").is_file():
        import keras

        import topdown_zoo  # noqa: F401  (registers the zoo's Keras classes)

        model = keras.models.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
        spec_name = (recipe or {}).get("model") or (metrics or {}).get("_run", {}).get("model")
        if spec_name:
            model._zoo_spec_name = spec_name
            model._zoo_overrides = dict((recipe or {}).get("overrides") or {})
    elif (run_dir / WEIGHTS).is_file() and (run_dir / CONFIG).is_file():
        model = load_folder(run_dir, _verify=False)
    else:
        raise HubError(f"{run_dir} holds neither model.keras nor {WEIGHTS} + {CONFIG}; "
                       "is it a training run directory (topdown-zoo train ... --out DIR)?")
    return model, recipe, metrics


def package(model_or_run_dir, out_dir: str | Path, *, metrics: Mapping[str, Any] | None = None,
            recipe: Mapping[str, Any] | None = None, spec_name: str | None = None) -> Path:
    """Write ``model_or_run_dir`` as a publishable hub folder at ``out_dir``; returns its path.

    Args:
        model_or_run_dir: a Keras model (one made by :func:`topdown_zoo.create` knows its registry
            name and overrides), or a training run directory (``model.keras`` or
            ``model.weights.h5`` + ``config.json``, with ``metrics.json`` and ``recipe.yaml``).
        out_dir: the folder to write; it must not exist yet (or be empty). Written in a temporary
            folder next to it and renamed at the end, so a failure never leaves half a folder.
        metrics: what training/evaluation measured (``metrics.json`` content); the card's
            results and model-index come only from here.
        recipe: the recipe dict that produced the weights.
        spec_name: the registry name, when the model does not carry ``_zoo_spec_name``.
    """
    from topdown_zoo import model_card
    from topdown_zoo.registry import get_spec

    if isinstance(model_or_run_dir, (str, Path)):
        model, run_recipe, run_metrics = _model_from_run_dir(Path(model_or_run_dir))
        recipe = recipe if recipe is not None else run_recipe
        metrics = metrics if metrics is not None else run_metrics
    else:
        model = model_or_run_dir
    spec_name = spec_name or getattr(model, "_zoo_spec_name", None) or (recipe or {}).get("model")
    spec = get_spec(spec_name) if spec_name else None
    overrides = dict(getattr(model, "_zoo_overrides", None) or (recipe or {}).get("overrides") or {})
    metrics = dict(metrics or {})

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise HubError(f"{out_dir} already exists and is not empty; remove it or pick another folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        import keras

        _weights_only(model).save_weights(tmp / WEIGHTS)
        input_shape = list(spec.input_shape) if spec else _input_shape_of(model)
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "registry_name": spec.name if spec else None,
            "overrides": overrides,
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "registered_name": keras.saving.get_registered_name(type(model)),
            "input_shape": input_shape,
            "input_dtype": spec.input_dtype if spec else "float32",
            "input_range": list(spec.input_range) if spec and spec.input_range else None,
            "preprocessing": dict(spec.preprocessing) if spec else {},
            "task": spec.task if spec else None,
            "keras_config": keras.saving.serialize_keras_object(model),
        }
        _dump_json(tmp / CONFIG, config)
        metadata = {
            **_versions(),
            "parameter_count": int(model.count_params()),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "registry_name": config["registry_name"],
            "dtype_policy": getattr(getattr(model, "dtype_policy", None), "name", None),
        }
        _dump_json(tmp / METADATA, metadata)
        _dump_json(tmp / METRICS, metrics)
        if recipe is not None:
            import yaml

            (tmp / RECIPE).write_text(yaml.safe_dump(dict(recipe), sort_keys=False))
        card = model_card.render(spec=spec, metrics=metrics, recipe=recipe, metadata=metadata,
                                 overrides=overrides, repo_id=spec.hf_repo_id if spec else None)
        (tmp / CARD).write_text(card)
        write_manifest(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700: a shipped or mirrored folder must be readable by all
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked above)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _weights_only(model):
    """A compiled model's ``save_weights`` also writes its optimizer's slots, which an uncompiled
    model cannot load. Return an uncompiled copy with the same weights (or the model itself)."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = type(model).from_config(model.get_config())
    copy.build_from_config(model.get_build_config())
    copy.set_weights(model.get_weights())
    for name in ("_zoo_spec_name", "_zoo_overrides"):
        if hasattr(model, name):
            setattr(copy, name, getattr(model, name))
    return copy


def _input_shape_of(model) -> list | None:
    try:
        shape = model.input_shape if not isinstance(model.input_shape, list) else model.input_shape[0]
        return list(shape[1:])
    except (AttributeError, ValueError, TypeError):
        build_config = model.get_build_config() if hasattr(model, "get_build_config") else None
        shape = (build_config or {}).get("input_shape")
        return list(shape[1:]) if shape else None


# ------------------------------------------------------------------------------ loading
def _read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise HubError(f"{folder / CONFIG} cannot be read as JSON: {err}") from err


def load_folder(folder_or_file, spec=None, overrides: Mapping[str, Any] | None = None, *, _verify: bool = True):
    """Rebuild the model of a hub folder (or a bare ``.weights.h5``) and load its weights.

    Every file listed in ``SHA256SUMS`` is verified first. The architecture comes from the
    registry (``spec`` + the folder's recorded overrides + ``overrides``) or, with ``spec=None``,
    from the registry name in ``config.json`` if it is registered, else from the Keras config saved
    in ``config.json`` (deserialised in safe mode). Weights are read from the ``.weights.h5`` file,
    which holds arrays only: nothing in the folder is executed.
    """
    from topdown_zoo.api import build_from_spec
    from topdown_zoo.registry import all_specs

    path = Path(folder_or_file)
    overrides = dict(overrides or {})
    if path.is_dir():
        if _verify:
            verify(path)
        config = _read_config(path)
        weights_file = path / WEIGHTS
        recorded = config.get("registry_name")
        if spec is not None and recorded and recorded != spec.name:
            raise HubError(f"{path} holds weights of {recorded!r}, not {spec.name!r}; "
                           f"load it with topdown_zoo.load({recorded!r}, weights={str(path)!r})")
        if spec is None and recorded and recorded in all_specs():
            spec = all_specs()[recorded]
        merged = {**(config.get("overrides") or {}), **overrides}
        try:
            if spec is not None:
                model = build_from_spec(spec, merged)
            else:
                model = _build_from_keras_config(config, overrides, path)
        except HubError:
            raise
        except TopdownZooError:
            raise
        except Exception as err:  # a config the registry or Keras cannot build
            raise HubError(f"cannot rebuild the architecture recorded in {path / CONFIG}: {err}") from err
    elif path.is_file():
        if spec is None:
            raise HubError(f"{path} is a bare weights file: give the model name (load(name, weights=...)) "
                           "so that the architecture can be rebuilt")
        if not path.name.endswith(".weights.h5"):
            raise HubError(f"{path} is not a .weights.h5 file or a hub folder")
        model = build_from_spec(spec, overrides)
        weights_file = path
    else:
        raise HubError(f"weights path {path} does not exist")
    _load_weights_checked(model, weights_file)
    if spec is not None:
        model._zoo_spec_name = spec.name
        model._zoo_overrides = merged if path.is_dir() else overrides
    return model


def _build_from_keras_config(config: dict, overrides: Mapping[str, Any], folder: Path):
    import keras

    import topdown_zoo  # noqa: F401  (registers the zoo's Keras classes)

    keras_config = config.get("keras_config")
    if not keras_config:
        raise HubError(f"{folder / CONFIG} names no registered model and holds no keras_config; cannot rebuild")
    keras_config = json.loads(json.dumps(keras_config))  # a private copy
    inner = keras_config.setdefault("config", {})
    unknown = sorted(set(overrides) - set(inner))
    if unknown:
        raise HubError(f"unknown config key(s) {', '.join(unknown)} for {config.get('model_class')}; "
                       f"allowed: {', '.join(sorted(inner))}")
    inner.update(overrides)
    keras_config.pop("build_config", None)
    keras_config.pop("compile_config", None)
    with keras.saving.custom_object_scope({}):
        model = keras.saving.deserialize_keras_object(keras_config, safe_mode=True)
    if not model.built:
        shape = config.get("input_shape")
        if not shape:
            raise HubError(f"{folder / CONFIG} records no input_shape; cannot build the model")
        model.build((None, *shape))
    return model


def _h5_tree(path: Path) -> dict[str, tuple]:
    """``{dataset path: shape}`` of an HDF5 file; a HubError if it is not a readable HDF5 file."""
    import h5py

    tree: dict[str, tuple] = {}
    try:
        with h5py.File(path, "r") as handle:
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    tree[name] = tuple(obj.shape)
                    obj[()]  # reads the data: a truncated file fails here, not half-way through loading
            handle.visititems(visit)
    except (OSError, KeyError, ValueError, RuntimeError) as err:
        raise HubError(f"{path} is not a readable Keras weights file (truncated or corrupt HDF5): {err}. "
                       "Download or copy it again.") from err
    return tree


def _expected_tree(model) -> dict[str, tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "expected.weights.h5"
        model.save_weights(target)
        return _h5_tree(target)


def _layer_names_by_path(model) -> dict[str, str]:
    """Map the ``.weights.h5`` group path of each layer to the layer's own name (best effort: the
    walk follows Keras's saving code, whose internals may change; then the map is empty)."""
    try:
        from keras.src.saving import saving_lib
        from keras.src.utils import naming
    except ImportError:  # pragma: no cover
        return {}
    names: dict[str, str] = {}
    seen: set[int] = set()

    def walk(obj, path):
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


def _load_weights_checked(model, weights_file: Path) -> None:
    """Load ``weights_file`` into ``model``; a HubError naming the layer if they do not fit."""
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
    raise HubError(f"the weights in {weights_file} do not fit the architecture of "
                   f"{getattr(model, '_zoo_spec_name', type(model).__name__)} ({len(problems)} problem(s)): {shown}. "
                   "Were they trained with other config overrides (see the folder's config.json)?")


def load_weights_into(model, spec, weights: str | Path = "pretrained", *, skip_mismatch: bool = False) -> list[str]:
    """Load ``spec``'s trained weights (``"pretrained"``, resolved like :func:`topdown_zoo.load`) or
    those of a hub folder / run directory / ``.weights.h5`` file into an already built ``model``:
    the start of a fine-tuning run. Folders are sha256-verified first.

    With ``skip_mismatch=True`` the layers with a variable whose shape differs (e.g. a classifier
    head for another number of classes) keep their fresh initialisation; the return value names
    those layers.
    Without it, any mismatch is a :class:`HubError` naming the layers.
    """
    path = resolve(spec, weights=None if weights == "pretrained" else weights)
    if path is None:
        raise WeightsNotAvailableError(
            f"{spec.name} has no trained weights to start from (init.weights: pretrained); train them with "
            f"`topdown-zoo train recipes/{spec.recipe}` or set init.weights to a hub folder or .weights.h5 file")
    path = hub_folder_of(path)
    if path.is_dir():
        verify(path)
        weights_file = path / WEIGHTS
    elif path.is_file() and path.name.endswith(".weights.h5"):
        weights_file = path
    else:
        raise HubError(f"init weights {path} is neither a hub folder, a run directory nor a .weights.h5 file")
    if not skip_mismatch:
        _load_weights_checked(model, weights_file)
        return []
    found, expected = _h5_tree(weights_file), _expected_tree(model)
    names = _layer_names_by_path(model)
    groups = {key.rsplit("/vars/", 1)[0] for key in expected if found.get(key) != expected[key]}
    skipped = sorted(names.get(group, group) for group in groups)  # whole layers: Keras skips per layer
    import warnings

    with warnings.catch_warnings():  # Keras warns once per skipped layer; we report them together
        warnings.simplefilter("ignore")
        model.load_weights(weights_file, skip_mismatch=True)
    return skipped


# ------------------------------------------------------------------------------ resolution
def _is_hub_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / WEIGHTS).is_file()


def hub_folder_of(path: str | Path) -> Path:
    """``path`` itself, or ``path/hub`` for a training run directory (the runner writes its
    publishable folder there), so that a run directory can be loaded and published directly."""
    path = Path(path)
    if path.is_dir() and not (path / MANIFEST).is_file() and (path / "hub" / MANIFEST).is_file():
        return path / "hub"
    return path


def mirror_dir() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def _mirror_help(repo_id: str, revision: str | None, name: str | None = None) -> str:
    rev = f" --revision {revision}" if revision else ""
    name = name or repo_id.split("/")[-1]
    return (
        f"To use it offline, either (a) copy its hub folder to $TOPDOWN_ZOO_HUB/{name} (any folder; "
        f"`export {MIRROR_ENV}=/path/to/mirror`), or (b) on a connected machine run "
        f"`hf download {repo_id}{rev}` (older: `huggingface-cli download {repo_id}{rev}`) and copy its cache "
        "(~/.cache/huggingface/hub, or $HF_HUB_CACHE) to this machine; or unset HF_HUB_OFFLINE "
        "on a machine with network access."
    )


def _download(repo_id: str, revision: str | None, name: str | None = None) -> Path:
    """Fetch the exact files of a hub folder at one revision; returns the snapshot folder."""
    import huggingface_hub as hf
    from huggingface_hub import errors as hf_errors

    def fail(err: Exception, what: str) -> HubError:
        offline = hf.constants.is_offline_mode()
        if isinstance(err, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled)):
            state = "HF_HUB_OFFLINE is set and" if offline else "the Hub cannot be reached and"
            return HubError(f"cannot get {what} of {repo_id} at revision {revision or 'main'}: {state} "
                            f"it is not in the Hugging Face cache. {_mirror_help(repo_id, revision, name)}")
        if isinstance(err, hf_errors.RevisionNotFoundError):
            return HubError(f"{repo_id} has no revision {revision!r} (a branch, tag or commit hash): {err}")
        if isinstance(err, hf_errors.RepositoryNotFoundError):
            return HubError(f"the Hugging Face repo {repo_id} does not exist or is private (log in with `hf auth login`): {err}")
        if isinstance(err, hf_errors.EntryNotFoundError):
            return HubError(f"{repo_id} at revision {revision or 'main'} has no {what}; is it a topdown_zoo hub repo?")
        return HubError(f"cannot download {what} of {repo_id}: {err}. {_mirror_help(repo_id, revision, name)}")

    try:
        manifest = Path(hf.hf_hub_download(repo_id, MANIFEST, revision=revision, library_name="topdown_zoo"))
    except (hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
            hf_errors.EntryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.RepositoryNotFoundError,
            OSError, ValueError) as err:
        raise fail(err, MANIFEST) from err
    snapshot = manifest.parent
    commit = snapshot.name  # snapshots/<commit sha>/SHA256SUMS: fetch the rest at that exact commit
    for file_name in read_manifest(snapshot):
        try:
            hf.hf_hub_download(repo_id, file_name, revision=commit, library_name="topdown_zoo")
        except (hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
                hf_errors.EntryNotFoundError, OSError, ValueError) as err:
            raise fail(err, file_name) from err
    return snapshot


def resolve(spec, revision: str | None = None, weights: str | Path | None = None) -> Path | None:
    """Where the weights of ``spec`` are: a hub folder or a ``.weights.h5`` file, or None.

    Order: ``weights=`` (explicit path); ``$TOPDOWN_ZOO_HUB/<name>``; the folders shipped with the
    package (``hub/<name>``); the Hugging Face Hub (``spec.hf_repo_id`` at ``revision``, through its
    cache; honours ``HF_HUB_OFFLINE``). A ``revision`` skips the local copies, which carry none.
    Returns None when the model has no weights anywhere and no ``hf_repo_id``.
    """
    if weights is not None:
        path = hub_folder_of(Path(weights).expanduser())
        if path.is_dir():
            if not _is_hub_folder(path):
                raise HubError(f"{path} is not a hub folder (no {WEIGHTS}); "
                               "give a folder written by topdown_zoo.hub.package or a .weights.h5 file")
            return path
        if path.is_file():
            return path
        raise HubError(f"weights path {path} does not exist")
    if revision is None:
        mirror = mirror_dir()
        if mirror is not None and _is_hub_folder(mirror / spec.name):
            return mirror / spec.name
        from topdown_zoo.paths import shipped_hub_dir

        shipped = shipped_hub_dir() / spec.name
        if _is_hub_folder(shipped):
            return shipped
    if spec.hf_repo_id:
        return _download(spec.hf_repo_id, revision, spec.name)
    if revision is not None:
        raise HubError(f"{spec.name} has no Hugging Face repo (hf_repo_id), so revision={revision!r} "
                       "cannot be resolved; drop revision to use the local copies")
    return None


def resolve_hf_handle(handle: str, revision: str | None = None) -> Path:
    """The snapshot folder of an ``hf://org/name`` handle (optionally ``hf://org/name@revision``)."""
    if not handle.startswith("hf://"):
        raise HubError(f"{handle!r} is not an hf://org/name handle")
    repo_id = handle[len("hf://"):].strip("/")
    if "@" in repo_id:
        repo_id, _, at = repo_id.partition("@")
        revision = revision or at
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"{handle!r} is not an hf://org/name handle")
    return _download(repo_id, revision)


# ------------------------------------------------------------------------------ publishing
def publish(dir: str | Path, repo_id: str, revision: str | None = None, private: bool = False,
            dry_run: bool = False, *, token: str | None = None, commit_message: str | None = None):
    """Upload a hub folder to the Hugging Face repo ``repo_id`` (created if needed).

    ``dir`` is a hub folder, or a training run directory (its ``hub/`` folder is uploaded).
    The folder is verified first; files it holds that ``SHA256SUMS`` does not list are refused. The token comes from ``token=``, ``HF_TOKEN`` or the stored
    login (``hf auth login``); it is never printed or logged. ``dry_run=True`` prints and returns
    the files that would be uploaded (name, size, sha256) without any network access.
    Returns the commit URL.
    """
    folder = hub_folder_of(dir)
    entries = verify(folder)
    files = [(name, (folder / name).stat().st_size, digest) for name, digest in entries.items()]
    files.append((MANIFEST, (folder / MANIFEST).stat().st_size, sha256_file(folder / MANIFEST)))
    extra = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.relative_to(folder).as_posix() not in entries and p.name != MANIFEST)
    if extra:
        raise HubError(f"{folder} holds files that {MANIFEST} does not list ({', '.join(extra)}); "
                       "re-package the folder so that every uploaded file is verifiable")
    target = f"{repo_id}" + (f"@{revision}" if revision else "")
    if dry_run:
        lines = [f"would upload {len(files)} files to https://huggingface.co/{target}"
                 + (" (private)" if private else "") + ":"]
        lines += [f"  {name}  {size} bytes  sha256 {digest}" for name, size, digest in files]
        print("\n".join(lines))
        return {"repo_id": repo_id, "revision": revision, "private": private,
                "files": [{"path": n, "size": s, "sha256": d} for n, s, d in files]}

    import huggingface_hub as hf

    token = token or hf.get_token()
    if not token:
        raise HubError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (a token with write access) "
                       f"to publish to {repo_id}; nothing was uploaded")
    api = hf.HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision, repo_type="model",
                                   allow_patterns=[name for name, _, _ in files],
                                   commit_message=commit_message or f"Upload {folder.name} with topdown_zoo")
    except Exception as err:
        message = str(err).replace(token, "***")  # never echo the token
        raise HubError(f"publishing {folder} to {repo_id} failed: {message}") from None
    return str(getattr(commit, "commit_url", None) or commit)

"""Writing an artifact: TensorFlow traces the exported function (``keras.export.ExportArchive``)
into a SavedModel, or tf2onnx converts the traced function to ONNX. Both need the TensorFlow Keras
backend in this process (``export`` runs them in a TensorFlow subprocess for a model made on another
backend, see :mod:`topdown_zoo.exporting._worker`). An artifact is written to a temporary path and
moved into place (:func:`topdown_zoo.atomic.commit`) only once its check passed; anything at the target
but an earlier export is refused unless ``force`` (:func:`check_target`)."""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from topdown_zoo import atomic
from topdown_zoo.errors import BackendError, ExportError
from topdown_zoo.exporting.onnx_graph import (
    basic_optimized,
    bind_captured_constants,
    fix_negative_conv_transpose_pads,
    name_outputs,
    onnx_opset,
    standard_nearest_resize,
)
from topdown_zoo.exporting.signature import InputSignature, forward_fn

FORMATS = ("onnx", "saved_model")
METADATA_KEY = "topdown_zoo"
SAVED_MODEL_METADATA = Path("assets.extra") / "topdown_zoo.json"
#: the class names of a SavedModel's outputs, one a line in label-id order (where the entry names them)
SAVED_MODEL_CLASS_NAMES = Path("assets.extra") / "class_names.txt"
#: the pip package behind each module an export needs
_PIP_NAMES = {"tensorflow": "tensorflow", "tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"}


def check_option(what: str, value: Any, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else an :class:`ExportError` listing them."""
    if value not in allowed:
        raise ExportError(f"{what}={value!r} is not allowed; use one of: {', '.join(repr(a) for a in allowed)}")
    return str(value)


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError, AttributeError):  # e.g. sys.modules[module] = None
        return False


def require_tools(fmt: str, check: bool) -> None:
    """Raise :class:`BackendError` naming the fix when a package the export needs is missing."""
    needed = ["tensorflow"] + (["tf2onnx", "onnx"] if fmt == "onnx" else [])
    if check and fmt == "onnx":
        needed.append("onnxruntime")
    missing = [m for m in needed if not _importable(m)]
    if missing:
        raise BackendError(
            f"exporting to {fmt} needs {', '.join(missing)} (TensorFlow traces the model for tf2onnx and "
            f"SavedModel, whatever the Keras backend): pip install {' '.join(_PIP_NAMES[m] for m in missing)}")


def write_artifact(model: Any, signature: InputSignature, outputs: str, fmt: str, path: Path, opset: int | None,
                   metadata: dict[str, Any]) -> None:
    """Trace ``model`` (TensorFlow backend) and write it to ``path`` as ONNX or a SavedModel."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise BackendError(f"writing a {fmt} artifact needs the tensorflow Keras backend, this process runs "
                           f"{keras.backend.backend()}; use topdown_zoo.export(), which runs it in a subprocess")
    forward = forward_fn(model, signature, outputs, loops=metadata["loops"])
    if fmt == "onnx":
        _write_onnx(model, forward, signature, path, opset, metadata)
    else:
        _write_saved_model(model, forward, signature, path, metadata)


def _archive(model: Any, forward: Callable[..., Any], signature: InputSignature) -> Any:
    from keras.export import ExportArchive

    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", forward, input_signature=signature.tensor_specs())
    return archive


def _write_saved_model(model: Any, forward: Callable[..., Any], signature: InputSignature, path: Path,
                       metadata: dict[str, Any]) -> None:
    archive = _archive(model, forward, signature)
    _quietly(archive.write_out, str(path), verbose=False)
    (path / SAVED_MODEL_METADATA).parent.mkdir(parents=True, exist_ok=True)
    (path / SAVED_MODEL_METADATA).write_text(json.dumps(metadata, indent=2, default=str))
    if metadata.get("class_names"):
        (path / SAVED_MODEL_CLASS_NAMES).write_text("".join(f"{n}\n" for n in metadata["class_names"]))


def _write_onnx(model: Any, forward: Callable[..., Any], signature: InputSignature, path: Path, opset: int | None,
                metadata: dict[str, Any]) -> None:
    import onnx
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    archive = _archive(model, forward, signature)
    archive._filter_and_track_resources()
    concrete = archive._get_concrete_fn("serve")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()  # numpy 2 compatibility, as Keras's own ONNX export does
    try:
        proto, _ = _quietly(tf2onnx.convert.from_function, concrete, input_signature=signature.tensor_specs(),
                            opset=opset)
    except Exception as err:  # noqa: BLE001 - tf2onnx raises plain exceptions
        raise ExportError(f"tf2onnx could not convert {metadata['model']}: {type(err).__name__}: {err}") from err
    traced = concrete.get_concrete_function() if hasattr(concrete, "get_concrete_function") else concrete
    name_outputs(proto, traced)
    fix_negative_conv_transpose_pads(proto.graph, onnx_opset(proto))
    stray = bind_captured_constants(proto, traced, signature.names)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, default=str)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        first = str(err).strip().splitlines()[0]
        raise ExportError(
            f"the ONNX graph of {metadata['model']} is not valid ONNX: {first} (tf2onnx 1.17 cannot convert this "
            "TensorFlow op, e.g. random sampling at inference time); use format='saved_model'"
        ) from err
    if stray:
        raise ExportError(
            f"tf2onnx left tensors of {metadata['model']} unconnected (graph inputs {', '.join(stray)}) that are "
            "neither the model's inputs nor constants it captures; use format='saved_model'"
        )
    standard_nearest_resize(proto.graph)
    proto, _ = basic_optimized(proto)  # layout transpose pairs cancelled, constants folded
    onnx.save(proto, str(path))


# ------------------------------------------------------------------------------ files
def is_export(path: Path, fmt: str) -> bool:
    """Whether ``path`` holds an artifact written by :func:`topdown_zoo.export` in ``fmt``."""
    if fmt == "saved_model":
        return path.is_dir() and (path / "saved_model.pb").is_file() and (path / SAVED_MODEL_METADATA).is_file()
    if not path.is_file():
        return False
    try:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - not ONNX (or unreadable): not ours
        return False
    return any(entry.key == METADATA_KEY for entry in proto.metadata_props)


def check_target(path: Path, fmt: str, force: bool) -> None:
    """Refuse to replace anything at ``path`` but an earlier export (or an empty folder) unless ``force``.

    Also cleans what killed exports to ``path`` left beside it (see :mod:`topdown_zoo.atomic`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ExportError(f"cannot write {str(path)!r}: its folder cannot be created ({err.strerror or err})") from None
    atomic.clean_leftovers(path)
    if force or not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return
    if is_export(path, fmt):
        return
    what = "folder" if path.is_dir() else "file"
    raise ExportError(f"{str(path)!r} already exists and is not a {fmt} export of topdown_zoo; refusing to replace "
                      f"this {what} (pass force=True, or --force in the CLI, to replace it, or choose another path)")


def _quietly(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` with TensorFlow / tf2onnx's INFO logging turned down."""
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        return fn(*args, **kwargs)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)

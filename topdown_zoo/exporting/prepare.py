"""The model that is exported: a zoo model resolved from a name or given, as a float32 copy when it
runs in mixed precision, with another step count when asked — each copy made by the contract's
``model.with_config(...)`` (same weights) — and the metadata the artifact records."""
from __future__ import annotations

import os
import warnings
from typing import Any

from topdown_zoo.checks import check_steps
from topdown_zoo.errors import ExportError, TopdownZooError


def resolve_model(model: Any) -> Any:
    """A built zoo model: ``model`` itself, or the registry entry it names (trained weights through
    :func:`topdown_zoo.load`; random weights and a warning where none are published)."""
    if isinstance(model, (str, os.PathLike)):
        import topdown_zoo
        from topdown_zoo.errors import WeightsNotAvailableError

        name = str(model)
        try:
            return topdown_zoo.load(name)
        except WeightsNotAvailableError:
            warnings.warn(f"{name} has no trained weights; exporting a randomly initialised model", stacklevel=4)
            return topdown_zoo.create(name)
    import keras

    from topdown_zoo.models.base import ZooModel

    if not isinstance(model, ZooModel):
        if isinstance(model, keras.Model):
            raise ExportError(
                f"{type(model).__name__} is a keras.Model but not a zoo model: export() takes a model built by "
                "topdown_zoo (a ZooModel subclass, see docs/contributing-a-family.md) or a registry name; "
                "for other Keras models use model.export(path, format='onnx')")
        raise ExportError(f"export() takes a zoo model or a registry name, got {type(model).__name__}")
    if not model.built:
        raise ExportError(f"{type(model).__name__} is not built: build or call it once before exporting")
    return model


def model_name(model: Any) -> str:
    """The registry name of ``model``, or its class name for a model built by hand."""
    return model.registry_name or type(model).__name__


def registry_spec(model: Any) -> Any:
    """The registry entry ``model`` was built from (input range, preprocessing), or ``None``."""
    if getattr(model, "registry_name", None) is None:
        return None
    from topdown_zoo.registry import get_spec

    try:
        return get_spec(model.registry_name)
    except TopdownZooError:
        return None


def _copy(model: Any, what: str, **changes: Any) -> Any:
    """``model.with_config(**changes)``, failures as :class:`ExportError` naming ``what``."""
    try:
        return model.with_config(**changes)
    except TopdownZooError as err:
        raise ExportError(f"{model_name(model)} does not accept {what}: {err}") from err
    except Exception as err:  # noqa: BLE001 - a family whose rebuild fails in its own way
        raise ExportError(f"cannot rebuild {model_name(model)} with {what}: {type(err).__name__}: {err}") from err


def float32_copy(model: Any) -> Any:
    """``model`` itself, or a float32 copy with its weights when it runs in mixed precision (ONNX
    Runtime on CPU rejects bfloat16 graphs)."""
    policy = getattr(model.dtype_policy, "name", "float32")
    if policy == "float32":
        return model
    copy = _copy(model, f"a float32 copy of its {policy} policy", dtype="float32")
    if copy is None:
        raise ExportError(f"the float32 copy of {model_name(model)} ({policy}) has different weights")
    return copy


def iteration_key(model: Any) -> str | None:
    """The config key holding the step count (``model.step_key``), or ``None`` for a one-pass model."""
    key: str | None = model.step_key
    return key


def with_iterations(model: Any, iterations: int | None) -> Any:
    """``model`` itself, or a copy with ``iterations`` steps and the same weights."""
    if iterations is None:
        return model
    iterations = check_steps("iterations", iterations)
    key = model.step_key
    if key is None:
        raise ExportError(
            f"iterations={iterations} given, but {model_name(model)} has no number of refinement steps "
            "(it is a one-pass model); leave iterations out")
    new = _copy(model, f"{key}={iterations}", **{key: iterations})
    if new is None:
        raise ExportError(
            f"{model_name(model)} with {key}={iterations} has different weights than with {key}={model.num_steps} "
            "(per-step parameters): the trained weights do not fit it, so it cannot be exported with another "
            "iteration count")
    return new


def with_preprocessing(model: Any, preprocess: bool) -> Any:
    """``model`` itself, or (``preprocess``) the model behind its registry entry's per-pixel
    preprocessing as Keras layers, taking raw inputs (:mod:`topdown_zoo.preprocessing`)."""
    from topdown_zoo.preprocessing import Preprocessed, preprocessed

    if not preprocess or isinstance(model, Preprocessed):
        return model
    try:
        return preprocessed(model)
    except TopdownZooError as err:
        raise ExportError(f"cannot export {model_name(model)} with preprocess=True: {err}") from err


def metadata(model: Any, signature: Any, outputs: str, iterations: int | None, loops: str = "unrolled",
             ) -> dict[str, Any]:
    """What the artifact records about the model: names, step count, how its loops were traced,
    inputs, input range, preprocessing (and whether the artifact applies it), class names."""
    import keras

    import topdown_zoo
    from topdown_zoo.data.class_names import model_class_names
    from topdown_zoo.preprocessing import Preprocessed

    spec = registry_spec(model)
    in_graph = isinstance(model, Preprocessed)
    input_range = list(spec.input_range) if spec is not None and spec.input_range else None
    return {
        "model": model_name(model),
        "class": type(model).__name__,
        "iteration_key": model.step_key,
        "iterations": model.num_steps if model.step_key else None,
        "iterations_override": iterations,
        "loops": loops,
        "inputs": signature.to_json(),
        "outputs": ["output", "steps"] if outputs == "steps" else ["output"],
        "prediction_kind": model.prediction_kind,
        "input_range": list(model.raw_range) if in_graph else input_range,
        "preprocessing": dict(spec.preprocessing) if spec is not None else {},
        # True: the artifact takes raw inputs and applies that preprocessing itself (preprocess=True)
        "preprocessing_in_artifact": in_graph,
        "class_names": model_class_names(model),
        "task": spec.task if spec is not None else None,
        "keras_backend": keras.backend.backend(),
        "topdown_zoo_version": topdown_zoo.__version__,
        "keras_version": keras.__version__,
    }

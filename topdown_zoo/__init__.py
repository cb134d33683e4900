"""topdown_zoo: a Keras 3 model zoo of neural networks with top-down feedback.

>>> import topdown_zoo as tz
>>> tz.list_models("cbl-*")
>>> model = tz.load("cbl-cnn-mnist5k")
>>> steps = model.step_outputs(x)          # [y(0), ..., y(T)]

``import topdown_zoo`` is light: it imports neither Keras nor TensorFlow nor any family (the
registry reads only the families' ``presets.py``). Keras is imported when a model is created or
loaded; the contract's classes (``ZooModel``, ``InputSpec``, ``Prediction``) are imported on
first access.
"""
from __future__ import annotations

import importlib as _importlib
import os as _os
from typing import Any

# TensorFlow's C++ runtime logs (oneDNN notes, CPU feature hints) are dropped unless the user asked
# for them; see topdown_zoo.api.quiet_import for the banners printed before logging is set up.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from topdown_zoo.api import create, load, register_keras_classes  # noqa: E402
from topdown_zoo.errors import (  # noqa: E402
    BackendError,
    ConfigError,
    DatasetError,
    ExportError,
    ExportParityError,
    HubError,
    InputSpecError,
    RecipeError,
    TopdownZooError,
    TrainingError,
    UnknownModelError,
    WeightsNotAvailableError,
)
from topdown_zoo.registry import ModelSpec, get_spec, list_models  # noqa: E402

__version__ = "0.1.0"

# keras.saving.load_model(zoo folder or "hf://…") finds the zoo's classes once Keras is imported.
from topdown_zoo import keras_hook as _keras_hook  # noqa: E402

_keras_hook.install()

#: public names that need Keras, imported on first access (PEP 562)
_LAZY = {"ZooModel": "topdown_zoo.models.base", "InputSpec": "topdown_zoo.models.base",
         "Prediction": "topdown_zoo.models.base", "add_feedback": "topdown_zoo.models.cbl.wrap"}
#: sub-packages reachable as attributes without an import of their own (``topdown_zoo.hub.load_folder``)
_SUBMODULES = {"data", "evaluation", "exporting", "hub", "layers", "learning", "model_card", "models", "recipe",
               "training"}


def export(model: Any, path: Any, **kwargs: Any) -> Any:
    """Export ``model`` to ONNX or a TensorFlow SavedModel with a parity check (see :mod:`topdown_zoo.exporting`)."""
    from topdown_zoo.exporting import export as _export

    return _export(model, path, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from topdown_zoo.api import quiet_import

        quiet_import("keras")
        return getattr(_importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return _importlib.import_module(f"topdown_zoo.{name}")
    raise AttributeError(f"module 'topdown_zoo' has no attribute {name!r}")


__all__ = [
    "BackendError", "ConfigError", "DatasetError", "ExportError", "ExportParityError", "HubError", "InputSpecError",
    "InputSpec", "ModelSpec", "Prediction", "RecipeError", "TopdownZooError", "TrainingError", "UnknownModelError",
    "WeightsNotAvailableError", "ZooModel", "__version__", "add_feedback", "create", "export", "get_spec", "list_models", "load",
    "register_keras_classes",
]

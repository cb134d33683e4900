"""topdown_zoo: a Keras 3 model zoo of neural networks with top-down feedback.

>>> import topdown_zoo as tz
>>> tz.list_models("cbl-*")
>>> model = tz.load("cbl-cnn-mnist5k")
>>> steps = model.refine(x)          # [y(0), ..., y(T)]
"""
from topdown_zoo.api import create, load
from topdown_zoo.errors import (
    DatasetError, HubError, InputSpecError, RecipeError, TopdownZooError, UnknownModelError, WeightsNotAvailableError,
)
from topdown_zoo.registry import ModelSpec, get_spec, list_models

__version__ = "0.1.0"


def export(model, path, **kwargs):
    """Export ``model`` to ONNX or a TensorFlow SavedModel with a parity check (see :mod:`topdown_zoo.export`)."""
    from topdown_zoo.export import export as _export

    return _export(model, path, **kwargs)


__all__ = [
    "DatasetError", "HubError", "InputSpecError", "ModelSpec", "RecipeError", "TopdownZooError", "UnknownModelError",
    "WeightsNotAvailableError", "__version__", "create", "export", "get_spec", "list_models", "load",
]


def _register_keras_classes() -> None:
    """Import every family package so that its Keras classes are registered: after
    ``import topdown_zoo``, ``keras.models.load_model`` can rebuild any zoo model from a file."""
    import importlib
    import pkgutil

    import topdown_zoo.layers  # noqa: F401
    import topdown_zoo.models as models_pkg

    for info in pkgutil.iter_modules(models_pkg.__path__):
        if info.ispkg:
            importlib.import_module(f"topdown_zoo.models.{info.name}")
    from topdown_zoo.registry import all_specs

    for spec in all_specs().values():  # builders' modules define the model classes
        importlib.import_module(spec.builder.partition(":")[0])


_register_keras_classes()

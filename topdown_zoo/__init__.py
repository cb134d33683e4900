"""topdown_zoo: a Keras 3 model zoo of neural networks with top-down feedback.

>>> import topdown_zoo as tz
>>> tz.list_models("cbl-*")
>>> model = tz.load("cbl-cnn-mnist5k")
>>> steps = model.refine(x)          # [y(0), ..., y(T)]
"""
import os as _os

# TensorFlow's C++ runtime prints start-up banners (absl, oneDNN) on stderr while it is imported.
# Unless the user asked for them (TF_CPP_MIN_LOG_LEVEL < 2), import it with stderr silenced so
# that the CLI's one-line errors stay one line. Python-level warnings and errors are unaffected.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow_quietly() -> None:
    import sys

    if "tensorflow" in sys.modules or _os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") < "2":
        return
    saved, devnull = _os.dup(2), _os.open(_os.devnull, _os.O_WRONLY)
    try:
        sys.stderr.flush()
        _os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(devnull)


try:
    _import_tensorflow_quietly()
except OSError:  # no file descriptors to juggle (e.g. embedded interpreters)
    pass

from topdown_zoo.api import create, load  # noqa: E402
from topdown_zoo.errors import (  # noqa: E402
    DatasetError, HubError, InputSpecError, RecipeError, TopdownZooError, UnknownModelError, WeightsNotAvailableError,
)
from topdown_zoo.registry import ModelSpec, get_spec, list_models  # noqa: E402

__version__ = "0.1.0"


def export(model, path, **kwargs):
    """Export ``model`` to ONNX or a TensorFlow SavedModel with a parity check (see :mod:`topdown_zoo.exporting`)."""
    from topdown_zoo.exporting import export as _export

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

"""Register the zoo's Keras classes as soon as Keras is imported, without importing Keras here.

``keras.saving.load_model(folder)`` and ``keras.saving.load_model("hf://org/name")`` rebuild a zoo
model from its ``config.json`` only when the zoo's classes are registered with Keras. ``import
topdown_zoo`` stays light (no Keras, no TensorFlow), so registration is tied to Keras's own import:
if Keras is already imported, the classes are registered at once; otherwise a one-shot import hook
registers them right after ``import keras`` finishes.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any, Callable, Sequence


class _AfterImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: lets the other finders find ``name``, then runs ``callback`` after the
    module has executed."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader, callback = spec.loader, self.callback
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            callback()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _register() -> None:
    from topdown_zoo.api import register_keras_classes

    register_keras_classes()


def install() -> None:
    """Register now if Keras is imported, else once Keras is imported."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "saving"):
        _register()
    elif keras is None and not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport("keras", _register))

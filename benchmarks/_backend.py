"""``--backend`` for the benchmark scripts, and the per-backend pieces they time with.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so :func:`select_backend` reads
``--backend`` from the command line and sets the variable before any script imports keras.
:func:`compiled` compiles a function of tensors the way each backend runs inference fastest
here, as Keras's own ``jit_compile="auto"`` does on a CPU: ``tf.function`` (graph, no XLA) on
TensorFlow, ``jax.jit`` (XLA; the model's variables passed in as arguments, not baked in as
constants) on JAX, eager under ``torch.no_grad()`` on PyTorch.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """``--backend {tensorflow,jax,torch}`` (default: ``$KERAS_BACKEND`` or tensorflow)."""
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend (default: $KERAS_BACKEND or tensorflow)")


def select_backend(argv: Sequence[str] | None = None) -> str:
    """Set ``KERAS_BACKEND`` from ``--backend`` in ``argv`` (default ``sys.argv``) before keras
    is imported. Refuses a backend other than the one of an already imported keras."""
    parser = argparse.ArgumentParser(add_help=False)
    add_backend_argument(parser)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    backend = known.backend or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise SystemExit(f"keras is already imported with backend {current!r}; run this script in a "
                             f"fresh process to use --backend {backend}")
    os.environ["KERAS_BACKEND"] = backend
    if backend == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return backend


def version(package: str) -> str:
    """Installed version of ``package`` without importing it ("absent" when not installed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def backend_version(backend: str) -> str:
    """``keras 3.x, jax 0.y`` for the backend's package (tensorflow-cpu counts as tensorflow)."""
    package = backend
    if backend == "tensorflow" and version("tensorflow") == "absent":
        package = "tensorflow-cpu"
    return f"keras {version('keras')}, {backend} {version(package)}"


def to_numpy(out: Any) -> Any:
    """Every tensor of ``out`` as a NumPy array (waits for the computation to finish)."""
    import keras

    return keras.tree.map_structure(keras.ops.convert_to_numpy, out)


def compiled(fn: Callable[..., Any], variables: Sequence[Any] = ()) -> Callable[..., Any]:
    """``fn(*tensors)`` compiled for the current backend (see the module docstring); the result
    is returned as NumPy arrays so that a timed call includes the computation. ``variables``:
    the Keras variables ``fn`` reads (JAX passes their values as jit arguments)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        graph = tf.function(fn)
        return lambda *args: to_numpy(graph(*args))
    if backend == "jax":
        import jax

        variables = list(variables)

        def stateless(values: Sequence[Any], *args: Any) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        jitted = jax.jit(stateless)
        return lambda *args: to_numpy(jitted([v.value for v in variables], *args))
    import torch

    def no_grad(*args: Any) -> Any:
        with torch.no_grad():
            return to_numpy(fn(*args))

    return no_grad


def model_forward(model: Any) -> Callable[..., Any]:
    """``model(x, training=False)`` compiled by :func:`compiled` (NumPy in, NumPy out)."""
    import keras

    forward = compiled(lambda x: model(x, training=False), model.variables)
    return lambda x: forward(keras.tree.map_structure(keras.ops.convert_to_tensor, x))

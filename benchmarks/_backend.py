"""Keras-side pieces the benchmark factories time with, run inside a worker process of
``benchmarks/_harness.py`` (whose ``KERAS_BACKEND`` the harness set before keras was imported).

:func:`compiled` compiles a function of tensors the way each backend runs inference fastest
here, as Keras's own ``jit_compile="auto"`` does on a CPU: ``tf.function`` (graph, no XLA) on
TensorFlow, ``jax.jit`` (XLA; the model's variables passed in as arguments, not baked in as
constants) on JAX, eager under ``torch.no_grad()`` on PyTorch. Every timed call returns NumPy
values or Python floats, so it includes the computation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


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


def example_batch(model: Any, batch: int, binary: bool = False, seed: int = 0) -> Any:
    """``model.example_inputs(batch)`` as backend tensors, packed as the model takes them;
    ``binary``: pixels thresholded at 0.5 (the GNCN's binary images)."""
    import keras

    arrays = keras.tree.flatten(model.example_inputs(batch, seed=seed))
    if binary:
        arrays = [(a > 0.5).astype("float32") for a in arrays]
    return model.pack_inputs([keras.ops.convert_to_tensor(a) for a in arrays])


def example_labels(model: Any, batch: int, classes: int = 10, seed: int = 0) -> Any:
    """Random integer labels (None for a model that reconstructs its input)."""
    import keras
    import numpy as np

    if model.prediction_kind == "reconstruction":
        return None
    return keras.ops.convert_to_tensor(np.random.default_rng(seed).integers(0, classes, batch).astype("int32"))


def train_call(model: Any, x: Any, y: Any, learning_rate: float = 1e-3) -> Callable[[], Any]:
    """``model.train_on_batch(x, y)`` after ``model.compile_default(Adam(learning_rate))`` (the
    contract's compile, as ``fit`` uses it); the returned metrics are read back to the host."""
    import keras

    model.compile_default(keras.optimizers.Adam(learning_rate))
    return lambda: model.train_on_batch(x, y)


def forward_call(model: Any, x: Any) -> Callable[[], Any]:
    """``model(x, training=False)`` compiled by :func:`compiled`, NumPy out."""
    forward = compiled(lambda v: model(v, training=False), model.variables)
    return lambda: forward(x)


def facts(model: Any) -> dict[str, Any]:
    """Facts a factory reports about its model: backend, ``jit_compile`` (after compile), parameters."""
    import keras

    out: dict[str, Any] = {"backend": keras.backend.backend(), "params": int(model.count_params())}
    if getattr(model, "compiled", False):
        out["jit_compile"] = model.jit_compile
    return out


def zoo_call(model: str, kind: str, batch: int, overrides: dict[str, Any] | None = None, binary: bool = False,
             learning_rate: float = 1e-3) -> tuple[Callable[[], Any], dict[str, Any]]:
    """Factory (in a worker of ``benchmarks/_harness.py``): ``tz.create(model, **overrides)`` and one
    of its calls on ``example_batch(batch)``: ``kind`` "train" (:func:`train_call`, random labels),
    "infer" (:func:`forward_call`) or "predict" (``model.predict_on_batch``, Keras's compiled predict)."""
    import topdown_zoo as tz

    net = tz.create(model, **(overrides or {}))
    x = example_batch(net, batch, binary=binary)
    if kind == "train":
        call = train_call(net, x, example_labels(net, batch), learning_rate)
    elif kind == "infer":
        call = forward_call(net, x)
    elif kind == "predict":
        call = lambda: net.predict_on_batch(x)  # noqa: E731
    else:
        raise ValueError(f"kind must be train, infer or predict, got {kind!r}")
    return call, facts(net)

"""The active backend's autodiff, for tests that compare a local learning rule with the gradient
of the loss it should descend (the rules themselves never differentiate). Imports TensorFlow only
on the TensorFlow backend."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras


def value_and_grad(fn: Callable[[], tuple[Any, Any]], variables: Sequence[Any]) -> tuple[Any, Any, list[Any]]:
    """``fn() -> (value, aux)``; returns ``(value, aux, [∂value/∂v])`` as backend tensors, ``None``
    for a variable that ``fn`` does not read."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def f(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        (value, aux), grads = jax.value_and_grad(f, has_aux=True)([v.value for v in variables])
        return value, aux, list(grads)
    if backend == "torch":
        import torch

        value, aux = fn()
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
        return value.detach(), aux, list(grads)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value, aux = fn()
    return value, aux, list(tape.gradient(value, variables))


def to_numpy(x: Any) -> Any:
    """A backend tensor as a NumPy array (``None`` stays ``None``)."""
    import numpy as np

    return None if x is None else np.asarray(keras.ops.convert_to_numpy(x))

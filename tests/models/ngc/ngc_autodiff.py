"""Gradients of a scalar with respect to Keras variables on the active backend (test helper for
the "local update = −∂E/∂θ" checks; imports TensorFlow only on the TensorFlow backend)."""
import keras
import numpy as np


def gradients(fn, variables):
    """∂fn()/∂v for each keras.Variable ``v`` that ``fn`` reads, as NumPy arrays."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def f(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        grads = jax.grad(f)([v.value for v in variables])
    elif backend == "torch":
        import torch

        values = [v.value for v in variables]
        for t in values:
            t.requires_grad_(True)
        grads = torch.autograd.grad(fn(), values)
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = fn()
        grads = tape.gradient(out, [v.value for v in variables])
    return [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads]

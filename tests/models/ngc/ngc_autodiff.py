"""Gradients of a scalar with respect to Keras variables on the active backend (test helper for
the "local update = −∂E/∂θ" checks)."""
from autodiff import to_numpy, value_and_grad


def gradients(fn, variables):
    """∂fn()/∂v for each keras.Variable ``v`` that ``fn`` reads, as NumPy arrays."""
    _, _, grads = value_and_grad(lambda: (fn(), None), variables)
    return [to_numpy(g) for g in grads]

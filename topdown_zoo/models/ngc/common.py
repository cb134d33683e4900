"""Pieces the generative models share (GNCN, Conv-NGC and their autoencoder baselines):
activations by name, the step count with its deprecated alias, per-example reconstruction errors
in the evaluators' units, and the divergence check of :meth:`interpret`."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from keras import ops

from topdown_zoo.checks import check_choice, check_steps
from topdown_zoo.errors import InputSpecError, TopdownZooError
from topdown_zoo.models.base import Prediction, pop_deprecated_step_key

ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "relu": ops.relu, "identity": lambda v: v, "linear": lambda v: v, "tanh": ops.tanh,
    "sigmoid": ops.sigmoid, "leaky_relu": lambda v: ops.leaky_relu(v, 0.01)}
_EPS = 1e-7


def activation(name: str, key: str = "activation") -> Callable[[Any], Any]:
    """The activation function called ``name`` (a ConfigError names the allowed ones)."""
    return ACTIVATIONS[check_choice(key, name, ACTIVATIONS)]


def resolve_iterations(iterations: Any, steps: Any, owner: str) -> int:
    """T from ``iterations``, or from the deprecated ``steps`` when that is given (old configs,
    hub folders and overrides say ``steps``; the registry presets say ``iterations``, so an
    explicit ``steps`` is the caller's choice and wins). At most ``MAX_ITERATIONS``."""
    if steps is not None:
        iterations = pop_deprecated_step_key({"steps": steps}, owner)["iterations"]
    return check_steps("iterations", iterations)


def refuse_options(model: Any, options: Mapping[str, Any]) -> None:
    """:meth:`interpret` of these models takes no option."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise InputSpecError(f"{model.registry_name or type(model).__name__} takes no prediction option "
                             f"{', '.join(given)} (it predicts reconstructions)")


def bce_per_example(x: Any, x_hat: Any) -> np.ndarray:
    """Binary cross-entropy in nats summed over pixels, per example (the mean is the GNCN
    evaluator's ``bce``)."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    p = np.clip(np.asarray(x_hat, dtype="float64").reshape(len(x), -1), _EPS, 1 - _EPS)
    error: np.ndarray = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    return error


def mse_255_per_example(x: Any, x_hat: Any) -> np.ndarray:
    """Pixel MSE on the [0, 255] scale (Conv-NGC appendix eq. 4), per example (the mean is the
    image evaluator's ``mse``)."""
    a = np.clip(np.asarray(x, dtype="float64"), 0.0, 1.0).reshape(len(x), -1) * 255.0
    b = np.clip(np.asarray(x_hat, dtype="float64"), 0.0, 1.0).reshape(len(x), -1) * 255.0
    error: np.ndarray = np.mean((a - b) ** 2, axis=1)
    return error


def mse_per_example(x: Any, x_hat: Any) -> np.ndarray:
    """Mean squared error per example (Gaussian output)."""
    a = np.asarray(x, dtype="float64").reshape(len(x), -1)
    error: np.ndarray = np.mean((a - np.asarray(x_hat, dtype="float64").reshape(len(x), -1)) ** 2, axis=1)
    return error


def check_finite(owner: str, **values: Any) -> None:
    """A :class:`TopdownZooError` when settling diverged (NaN or ±inf in a state or the energy)."""
    for name, value in values.items():
        arr = np.asarray(value)
        if not np.all(np.isfinite(arr)):
            raise TopdownZooError(
                f"{owner}: the {name} is not finite (NaN or inf): the settling dynamics diverged. "
                "Use fewer iterations or a smaller beta, or check the weights and the input range.")


def reconstruction_prediction(owner: str, reconstruction: Any, error: np.ndarray,
                              energy: Any = None) -> Prediction:
    """The :class:`Prediction` of a generative model: per-example ``reconstruction_error`` (and
    ``energy`` after settling), the reconstructions as an array."""
    recon = np.asarray(ops.convert_to_numpy(reconstruction))
    columns = {"reconstruction_error": np.asarray(error, dtype="float64")}
    if energy is not None:
        columns["energy"] = np.asarray(ops.convert_to_numpy(energy), dtype="float64")
    check_finite(owner, reconstruction=recon, **columns)
    return Prediction(columns=columns, arrays={"reconstruction": recon})

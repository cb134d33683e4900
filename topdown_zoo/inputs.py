"""Checks on data handed to a model, with errors that say what was expected and how to fix it."""
from __future__ import annotations

import numpy as np

from topdown_zoo.errors import InputSpecError
from topdown_zoo.registry import ModelSpec


def validate_batch(x, spec: ModelSpec) -> np.ndarray:
    """Return ``x`` as an array if it is a valid batch for ``spec``, else raise :class:`InputSpecError`."""
    x = np.asarray(x)
    expected = tuple(spec.input_shape)
    if x.ndim == len(expected) and _shape_matches(x.shape, expected):
        raise InputSpecError(
            f"{spec.name} expects a batch of shape (batch, {', '.join(map(str, expected))}) but got {x.shape}: "
            "add a batch axis, e.g. x[None]"
        )
    if x.ndim != len(expected) + 1 or not _shape_matches(x.shape[1:], expected):
        raise InputSpecError(
            f"{spec.name} expects input of shape (batch, {', '.join(map(str, expected))}) but got {x.shape}"
            + _layout_hint(x.shape, expected)
        )
    if not np.issubdtype(x.dtype, np.floating):
        hint = " (scale uint8 images with x.astype('float32') / 255)" if x.dtype == np.uint8 else ""
        raise InputSpecError(f"{spec.name} expects {spec.input_dtype} input but got dtype {x.dtype}{hint}")
    if spec.input_range is not None and x.size:
        low, high = spec.input_range
        if float(x.min()) < low - 1e-6 or float(x.max()) > high + 1e-6:
            raise InputSpecError(
                f"{spec.name} expects values in [{low}, {high}] (preprocessing: {dict(spec.preprocessing).get('scale', 'see spec')}) "
                f"but got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]"
            )
    return x.astype(spec.input_dtype, copy=False)


def _shape_matches(shape, expected) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _layout_hint(shape, expected) -> str:
    if len(shape) == len(expected) + 1 and sorted(shape[1:]) == sorted(e for e in expected if e is not None):
        return " (channels-first? the zoo uses channels-last NHWC: np.moveaxis(x, 1, -1))"
    if len(shape) == len(expected) and len(expected) == 3 and expected[-1] == 1 and tuple(shape[1:]) == tuple(expected[:2]):
        return " (add the channel axis: x[..., None])"
    return ""

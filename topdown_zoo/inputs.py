"""Checks on data handed to a model, with errors that say what was expected and how to fix it."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from topdown_zoo.errors import InputSpecError
from topdown_zoo.registry import ModelSpec


def check_batch_layout(shape: Sequence[int], dtype: Any, spec: ModelSpec) -> None:
    """Raise :class:`InputSpecError` unless an array of ``shape`` and ``dtype`` is a non-empty batch
    for ``spec``'s input. Reads no values, so it suits memory-mapped files of any size."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    expected = tuple(spec.input_shape)
    wanted = f"(batch, {', '.join(map(str, expected))})"
    if len(shape) == len(expected) and _shape_matches(shape, expected):
        raise InputSpecError(f"{spec.name} expects a batch of shape {wanted} but got {shape}: add a batch axis, "
                             "e.g. x[None]")
    if len(shape) != len(expected) + 1 or not _shape_matches(shape[1:], expected):
        raise InputSpecError(f"{spec.name} expects input of shape {wanted} but got {shape}"
                             + _layout_hint(shape, expected))
    if shape[0] == 0:
        raise InputSpecError(f"{spec.name} got an empty batch (shape {shape}): give at least one example")
    if not np.issubdtype(dtype, np.floating):
        hint = " (scale uint8 images with x.astype('float32') / 255)" if dtype == np.uint8 else ""
        raise InputSpecError(f"{spec.name} expects {spec.input_dtype} input but got dtype {dtype}{hint}")


def validate_batch(x: Any, spec: ModelSpec) -> np.ndarray:
    """Return ``x`` as an array of ``spec.input_dtype`` if it is a valid batch for ``spec`` (shape,
    dtype and value range), else raise :class:`InputSpecError`."""
    x = np.asarray(x)
    check_batch_layout(x.shape, x.dtype, spec)
    x_min, x_max = float(x.min()), float(x.max())
    if not (np.isfinite(x_min) and np.isfinite(x_max)):
        raise InputSpecError(f"{spec.name} got NaN or infinite input values")
    if spec.input_range is not None:
        low, high = spec.input_range
        if x_min < low - 1e-6 or x_max > high + 1e-6:
            scale = dict(spec.preprocessing).get("scale", "see spec")
            raise InputSpecError(f"{spec.name} expects values in [{low}, {high}] (preprocessing: {scale}) "
                                 f"but got values in [{x_min:.3g}, {x_max:.3g}]")
    return x.astype(spec.input_dtype, copy=False)


def _shape_matches(shape: Sequence[int], expected: Sequence[int | None]) -> bool:
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _layout_hint(shape: Sequence[int], expected: Sequence[int | None]) -> str:
    if len(shape) == len(expected) + 1 and sorted(shape[1:]) == sorted(e for e in expected if e is not None):
        return " (channels-first? the zoo uses channels-last NHWC: np.moveaxis(x, 1, -1))"
    if len(shape) == len(expected) and len(expected) == 3 and expected[-1] == 1 and tuple(shape[1:]) == tuple(
            expected[:2]):
        return " (add the channel axis: x[..., None])"
    return ""

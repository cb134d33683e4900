"""What every picture shares: a figure without pyplot's global state (rendered by Agg), the
model's display name, examples as displayable images, probabilities from logits, batched calls.

Figures are :class:`matplotlib.figure.Figure` objects saved through the Agg canvas, so writing a
picture never switches the backend of a notebook or a GUI session that imported pyplot.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.errors import TopdownZooError

#: colours of a right / wrong answer in titles
RIGHT, WRONG = "#1a7f37", "#cf222e"
DPI = 110


def figure(width: float, height: float) -> Any:
    """A new figure of ``width`` × ``height`` inches, drawn by the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (white background)."""
    fig.savefig(path, dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.15)
    return path


def model_name(model: Any) -> str:
    """The registry name of ``model``, else its class name."""
    return str(model.registry_name or type(model).__name__)


def to_numpy(value: Any) -> np.ndarray:
    """A backend tensor (or array) as a NumPy array (every Keras backend)."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(value))


def batched(fn: Callable[[Any], Any], x: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """``fn`` over ``x`` in batches, the outputs concatenated as one NumPy array."""
    return np.concatenate([to_numpy(fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])


def image_input(model: Any, x: Any) -> np.ndarray:
    """The model's first float input (the image) of the batch ``x``, as NumPy."""
    arrays = model.unpack_inputs(x)
    for spec, value in zip(model.input_specs(), arrays):
        if not spec.dtype.startswith("int"):
            return np.asarray(to_numpy(value), dtype="float32")
    return np.asarray(to_numpy(arrays[0]), dtype="float32")


def displayable(images: np.ndarray) -> np.ndarray:
    """Images for ``imshow``: (N, H, W) grey or (N, H, W, 3) colour, clipped to [0, 1]. A flat
    vector whose length is a square (784 → 28 × 28) is shown as a square grey image."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise TopdownZooError(f"cannot show vectors of length {images.shape[1]} as square images")
        images = images.reshape(len(images), side, side)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return np.clip(images, 0.0, 1.0)


def show(ax: Any, image: np.ndarray, title: str | None = None, color: str | None = None, fontsize: float = 8) -> None:
    """Draw one displayable image without axes, with an optional coloured title."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize=fontsize, color=color or "black")


def row_label(ax: Any, text: str) -> None:
    """A label on the left of a row of images."""
    ax.set_ylabel(text, fontsize=9, rotation=90, labelpad=4)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits: softmax over the last axis, or the sigmoid of a single
    logit as the probability of class 1 (then shaped (..., 2): [p(0), p(1)])."""
    logits = np.asarray(logits, dtype="float64")
    if logits.shape[-1] == 1:
        p1 = 1.0 / (1.0 + np.exp(-logits))
        return np.concatenate([1.0 - p1, p1], axis=-1)
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def spread(count: int, total: int) -> list[int]:
    """``count`` indices spread evenly over ``range(total)`` (all of them when fewer)."""
    if total <= count:
        return list(range(total))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, count)})


def first_unique(values: Sequence[int], limit: int) -> list[int]:
    """The first ``limit`` distinct values, in order."""
    out: list[int] = []
    for v in values:
        if v not in out:
            out.append(int(v))
        if len(out) == limit:
            break
    return out

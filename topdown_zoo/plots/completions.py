"""``completions``: pattern completion (GNCN paper eq. 4). The right half of each test image is
hidden (as in the evaluator's ``masked_mse``); ``model.complete(x, mask)`` keeps the observed
pixels and fills in the rest. Rows: the image, what the model sees (the hidden half tinted),
the completion. Models that list ``completions`` in ``plot_kinds()`` have ``complete``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo import metrics_image as mi
from topdown_zoo.plots import figures as fg

COLUMNS = 8
HIDDEN = (0.85, 0.35, 0.35)  # the colour of hidden pixels in the "observed" row


def right_half_mask(example_shape: tuple[int, ...]) -> np.ndarray:
    """1 = observed, 0 = hidden: the right half of the (square) image, shaped like one example."""
    side_image = fg.displayable(np.zeros((1, *example_shape), "float32"))[0]
    mask = np.ones(side_image.shape[:2], "float32")
    mask[:, side_image.shape[1] // 2:] = 0.0
    if len(example_shape) == 3:
        mask = np.repeat(mask[..., None], example_shape[-1], axis=-1)
    return mask.reshape(1, *example_shape)


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    images = fg.image_input(model, x)
    batch = images[fg.spread(COLUMNS, len(images))]
    mask = right_half_mask(batch.shape[1:])
    filled = np.asarray(fg.to_numpy(model.complete(batch, mask)), dtype="float32").reshape(batch.shape)
    masks = np.broadcast_to(mask, batch.shape)
    shown, done = fg.displayable(batch), fg.displayable(filled)
    seen = _tinted(shown, fg.displayable(mask)[0])
    fig = fg.figure(1.25 * len(batch) + 0.6, 4.4)
    axes = fig.subplots(3, len(batch), squeeze=False)
    for c in range(len(batch)):
        fg.show(axes[0, c], shown[c])
        fg.show(axes[1, c], seen[c])
        err = mi.masked_mse(batch[c:c + 1], filled[c:c + 1], masks[c:c + 1])
        fg.show(axes[2, c], done[c], f"M-MSE {err:.1f}", fontsize=7)
    for r, name in enumerate(("image", "observed", "completed")):
        fg.row_label(axes[r, 0], name)
    fig.suptitle(f"{fg.model_name(model)}: completing the hidden right half (M-MSE: squared error summed "
                 f"over the hidden pixels; mean {mi.masked_mse(batch, filled, masks):.1f})", fontsize=10)
    return fg.save(fig, path)


def _tinted(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colour images in which the hidden pixels (mask 0) are drawn in :data:`HIDDEN`."""
    rgb = images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)
    hidden = (mask if mask.ndim == 2 else mask[..., 0]) < 0.5
    out = rgb.copy()
    out[:, hidden] = HIDDEN
    return out

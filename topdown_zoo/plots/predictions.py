"""``predictions``: test examples with the predicted label and its confidence (green when right,
red with the true label when wrong), then some of the model's mistakes among the examples given.
Uses the contract's :meth:`interpret` (columns ``label`` and ``confidence``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

COLUMNS = 8


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    """Row 1: examples spread over the batch; row 2: mistakes spread over it (when the labels are known)."""
    images = fg.displayable(fg.image_input(model, x))
    prediction = model.interpret(x)
    predicted = np.asarray(prediction.columns["label"]).reshape(len(images), -1)[:, 0]
    confidence = np.asarray(prediction.columns["confidence"], dtype="float64").reshape(len(images), -1)[:, 0]
    rows = [("test examples", fg.spread(COLUMNS, len(images)))]
    summary = ""
    if labels is not None:
        right = predicted == labels.reshape(-1)[:len(predicted)]
        summary = f" — {right.mean():.1%} right on these {len(right)} test examples"
        wrong = np.flatnonzero(~right)
        if len(wrong):
            rows.append(("mistakes", [int(wrong[i]) for i in fg.spread(COLUMNS, len(wrong))]))
    fig = fg.figure(1.25 * COLUMNS, 1.7 * len(rows) + 0.5)
    axes = fig.subplots(len(rows), COLUMNS, squeeze=False)
    for r, (name, picked) in enumerate(rows):
        for c in range(COLUMNS):
            ax = axes[r, c]
            if c >= len(picked):
                ax.set_axis_off()
                continue
            k = picked[c]
            title, color = f"{predicted[k]} ({confidence[k]:.2f})", None
            if labels is not None:
                ok = predicted[k] == labels[k]
                color = fg.RIGHT if ok else fg.WRONG
                title += "" if ok else f"\ntrue {labels[k]}"
            fg.show(ax, images[k], title, color)
        fg.row_label(axes[r, 0], name)
    fig.suptitle(f"{fg.model_name(model)}: predicted label (confidence){summary}", fontsize=10)
    return fg.save(fig, path)

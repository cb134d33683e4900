"""``settling``: the reconstruction after k settling steps (the contract's :meth:`step_outputs`:
the output before the first step and after every step) for a few test examples, and the mean
squared error between input and reconstruction after every step."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

EXAMPLES = 4
SHOWN_STEPS = 7
CURVE_EXAMPLES = 64


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path | None:
    images = fg.image_input(model, x)
    batch = images[fg.spread(CURVE_EXAMPLES, len(images))]
    steps = [np.asarray(fg.to_numpy(s), dtype="float32").reshape(batch.shape)
             for s in model.step_outputs(model.pack_inputs([batch]))]
    if len(steps) < 2:
        return None
    mse = [float(np.mean((s - batch) ** 2)) for s in steps]
    columns = fg.spread(SHOWN_STEPS, len(steps))
    rows = fg.spread(EXAMPLES, len(batch))
    fig = fg.figure(1.25 * (len(columns) + 1) + 3.6, 1.3 * len(rows) + 0.9)
    left, right = fig.subfigures(1, 2, width_ratios=[1.25 * (len(columns) + 1), 3.6])
    axes = left.subplots(len(rows), len(columns) + 1, squeeze=False)
    for r, k in enumerate(rows):
        fg.show(axes[r, 0], fg.displayable(batch[k:k + 1])[0], "input" if r == 0 else None)
        for c, t in enumerate(columns):
            fg.show(axes[r, c + 1], fg.displayable(steps[t][k:k + 1])[0], f"after {t} steps" if r == 0 else None)
    left.suptitle("the reconstruction while the states settle", fontsize=9)
    ax = right.subplots()
    ax.plot(range(len(steps)), mse, "-", color="C3")
    ax.set(xlabel="settling step", ylabel="mean squared error", yscale="log",
           title=f"input vs reconstruction\n({len(batch)} test examples)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"{fg.model_name(model)}: settling ({len(steps) - 1} steps)", fontsize=11)
    return fg.save(fig, path)

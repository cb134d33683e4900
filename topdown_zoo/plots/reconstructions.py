"""``reconstructions``: inputs, the model's reconstructions and their absolute difference, with
each example's ``reconstruction_error`` as ``topdown-zoo predict`` reports it (the contract's
:meth:`interpret`: column ``reconstruction_error``, array ``reconstruction``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

COLUMNS = 8


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    images = fg.image_input(model, x)
    picked = fg.spread(COLUMNS, len(images))
    batch = images[picked]
    prediction = model.interpret(model.pack_inputs([batch]))
    recon = np.asarray(prediction.arrays["reconstruction"], dtype="float32").reshape(batch.shape)
    error = np.asarray(prediction.columns["reconstruction_error"], dtype="float64")
    shown, rebuilt = fg.displayable(batch), fg.displayable(recon)
    diff = np.abs(shown - rebuilt)
    if diff.ndim == 4:
        diff = diff.mean(-1)  # colour images: the mean over channels
    top = max(0.05, float(diff.max()))  # the colour scale of the differences: up to the largest one shown
    fig = fg.figure(1.3 * len(picked) + 0.8, 4.6)
    axes = fig.subplots(3, len(picked), squeeze=False)
    for c in range(len(picked)):
        fg.show(axes[0, c], shown[c])
        fg.show(axes[1, c], rebuilt[c], f"error {error[c]:.3g}", fontsize=7)
        heat = axes[2, c].imshow(diff[c], cmap="magma", vmin=0.0, vmax=top, interpolation="nearest")
        axes[2, c].set_xticks([])
        axes[2, c].set_yticks([])
    for r, name in enumerate(("input", "reconstruction", "|difference|")):
        fg.row_label(axes[r, 0], name)
    fig.colorbar(heat, ax=axes[2, :], shrink=0.9, label="|difference| (pixels in [0, 1])")
    fig.suptitle(f"{fg.model_name(model)}: reconstructions of test examples (error: reconstruction_error "
                 "of `predict`)", fontsize=10)
    return fg.save(fig, path)

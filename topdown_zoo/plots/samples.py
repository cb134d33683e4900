"""``samples``: new images from the model. The top latents of the test examples given
(``model.encode``) are fitted with a Gaussian mixture (scikit-learn), latents drawn from it are
decoded top-down (``model.decode``: ancestral sampling, GNCN paper section 4.3). The evaluator
fits the same prior on the training split (``log_px``); a picture only needs a few components.
Models that list ``samples`` in ``plot_kinds()`` have ``encode`` and ``decode``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

ROWS, COLUMNS = 4, 10
COMPONENTS = 10


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    from sklearn.mixture import GaussianMixture

    images = fg.image_input(model, x)
    latents = fg.batched(model.encode, images).reshape(len(images), -1)
    k = max(1, min(COMPONENTS, len(latents) // 20))
    gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=0).fit(latents)
    z, _ = gmm.sample(ROWS * COLUMNS)
    drawn = fg.displayable(fg.to_numpy(model.decode(z.astype("float32"))).reshape(-1, *images.shape[1:]))
    fig = fg.figure(0.95 * COLUMNS, 0.95 * ROWS + 0.6)
    axes = fig.subplots(ROWS, COLUMNS, squeeze=False)
    for i, ax in enumerate(axes.flat):
        fg.show(ax, drawn[i])
    fig.suptitle(f"{fg.model_name(model)}: samples (decoded draws from a {k}-component Gaussian mixture\n"
                 f"fitted on the top latents of {len(latents)} test examples)", fontsize=10)
    return fg.save(fig, path)

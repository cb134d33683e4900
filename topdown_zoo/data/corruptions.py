"""Image corruptions for robustness measurements (:mod:`topdown_zoo.robustness`).

Every function takes a batch ``images`` (N, H, W, C) of floats in [0, 1], a level and a NumPy
``Generator``, and returns a new float32 batch in [0, 1]; the same generator state gives the
same result, so a corruption is fixed by its seed.

* :func:`occlude` — ``fraction`` of each image's pixels set to ``value`` (default 0: the ink
  there is erased), in 4×4-pixel blocks at random places; exactly ``round(fraction·H·W)``
  pixels per image are covered (the last block is partly filled to make the count exact).
* :func:`gaussian_noise` — ``x + sigma·N(0, 1)`` per pixel, clipped to [0, 1].
* :func:`debris` — ``fragments`` crops of other digits pasted over each image, the debris of
  :func:`topdown_zoo.data.digit_debris.add_debris` (Spoerer et al. 2017); the crops come from
  ``sources`` (default: the batch itself).
"""
from __future__ import annotations

import numpy as np

from topdown_zoo.checks import check_float, check_int
from topdown_zoo.data.digit_debris import add_debris
from topdown_zoo.errors import ConfigError

BLOCK = 4


def _as_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4:
        raise ConfigError(f"corruptions take a batch (N, H, W, C), got shape {images.shape}")
    return images


def occlusion_mask(height: int, width: int, fraction: float, rng: np.random.Generator,
                   block: int = BLOCK) -> np.ndarray:
    """A boolean (H, W) mask with exactly ``round(fraction·H·W)`` True pixels, in blocks."""
    fraction = check_float("occlusion fraction", fraction, low=0.0, high=1.0)
    count = int(round(fraction * height * width))
    mask = np.zeros((height, width), dtype=bool)
    rows, cols = -(-height // block), -(-width // block)
    covered = 0
    for cell in rng.permutation(rows * cols):
        if covered >= count:
            break
        r, c = divmod(int(cell), cols)
        ys, xs = np.mgrid[r * block:min((r + 1) * block, height), c * block:min((c + 1) * block, width)]
        take = min(ys.size, count - covered)
        mask[ys.ravel()[:take], xs.ravel()[:take]] = True
        covered += take
    return mask


def occlude(images: np.ndarray, fraction: float, rng: np.random.Generator, value: float = 0.0) -> np.ndarray:
    """``images`` with ``fraction`` of every image's pixels (one mask per image) set to ``value``."""
    out = _as_batch(images).copy()
    n, height, width = out.shape[:3]
    for i in range(n):
        out[i][occlusion_mask(height, width, fraction, rng)] = value
    return out


def gaussian_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``images + sigma·N(0, 1)``, clipped to [0, 1]."""
    sigma = check_float("noise sigma", sigma, low=0.0)
    images = _as_batch(images)
    noisy = images + sigma * rng.standard_normal(images.shape).astype("float32")
    return np.clip(noisy, 0.0, 1.0).astype("float32")


def debris(images: np.ndarray, fragments: float, rng: np.random.Generator,
           sources: np.ndarray | None = None) -> np.ndarray:
    """``images`` occluded by ``fragments`` digit crops each (digit debris), cut from ``sources``."""
    if float(fragments) != int(fragments):
        raise ConfigError(f"debris level must be a whole number of fragments, got {fragments!r}")
    fragments = check_int("debris fragments", int(fragments), low=0)
    images = _as_batch(images)
    return add_debris(images, images if sources is None else _as_batch(sources), fragments, rng)

"""Image and density metrics of the predictive-coding papers.

* ``mse_255``, ``psnr_255``: Conv-NGC appendix eqs. 4 and 6 on the [0, 255] scale (per channel,
  then averaged over channels and images).
* ``ssim_global_eq5``: Conv-NGC appendix eq. 5, a *global* statistic per image: one mean, variance
  and covariance over all the image's pixels (every channel), ``C₁ = (0.01 Q)²``, ``C₂ = (0.03 Q)²``
  with ``Q = 255``; averaged over images.
* ``ssim_windowed``: scikit-image's windowed SSIM (7×7 uniform windows, data_range 255, channels
  as ``channel_axis``), the usual SSIM of the image-quality literature. It is **not** eq. 5: on a
  smooth image the two differ widely (tests/models/ngc/test_metrics_image.py). ``ssim_255`` is its
  former name.
* ``image_scores``: all four for one set of outputs, under one key prefix.
* ``bce``: GNCN reconstruction BCE in nats, summed over pixels, averaged over images.
* ``masked_mse``: GNCN M-MSE, ``Σ_d ((x̂ − x)(1 − m))²`` per image (m = 1 on observed pixels).
* ``log_px_monte_carlo``: ``log p(x) ≈ log (1/N) Σ_n p(x | z_n)`` with ``z_n`` from the prior,
  i.e. ``logsumexp_n log p(x|z_n) − log N``. (A public reference script adds ``log N`` instead of
  subtracting it, inflating log p(x) by ``2 ln N``; tests pin the sign.)
"""
from __future__ import annotations

import numpy as np

from topdown_zoo.typing import ArrayLike

_EPS = 1e-7


def _to255(x: ArrayLike) -> np.ndarray:
    return np.clip(np.asarray(x, dtype="float64"), 0.0, 1.0) * 255.0


def mse_255(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Eq. 4: mean over images and channels of the per-channel pixel MSE, inputs in [0, 1]."""
    a, b = _to255(x), _to255(x_hat)
    return float(np.mean((a - b) ** 2))


def psnr_255(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Eq. 6: per image and channel ``20 log10(255 / RMSE)``, averaged (RMSE floored at 1e-8)."""
    a, b = _to255(x), _to255(x_hat)
    a = a.reshape(a.shape[0], -1, a.shape[-1]) if a.ndim == 4 else a.reshape(a.shape[0], -1, 1)
    b = b.reshape(a.shape)
    rmse = np.sqrt(np.mean((a - b) ** 2, axis=1))
    return float(np.mean(20.0 * np.log10(255.0 / np.maximum(rmse, 1e-8))))


#: eq. 5's dynamic range Q = 2^bpc − 1 for 8-bit pixels, and its constants (0.01 Q)², (0.03 Q)²
Q = 255.0
C1, C2 = (0.01 * Q) ** 2, (0.03 * Q) ** 2


def ssim_global_eq5_per_image(x: ArrayLike, x_hat: ArrayLike) -> np.ndarray:
    """Eq. 5 per image (inputs in [0, 1], first axis = images): ``(2 μ_x μ_y + C₁)(2 σ_xy + C₂) /
    ((μ_x² + μ_y² + C₁)(σ_x² + σ_y² + C₂))`` with the means, (population) variances and
    covariance taken over all pixels and channels of the image on the [0, 255] scale."""
    a, b = _to255(x), _to255(x_hat)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    mu_a, mu_b = a.mean(axis=1), b.mean(axis=1)
    da, db = a - mu_a[:, None], b - mu_b[:, None]
    var_a, var_b, cov = (da * da).mean(axis=1), (db * db).mean(axis=1), (da * db).mean(axis=1)
    return ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a ** 2 + mu_b ** 2 + C1) * (var_a + var_b + C2))


def ssim_global_eq5(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Eq. 5 (:func:`ssim_global_eq5_per_image`) averaged over images."""
    return float(np.mean(ssim_global_eq5_per_image(x, x_hat)))


def ssim_windowed(x: ArrayLike, x_hat: ArrayLike) -> float:
    """scikit-image's windowed SSIM (7×7 windows, data_range 255; channels as channel_axis),
    averaged over images. Not the paper's eq. 5 (that is :func:`ssim_global_eq5`)."""
    from skimage.metrics import structural_similarity

    a, b = _to255(x), _to255(x_hat)
    scores = []
    for xi, yi in zip(a, b):
        if xi.ndim == 3 and xi.shape[-1] > 1:
            scores.append(structural_similarity(xi, yi, data_range=255.0, channel_axis=-1))
        else:
            scores.append(structural_similarity(np.squeeze(xi), np.squeeze(yi), data_range=255.0))
    return float(np.mean(scores))


ssim_255 = ssim_windowed  # the former name (it was labelled eq. 5, which it is not)


def image_scores(x: ArrayLike, x_hat: ArrayLike, prefix: str = "") -> dict[str, float]:
    """``{prefix}mse``, ``{prefix}psnr`` (eqs. 4, 6), ``{prefix}ssim_global_eq5`` (eq. 5) and
    ``{prefix}ssim_windowed`` (scikit-image) of ``x_hat`` against ``x``."""
    return {f"{prefix}mse": mse_255(x, x_hat), f"{prefix}psnr": psnr_255(x, x_hat),
            f"{prefix}ssim_global_eq5": ssim_global_eq5(x, x_hat), f"{prefix}ssim_windowed": ssim_windowed(x, x_hat)}


def bce(x: ArrayLike, x_hat: ArrayLike) -> float:
    """Binary cross-entropy in nats: ``−Σ_d x log x̂ + (1−x) log(1−x̂)`` per image, mean over images."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    p = np.clip(np.asarray(x_hat, dtype="float64").reshape(len(x), -1), _EPS, 1 - _EPS)
    return float(np.mean(-np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)))


def masked_mse(x: ArrayLike, x_hat: ArrayLike, mask: ArrayLike) -> float:
    """M-MSE: ``((x̂ − x) ⊗ (1 − m))ᵀ((x̂ − x) ⊗ (1 − m))`` per image, mean over images."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    d = (np.asarray(x_hat, dtype="float64").reshape(len(x), -1) - x) * (1.0 - np.asarray(mask).reshape(len(x), -1))
    return float(np.mean(np.sum(d * d, axis=1)))


def bernoulli_log_likelihoods(x: ArrayLike, means: ArrayLike) -> np.ndarray:
    """``log p(x_i | μ_n)`` for binary ``x`` (I, D) and Bernoulli means (N, D): an (I, N) array."""
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    mu = np.clip(np.asarray(means, dtype="float64").reshape(len(means), -1), _EPS, 1 - _EPS)
    return x @ np.log(mu).T + (1.0 - x) @ np.log(1.0 - mu).T


def log_px_monte_carlo(x: ArrayLike, sample_means: ArrayLike, chunk: int = 1000) -> np.ndarray:
    """Per-example ``log p(x) ≈ logsumexp_n log p(x|z_n) − log N`` from N prior samples' Bernoulli
    means (``sample_means``, shape (N, D)). Returns an (I,) array in nats."""
    from scipy.special import logsumexp

    n = len(sample_means)
    out = []
    x = np.asarray(x).reshape(len(x), -1)
    for start in range(0, len(x), chunk):
        ll = bernoulli_log_likelihoods(x[start:start + chunk], sample_means)
        out.append(logsumexp(ll, axis=1) - np.log(n))
    return np.concatenate(out)

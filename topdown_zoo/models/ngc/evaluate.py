"""Evaluators of the predictive-coding entries (GNCN paper section 4; Conv-NGC section 4).

``evaluate_gncn`` (binary images): ``bce`` (reconstruction, nats), ``log_px`` (Monte-Carlo with a
Gaussian-mixture prior fitted on the settled top latents of the training split; ancestral
sampling; ``− log N``), ``masked_mse`` (right half of every image masked, completed by eq. 4),
``latent_error`` (% test error of a maximum-entropy classifier on the top latents).
Any model with ``encode``, ``decode`` and ``complete`` methods works (the baselines have them).

``evaluate_image`` (natural images, [0, 255] scale): ``mse``, ``psnr``, ``ssim_global_eq5`` (the
paper's eq. 5, a global statistic) and ``ssim_windowed`` (scikit-image's windowed SSIM) of the
reconstruction, ``ood_*`` on held-out images (natural32: photographs never trained on; other
datasets: ``ood_dataset``), ``denoise_*`` of ``model.denoise`` with the paper's N(0, σ = 0.1)
noise (Conv-NGC: settled with the noisy image clamped, z̄⁰ read out; autoencoders: the
reconstruction of the noisy image), ``noisy_*`` of the noisy input itself (the floor to beat) and,
for Conv-NGC, ``denoise_clamp_first_*`` (the paper's protocol: clamped at step 1 only).

A model output that is not finite (settling diverged) raises a :class:`TopdownZooError` naming it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from keras import ops

from topdown_zoo import metrics_image as mi
from topdown_zoo.models.ngc.common import check_finite


def _arrays(dataset: str, split: str, smoke: bool, options: dict[str, Any] | None,
            limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from topdown_zoo.data import load_dataset

    xs, ys = [], []
    for x, y in load_dataset(dataset, split, smoke=smoke, **(options or {})).batch(512):
        xs.append(x.numpy())
        ys.append(y.numpy())
    x, y = np.concatenate(xs), np.concatenate(ys)
    return (x[:limit], y[:limit]) if limit else (x, y)


def _batched(fn: Callable[[Any], Any], x: np.ndarray, batch_size: int, what: str) -> np.ndarray:
    out = np.concatenate([np.asarray(ops.convert_to_numpy(fn(x[i:i + batch_size])))
                          for i in range(0, len(x), batch_size)])
    check_finite(f"evaluation of {what}", output=out)
    return out


def evaluate_gncn(model: Any, spec: Any, *, smoke: bool = False, batch_size: int = 256,
                  data_options: dict[str, Any] | None = None, gmm_components: int = 65,
                  gmm_covariance: str = "full", gmm_reg_covar: float = 1e-4, mc_samples: int = 5000,
                  train_limit: int | None = None, seed: int = 0, **_: Any) -> dict[str, float]:
    """GNCN paper section 4 metrics (see the module docstring). ``gmm_reg_covar`` is added to the
    diagonal of every GMM covariance (65 full components on mnist5k's 3,600 latents are ~55 points
    each in 360 dimensions: without it the covariances are singular)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.mixture import GaussianMixture

    x_tr, y_tr = _arrays(spec.dataset, "train", smoke, data_options, train_limit)
    x_te, y_te = _arrays(spec.dataset, "test", smoke, data_options)
    recon = _batched(model, x_te, batch_size, "the reconstructions")
    z_tr = _batched(model.encode, x_tr, batch_size, "the training latents").reshape(len(x_tr), -1)
    z_te = _batched(model.encode, x_te, batch_size, "the test latents").reshape(len(x_te), -1)
    k = min(gmm_components, max(1, len(z_tr) // 10))
    gmm = GaussianMixture(k, covariance_type=gmm_covariance, reg_covar=gmm_reg_covar,
                          random_state=seed).fit(z_tr)
    n = 200 if smoke else mc_samples
    z_samples, _ = gmm.sample(n)
    means = _batched(model.decode, z_samples.astype("float32"), batch_size, "the samples").reshape(n, -1)
    log_px = float(np.mean(mi.log_px_monte_carlo(x_te.reshape(len(x_te), -1), means)))
    width = int(round(np.sqrt(x_te.reshape(len(x_te), -1).shape[1])))
    mask = np.ones((width, width), "float32")
    mask[:, width // 2:] = 0.0                       # right half missing
    mask = mask.reshape(1, -1)
    done = _batched(lambda v: model.complete(v, mask), x_te.reshape(len(x_te), -1), batch_size,
                    "the completions")
    clf = LogisticRegression(max_iter=2000).fit(z_tr, y_tr)
    err = 100.0 * (1.0 - clf.score(z_te, y_te))
    return {"bce": mi.bce(x_te, recon), "log_px": log_px,
            "masked_mse": mi.masked_mse(x_te, done, np.broadcast_to(mask, (len(x_te), mask.shape[1]))),
            "latent_error": float(err), "gmm_components": float(k), "mc_samples": float(n)}


def evaluate_image(model: Any, spec: Any, *, smoke: bool = False, batch_size: int = 256,
                   data_options: dict[str, Any] | None = None, noise_std: float = 0.1,
                   ood_dataset: str | None = None, ood_options: dict[str, Any] | None = None, seed: int = 0,
                   **_: Any) -> dict[str, float]:
    """Conv-NGC paper section 4 metrics on the [0, 255] scale (see the module docstring): for each
    of reconstruction (no prefix), ``ood_``, ``denoise_`` and ``noisy_`` (the noisy input itself,
    the floor a denoiser must beat), ``mse``, ``psnr``, ``ssim_global_eq5`` (the paper's eq. 5) and
    ``ssim_windowed`` (scikit-image); ``denoise_clamp_first_*`` for a model with
    ``denoise_clamp_first`` (Conv-NGC: the paper's own denoising protocol)."""
    x_te, _labels = _arrays(spec.dataset, "test", smoke, data_options)
    recon = _batched(model, x_te, batch_size, "the reconstructions")
    out = mi.image_scores(x_te, recon)
    if ood_dataset is None and spec.dataset == "natural32":
        ood_dataset = "natural32_ood"
    if ood_dataset:
        x_ood, _labels = _arrays(ood_dataset, "test", smoke, ood_options)
        out.update(mi.image_scores(x_ood, _batched(model, x_ood, batch_size, "the OOD reconstructions"), "ood_"))
    rng = np.random.default_rng(seed)
    noisy = np.clip(x_te + rng.normal(0.0, noise_std, x_te.shape), 0.0, 1.0).astype("float32")
    out.update(mi.image_scores(x_te, _batched(model.denoise, noisy, batch_size, "the denoised images"), "denoise_"))
    if hasattr(model, "denoise_clamp_first"):
        d = _batched(model.denoise_clamp_first, noisy, batch_size, "the denoised images (clamped at step 1)")
        out.update(mi.image_scores(x_te, d, "denoise_clamp_first_"))
    out.update(mi.image_scores(x_te, noisy, "noisy_"))
    return out

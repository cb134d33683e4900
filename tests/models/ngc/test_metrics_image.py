"""Image and density metrics (topdown_zoo.metrics_image)."""
import itertools

import numpy as np
import pytest

from topdown_zoo import metrics_image as mi


def test_log_px_matches_exact_value_on_an_enumerable_model():
    """Prior: 3 latent points with probabilities 1/2, 1/4, 1/4 and Bernoulli means over D=3 pixels.
    With the N samples allocated exactly in proportion to the prior, the Monte-Carlo estimator
    equals the exact marginal; the exact marginal over all 8 patterns sums to 1."""
    means = np.array([[0.9, 0.2, 0.5], [0.1, 0.7, 0.3], [0.6, 0.6, 0.05]])
    probs = np.array([0.5, 0.25, 0.25])
    xs = np.array(list(itertools.product([0, 1], repeat=3)), dtype="float64")
    lik = np.prod(np.where(xs[:, None, :] == 1, means[None], 1 - means[None]), axis=2)
    exact = np.log(lik @ probs)
    np.testing.assert_allclose(np.exp(exact).sum(), 1.0, atol=1e-12)
    n = 400
    samples = np.repeat(means, (probs * n).astype(int), axis=0)
    est = mi.log_px_monte_carlo(xs, samples)
    np.testing.assert_allclose(est, exact, atol=1e-6)
    # the +log N variant of a public script would be off by 2 ln N
    assert np.all(np.abs((est + 2 * np.log(n)) - exact) > 10)


def test_log_px_random_samples_converge():
    rng = np.random.default_rng(0)
    means = np.array([[0.9, 0.2, 0.5], [0.1, 0.7, 0.3]])
    idx = rng.integers(0, 2, size=20000)
    x = np.array([[1, 0, 1], [0, 1, 0]], dtype="float64")
    exact = np.log(0.5 * np.prod(np.where(x[:, None] == 1, means[None], 1 - means[None]), axis=2).sum(1))
    np.testing.assert_allclose(mi.log_px_monte_carlo(x, means[idx]), exact, atol=0.03)


def test_bce_masked_mse_psnr_mse_by_hand():
    x = np.array([[1.0, 0.0, 1.0, 0.0]])
    p = np.array([[0.8, 0.1, 0.6, 0.3]])
    assert mi.bce(x, p) == pytest.approx(-(np.log(0.8) + np.log(0.9) + np.log(0.6) + np.log(0.7)))
    mask = np.array([[1, 1, 0, 0]])
    assert mi.masked_mse(x, p, mask) == pytest.approx(0.4 ** 2 + 0.3 ** 2)
    a = np.zeros((2, 8, 8, 3))
    b = a + 10 / 255.0
    assert mi.mse_255(a, b) == pytest.approx(100.0)
    assert mi.psnr_255(a, b) == pytest.approx(20 * np.log10(255 / 10))
    assert mi.ssim_255(a + 0.5, a + 0.5) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    img = rng.random((1, 16, 16, 3))
    assert mi.ssim_255(img, np.clip(img + rng.normal(0, 0.3, img.shape), 0, 1)) < 0.8

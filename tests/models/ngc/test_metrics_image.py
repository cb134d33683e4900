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


def test_global_ssim_eq5_by_hand():
    """Eq. 5 with C₁ = (0.01·255)², C₂ = (0.03·255)², statistics over the whole image."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    assert (mi.C1, mi.C2) == (pytest.approx(c1), pytest.approx(c2))
    # identical images: 1
    img = np.random.default_rng(1).random((2, 8, 8, 3))
    assert mi.ssim_global_eq5(img, img) == pytest.approx(1.0)
    # two constant images 51 and 102 (σ = σ_xy = 0): only the luminance term is left
    a, b = np.full((1, 4, 4, 3), 51 / 255), np.full((1, 4, 4, 3), 102 / 255)
    expected = (2 * 51 * 102 + c1) / (51 ** 2 + 102 ** 2 + c1)
    assert mi.ssim_global_eq5(a, b) == pytest.approx(expected, rel=1e-12)
    # a 0/200 checkerboard (μ = 100, σ² = 100²) against half of it (μ = 50, σ² = 50², σ_xy = 100·50)
    board = (np.indices((4, 4)).sum(0) % 2 * 200 / 255)[None, :, :, None]
    expected = (2 * 100 * 50 + c1) * (2 * 5000 + c2) / ((100 ** 2 + 50 ** 2 + c1) * (100 ** 2 + 50 ** 2 + c2))
    assert mi.ssim_global_eq5(board, board / 2) == pytest.approx(expected, rel=1e-12)
    # per image, then averaged
    both = mi.ssim_global_eq5_per_image(np.concatenate([a, img[:1, :4, :4]]), np.concatenate([b, img[:1, :4, :4]]))
    assert both[1] == pytest.approx(1.0) and both[0] == pytest.approx((2 * 51 * 102 + c1) / (51 ** 2 + 102 ** 2 + c1))


def test_global_and_windowed_ssim_differ_on_a_smooth_image():
    """A smooth ramp plus a ±d checkerboard (zero mean, orthogonal to the ramp): eq. 5 sees only
    the whole-image variance, (2σ² + C₂)/(2σ² + d² + C₂) ≈ 0.94, while every 7×7 window of the
    ramp has little variance, so the windowed SSIM is far lower."""
    d = 20.0
    ramp = np.tile(np.linspace(30.0, 225.0, 32), (32, 1))
    board = np.where(np.indices((32, 32)).sum(0) % 2 == 0, d, -d)
    x = np.repeat(ramp[None, :, :, None], 3, axis=-1) / 255
    y = np.repeat((ramp + board)[None, :, :, None], 3, axis=-1) / 255
    var = ramp.var()
    expected = (2 * var + mi.C2) / (2 * var + d * d + mi.C2)
    glob, windowed = mi.ssim_global_eq5(x, y), mi.ssim_windowed(x, y)
    assert glob == pytest.approx(expected, rel=1e-9)
    assert glob > 0.9 and windowed < 0.5
    assert mi.ssim_255 is mi.ssim_windowed  # the former name is the windowed SSIM, not eq. 5


def test_image_scores_names_each_ssim():
    x = np.random.default_rng(2).random((2, 8, 8, 3))
    scores = mi.image_scores(x, x * 0.9, "ood_")
    assert set(scores) == {"ood_mse", "ood_psnr", "ood_ssim_global_eq5", "ood_ssim_windowed"}
    assert scores["ood_ssim_global_eq5"] == mi.ssim_global_eq5(x, x * 0.9)

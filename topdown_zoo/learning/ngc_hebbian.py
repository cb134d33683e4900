"""Local learning rules of neural generative coding (GNCN eqs. 7–8, 17–19; Conv-NGC section 3.2).

Every ``delta_*`` function takes the *settled* states and error neurons and returns updates ``Δθ``
that *increase* the log-likelihood ψ (i.e. ``Δθ = −∂E/∂θ`` for the total discrepancy E = −ψ at
fixed states), as the papers write them. The models hand ``−Δθ`` (a descent direction) to the
compiled Keras optimizer through :class:`~topdown_zoo.learning.trainer.RuleTraining` and then
re-project the weights (``project_rows`` / ``project_cols`` / ``project_kernels`` /
``project_covariance``). Updates are batch means. Everything is written on ``keras.ops`` (every
backend); the functions also accept NumPy arrays (initial weights). The ``delta_*`` statistics are
accumulated in float32 whatever the dtype of the settled states (under a ``mixed_*`` policy the
states are in float16 / bfloat16: a sum over the batch and the pixels in half precision loses
most of its digits).

Row-major conventions (one example per row): ``W_ℓ`` has shape ``(J_{ℓ+1}, J_ℓ)`` and predicts
``z̄^ℓ = g(φ(z^{ℓ+1}) W_ℓ)``; error synapses ``E_ℓ`` have shape ``(J_ℓ, J_{ℓ+1})`` and carry
``e^ℓ E_ℓ`` up. The paper's column-major ``ΔW^ℓ = e^ℓ φ(z^{ℓ+1})ᵀ`` is ``φ(z^{ℓ+1})ᵀ e^ℓ`` here.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keras import ops

from topdown_zoo.layers.conv_ops import conv2d_filter_correlation


def _batch(x: Any) -> Any:
    return ops.cast(ops.shape(x)[0], x.dtype)


def _f32(x: Any) -> Any:
    return ops.cast(x, "float32")


def delta_w(phi_upper: Any, error: Any) -> Any:
    """GNCN eqs. 17–18: ``ΔW = φ(z^{ℓ+1})ᵀ e^ℓ / B`` (shape ``(J_{ℓ+1}, J_ℓ)``)."""
    phi_upper, error = _f32(phi_upper), _f32(error)
    return ops.matmul(ops.transpose(phi_upper), error) / _batch(error)


def delta_e(phi_upper: Any, error: Any, lam: float) -> Any:
    """GNCN eq. 19: ``ΔE = λ (φ(z^{ℓ+1}) e^{ℓ T})`` in row-major layout: ``λ eᵀ φ / B``
    (shape ``(J_ℓ, J_{ℓ+1})``)."""
    phi_upper, error = _f32(phi_upper), _f32(error)
    return lam * ops.matmul(ops.transpose(error), phi_upper) / _batch(error)


def delta_sigma(error: Any, precision: Any) -> Any:
    """GNCN eq. 8 written with the error neurons ``e = Σ⁻¹(z − z̄)``: ``∂ψ/∂Σ = ½(e eᵀ/B − Σ⁻¹)``."""
    error, precision = _f32(error), _f32(precision)
    return 0.5 * (ops.matmul(ops.transpose(error), error) / _batch(error) - precision)


def project_rows(w: Any, max_norm: float = 1.0, exact: bool = False) -> Any:
    """Each row (one upper unit's generative weights) to norm ``≤ max_norm`` (``== max_norm`` if
    exact; GNCN section 2: the columns of W are renormalised after every update)."""
    w = ops.convert_to_tensor(w)
    norm = ops.sqrt(ops.sum(ops.square(w), axis=1, keepdims=True))
    ratio = max_norm / ops.maximum(norm, 1e-12)
    return w * (ratio if exact else ops.minimum(1.0, ratio))


def project_cols(w: Any, max_norm: float = 1.0, exact: bool = False) -> Any:
    """Each column to norm ``≤ max_norm`` (``== max_norm`` if exact): the error synapses E."""
    return ops.transpose(project_rows(ops.transpose(ops.convert_to_tensor(w)), max_norm, exact))


def project_kernels(kernel: Any, max_norm: float = 1.0) -> Any:
    """Conv-NGC re-projection (section 3.2): every 2-D kernel ``W_ij`` (``kernel[:, :, j, i]``) to
    norm ``≤ max_norm``."""
    kernel = ops.convert_to_tensor(kernel)
    norm = ops.sqrt(ops.sum(ops.square(kernel), axis=(0, 1), keepdims=True))
    return kernel * ops.minimum(1.0, max_norm / ops.maximum(norm, 1e-12))


def project_covariance(sigma: Any, min_eig: float = 1e-2) -> Any:
    """Symmetrise Σ and floor its eigenvalues so that Σ⁻¹ exists (keeps the Gaussian of eq. 7 proper)."""
    sigma = ops.convert_to_tensor(sigma)
    sym = 0.5 * (sigma + ops.transpose(sigma))
    vals, vecs = ops.eigh(sym)
    vals = ops.maximum(vals, min_eig)
    return ops.matmul(vecs * vals[None, :], ops.transpose(vecs))


def conv_delta_kernel(error_below: Any, phi_upper: Any, kernel_shape: Sequence[int], strides: int = 2) -> Any:
    """Conv-NGC ``ΔW^ℓ = e^{ℓ−1} *₁ Dilate(φ(z^ℓ), s)`` (section 3.2; batch mean), for the prediction
    ``z̄^{ℓ−1} = conv_transpose(φ(z^ℓ), W, s)`` (eq. 1) with ``W`` of shape ``(k, k, C_{ℓ−1}, C_ℓ)``:
    the correlation of the error map with the stride-dilated state map, i.e. the filter gradient
    of ``⟨e, conv_transpose(φ, W)⟩ = ⟨conv(e, W), φ⟩``."""
    error_below, phi_upper = _f32(error_below), _f32(phi_upper)
    dw = conv2d_filter_correlation(error_below, phi_upper, kernel_shape, strides, "same")
    return dw / _batch(error_below)


def conv_delta_bias(error_below: Any) -> Any:
    """Conv-NGC ``Δb_j = Σ_{pixels} e_j / B`` (the bias of eq. 1)."""
    error_below = _f32(error_below)
    return ops.sum(error_below, axis=(0, 1, 2)) / _batch(error_below)

"""Local learning rules of neural generative coding (GNCN eqs. 7–8, 17–19; Conv-NGC section 3.2).

Every function takes the *settled* states and error neurons and returns updates ``Δθ`` that
*increase* the log-likelihood ψ (i.e. ``Δθ = −∂E/∂θ`` for the total discrepancy E = −ψ at fixed
states). Callers hand ``−Δθ`` to a Keras optimizer as the "gradient" and then re-project the
weights (``project_rows``/``project_cols``/``project_kernels``). Updates are batch means.

Row-major conventions (one example per row): ``W_ℓ`` has shape ``(J_{ℓ+1}, J_ℓ)`` and predicts
``z̄^ℓ = g(φ(z^{ℓ+1}) W_ℓ)``; error synapses ``E_ℓ`` have shape ``(J_ℓ, J_{ℓ+1})`` and carry
``e^ℓ E_ℓ`` up. The paper's column-major ``ΔW^ℓ = e^ℓ φ(z^{ℓ+1})ᵀ`` is ``φ(z^{ℓ+1})ᵀ e^ℓ`` here.
"""
from __future__ import annotations

from keras import ops


def _batch(x):
    return ops.cast(ops.shape(x)[0], x.dtype)


def delta_w(phi_upper, error):
    """Eqs. 17–18: ``ΔW = φ(z^{ℓ+1})ᵀ e^ℓ / B`` (shape ``(J_{ℓ+1}, J_ℓ)``)."""
    return ops.matmul(ops.transpose(phi_upper), error) / _batch(error)


def delta_e(phi_upper, error, lam: float):
    """Eq. 19: ``ΔE = λ (φ(z^{ℓ+1}) e^{ℓ T})`` in row-major layout: ``λ eᵀ φ / B`` (shape ``(J_ℓ, J_{ℓ+1})``)."""
    return lam * ops.matmul(ops.transpose(error), phi_upper) / _batch(error)


def delta_sigma(error, precision):
    """Eq. 8 written with the error neurons ``e = Σ⁻¹(z − z̄)``: ``∂ψ/∂Σ = ½(e eᵀ/B − Σ⁻¹)``."""
    return 0.5 * (ops.matmul(ops.transpose(error), error) / _batch(error) - precision)


def project_rows(w, max_norm: float = 1.0, exact: bool = False):
    """Each row (one upper unit's generative weights) to norm ``≤ max_norm`` (``== max_norm`` if exact)."""
    norm = ops.sqrt(ops.sum(ops.square(w), axis=1, keepdims=True))
    scale = max_norm / ops.maximum(norm, 1e-12) if exact else ops.minimum(1.0, max_norm / ops.maximum(norm, 1e-12))
    return w * scale


def project_cols(w, max_norm: float = 1.0, exact: bool = False):
    return ops.transpose(project_rows(ops.transpose(w), max_norm, exact))


def project_kernels(kernel, max_norm: float = 1.0):
    """Conv-NGC re-projection: every 2-D kernel ``W_ij`` (``kernel[:, :, j, i]``) to norm ``≤ max_norm``."""
    norm = ops.sqrt(ops.sum(ops.square(kernel), axis=(0, 1), keepdims=True))
    return kernel * ops.minimum(1.0, max_norm / ops.maximum(norm, 1e-12))


def project_covariance(sigma, min_eig: float = 1e-2):
    """Symmetrise Σ and floor its eigenvalues so that Σ⁻¹ exists (keeps the Gaussian proper)."""
    sym = 0.5 * (sigma + ops.transpose(sigma))
    vals, vecs = ops.eigh(sym)
    vals = ops.maximum(vals, min_eig)
    return ops.matmul(vecs * vals[None, :], ops.transpose(vecs))


def conv_delta_kernel(error_below, phi_upper, kernel_shape, strides: int = 2):
    """Conv-NGC ``ΔW^ℓ = e^{ℓ−1} *₁ Dilate(φ(z^ℓ), s)`` (batch mean), for the prediction
    ``z̄^{ℓ−1} = conv_transpose(φ(z^ℓ), W, s)`` with ``W`` of shape ``(k, k, C_{ℓ−1}, C_ℓ)``: the
    correlation of the error map with the stride-dilated state map, i.e. the filter gradient of
    ``⟨e, conv_transpose(φ, W)⟩`` (TensorFlow backend)."""
    import tensorflow as tf

    dw = tf.compat.v1.nn.conv2d_backprop_filter(
        error_below, filter_sizes=list(kernel_shape), out_backprop=phi_upper,
        strides=[1, strides, strides, 1], padding="SAME")
    return dw / tf.cast(tf.shape(error_below)[0], error_below.dtype)


def conv_delta_bias(error_below):
    """``Δb_j = Σ_{pixels} e_j / B``."""
    return ops.sum(error_below, axis=(0, 1, 2)) / _batch(error_below)

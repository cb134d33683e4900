"""Convolution maps that local learning rules need, on ``keras.ops`` (every backend).

All tensors are channels-last; kernels are ``(kh, kw, c_in, c_out)`` as in ``keras.layers.Conv2D``;
``padding`` is ``"valid"`` or ``"same"`` with TensorFlow's convention (for ``"same"``, the extra
padding row/column goes at the end).

* :func:`conv2d` — ``b = a ⋆ W`` (cross-correlation, stride ``s``).
* :func:`conv2d_transpose_to` — the transpose (adjoint) of :func:`conv2d`: maps ``(B, h, w, c_out)``
  back to exactly ``(B, H, W, c_in)``. It is the top-down mirror of a convolution (BU-TD), the
  generative prediction of Conv-NGC, and the feedback path of feedback alignment.
* :func:`conv2d_filter_correlation` — ``ΔW[dy, dx, i, o] = Σ_{b, y, x} a[b, y·s+dy, x·s+dx, i] ·
  g[b, y, x, o]``: the sum of pre × post products over every connection that shares a kernel
  tap (Counter-Hebb's ``a·b̄``, Conv-NGC's ``e ⋆ Dilate(φ(z), s)``). It equals the gradient of
  ``⟨conv2d(a, W), g⟩`` with respect to ``W``, computed as one dilated convolution.
"""
from __future__ import annotations

from typing import Any, Sequence

from keras import ops


def _same_pad_before(size: int, out: int, kernel: int, stride: int) -> int:
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2


def _padding_before(in_hw: Sequence[int], out_hw: Sequence[int], kernel_hw: Sequence[int], stride: int,
                    padding: str) -> tuple[int, int]:
    if padding == "valid":
        return 0, 0
    return tuple(_same_pad_before(int(i), int(o), int(k), stride)  # type: ignore[return-value]
                 for i, o, k in zip(in_hw, out_hw, kernel_hw))


def conv_output_hw(in_hw: Sequence[int], kernel_hw: Sequence[int], stride: int, padding: str) -> tuple[int, int]:
    """Output height and width of :func:`conv2d`."""
    if padding == "same":
        return tuple(-(-int(i) // stride) for i in in_hw)  # type: ignore[return-value]
    return tuple((int(i) - int(k)) // stride + 1 for i, k in zip(in_hw, kernel_hw))  # type: ignore[return-value]


def conv2d(x: Any, kernel: Any, stride: int, padding: str) -> Any:
    """``b = x ⋆ kernel`` with TensorFlow's padding convention."""
    return ops.conv(x, ops.cast(kernel, x.dtype), strides=stride, padding=padding.lower())


def conv2d_transpose_to(u: Any, kernel: Any, stride: int, padding: str, in_hw: Sequence[int]) -> Any:
    """The adjoint of ``conv2d(·, kernel, stride, padding)`` on inputs of size ``in_hw``."""
    kernel = ops.cast(kernel, u.dtype)
    kh, kw = int(kernel.shape[0]), int(kernel.shape[1])
    h, w = int(u.shape[1]), int(u.shape[2])
    H, W = int(in_hw[0]), int(in_hw[1])
    top, left = _padding_before((H, W), (h, w), (kh, kw), stride, padding)
    # the full transposed convolution ("valid"): every input position a kernel tap reaches
    full = ops.conv_transpose(u, kernel, strides=stride, padding="valid")
    fh, fw = int(full.shape[1]), int(full.shape[2])
    full = full[:, top:top + H, left:left + W, :]
    pad_h, pad_w = max(H - (fh - top), 0), max(W - (fw - left), 0)
    if pad_h or pad_w:  # input rows/columns no kernel tap reached ('valid' leftovers) get zeros
        full = ops.pad(full, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
    return full


def conv2d_filter_correlation(a: Any, g: Any, kernel_shape: Sequence[int], stride: int, padding: str) -> Any:
    """Σ over batch and positions of input × output-signal products per kernel tap (see the module)."""
    kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
    H, W = int(a.shape[1]), int(a.shape[2])
    h, w = int(g.shape[1]), int(g.shape[2])
    top, left = _padding_before((H, W), (h, w), (kh, kw), stride, padding)
    need_h, need_w = (h - 1) * stride + kh, (w - 1) * stride + kw
    bottom, right = max(need_h - H - top, 0), max(need_w - W - left, 0)
    if top or left or bottom or right:
        a = ops.pad(a, [[0, 0], [top, bottom], [left, right], [0, 0]])
    a = a[:, :need_h, :need_w, :]
    g = ops.cast(g, a.dtype)
    # batch ↔ channels: a (c_in, H', W', B) correlated with g as a (h, w, B, c_out) kernel,
    # dilated by the stride, gives (c_in, kh, kw, c_out)
    a_t = ops.transpose(a, (3, 1, 2, 0))
    g_t = ops.transpose(g, (1, 2, 0, 3))
    out = ops.conv(a_t, g_t, strides=1, padding="valid", dilation_rate=stride)
    return ops.transpose(out, (1, 2, 0, 3))

"""Lateral competition matrices of the GNCN (Ororbia & Kifer, appendix 4.6).

``V = α_h · M ⊗ (1 − I) − α_e · I`` where the mask ``M`` is built by the appendix recipe: ``J/K``
zero matrices ``S_k`` of shape ``J × K``; ``S_k`` gets ones at rows ``K(k−1)+1 … Kk`` (all K
columns); ``M = [S_1, …, S_{J/K}]`` (horizontal concatenation). The result is block diagonal:
units compete inside groups ("neural columns") of ``K`` units. The state update subtracts
``V · φ(z)`` (appendix step 3): self-excitation ``+α_e φ(z_i)``, inhibition
``−α_h Σ_{j≠i in group} φ(z_j)``.

Because ``M`` is block diagonal with blocks of ones, ``φ(z) V`` never needs the dense J × J
product: with ``G_i = Σ_{j in group(i)} φ(z_j)`` (the group sum, broadcast back to its units),
``φ(z) V = α_h (G − φ(z)) − α_e φ(z)`` (:func:`lateral_drive`), O(J) work instead of O(J²).
The matrix stays here as the definition the group-sum form is tested against.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from topdown_zoo.errors import ConfigError


def group_mask(units: int, group_size: int) -> np.ndarray:
    """The appendix's mask ``M`` (float32, ``units × units``)."""
    if group_size <= 0 or units % group_size:
        raise ConfigError(f"group_size={group_size} is not allowed; it must divide the layer size {units}")
    blocks = []
    for k in range(units // group_size):
        s_k = np.zeros((units, group_size), dtype="float32")
        s_k[k * group_size:(k + 1) * group_size, :] = 1.0
        blocks.append(s_k)
    return np.concatenate(blocks, axis=1)


def lateral_matrix(units: int, group_size: int, alpha_e: float = 0.13, alpha_h: float = 0.125) -> np.ndarray:
    """``V = α_h M ⊗ (1 − I) − α_e I`` (float32, symmetric; appendix 4.6)."""
    eye = np.eye(units, dtype="float32")
    return (alpha_h * group_mask(units, group_size) * (1.0 - eye) - alpha_e * eye).astype("float32")


def lateral_drive(activity: Any, group_size: int, alpha_e: float = 0.13, alpha_h: float = 0.125) -> Any:
    """``φ(z) V`` for a batch of activities ``(B, J)`` by group sums, equal to the product with
    :func:`lateral_matrix` (appendix 4.6) without forming it: ``α_h (G − φ(z)) − α_e φ(z)``."""
    units = activity.shape[-1]
    if units is None or group_size <= 0 or units % group_size:
        raise ConfigError(f"group_size={group_size} is not allowed; it must divide the layer size {units}")
    grouped = ops.reshape(activity, (-1, units // group_size, group_size))
    group_sum = ops.sum(grouped, axis=-1, keepdims=True)
    drive = alpha_h * group_sum - (alpha_h + alpha_e) * grouped
    return ops.reshape(drive, ops.shape(activity))

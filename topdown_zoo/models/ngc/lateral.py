"""Lateral competition matrices of the GNCN (Ororbia & Kifer, appendix 4.6).

``V = α_h · M ⊗ (1 − I) − α_e · I`` where the mask ``M`` is built by the appendix recipe: ``J/K``
zero matrices ``S_k`` of shape ``J × K``; ``S_k`` gets ones at rows ``K(k−1)+1 … Kk`` (all K
columns); ``M = [S_1, …, S_{J/K}]`` (horizontal concatenation). The result is block diagonal:
units compete inside groups ("neural columns") of ``K`` units. The state update subtracts
``V · φ(z)`` (appendix step 3): self-excitation ``+α_e φ(z_i)``, inhibition
``−α_h Σ_{j≠i in group} φ(z_j)``.
"""
from __future__ import annotations

import numpy as np

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

"""Backpropagation through time over refinement steps (CBL paper, section 3.6, eq. 9)."""
from __future__ import annotations

from typing import Sequence

from keras import ops

from topdown_zoo.errors import TopdownZooError


def resolve_step_weights(step_weights, iterations: int) -> list[float]:
    """λ_τ for τ = 0…T (eq. 9).

    ``step_weights`` is ``"uniform"`` (each 1/(T+1): the mean over steps), ``"last"`` (only y⁽ᵀ⁾,
    plain training of the unrolled net), or an explicit sequence of T+1 non-negative numbers.
    """
    n = iterations + 1
    if step_weights is None or step_weights == "uniform":
        return [1.0 / n] * n
    if step_weights == "last":
        return [0.0] * iterations + [1.0]
    if isinstance(step_weights, str):
        raise TopdownZooError(
            f"step_weights={step_weights!r} is not allowed; use 'uniform', 'last' or a list of {n} numbers"
        )
    weights = [float(w) for w in step_weights]
    if len(weights) != n:
        raise TopdownZooError(
            f"step_weights has {len(weights)} values but iterations={iterations} needs {n} (one per step τ=0…T)"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise TopdownZooError("step_weights must be non-negative with a positive sum")
    return weights


def step_weighted_loss(step_losses: Sequence, weights: Sequence[float]):
    """L = Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9) from the per-step losses ℓ_τ."""
    if len(step_losses) != len(weights):
        raise TopdownZooError(f"{len(step_losses)} step losses but {len(weights)} step weights")
    total = None
    for loss, weight in zip(step_losses, weights):
        if weight == 0.0:
            continue
        term = ops.multiply(ops.cast(weight, loss.dtype), loss)
        total = term if total is None else total + term
    return total

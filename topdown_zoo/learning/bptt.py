"""Backpropagation through time over refinement steps (CBL paper, section 3.6, eq. 9)."""
from __future__ import annotations

from typing import Any, Sequence

from keras import ops

from topdown_zoo.checks import check_float
from topdown_zoo.errors import ConfigError
from topdown_zoo.learning.trainer import RuleTraining


def resolve_step_weights(step_weights: str | Sequence[float] | None, iterations: int) -> list[float]:
    """λ_τ for τ = 0…T (eq. 9).

    ``step_weights`` is ``"uniform"`` (each 1/(T+1): the mean over steps), ``"last"`` (only y⁽ᵀ⁾,
    plain training of the unrolled net), or an explicit sequence of T+1 non-negative numbers.
    """
    n = iterations + 1
    if step_weights is None or step_weights == "uniform":
        return [1.0 / n] * n
    if step_weights == "last":
        return [0.0] * iterations + [1.0]
    if isinstance(step_weights, str) or not isinstance(step_weights, Sequence):
        raise ConfigError(
            f"step_weights={step_weights!r} is not allowed; use 'uniform', 'last' or a list of {n} numbers"
        )
    weights = [check_float(f"step_weights[{i}]", w, 0.0) for i, w in enumerate(step_weights)]
    if len(weights) != n:
        raise ConfigError(
            f"step_weights has {len(weights)} values but iterations={iterations} needs {n} (one per step τ=0…T)"
        )
    if sum(weights) <= 0:
        raise ConfigError("step_weights must be non-negative with a positive sum")
    return weights


def step_weighted_loss(step_losses: Sequence[Any], weights: Sequence[float]) -> Any:
    """L = Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9) from the per-step losses ℓ_τ."""
    if len(step_losses) != len(weights):
        raise ConfigError(f"{len(step_losses)} step losses but {len(weights)} step weights")
    total = None
    for loss, weight in zip(step_losses, weights):
        if weight == 0.0:
            continue
        term = ops.multiply(ops.cast(weight, loss.dtype), loss)
        total = term if total is None else total + term
    return total


class StepLossTraining(RuleTraining):
    """Mixin for a :class:`~topdown_zoo.models.base.ZooModel` with ``step_outputs(x, training) ->
    [y⁽⁰⁾, …]`` and a ``step_loss_weights`` list: training is BPTT through the unrolled steps on
    L = Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9) with the compiled loss ℓ, and the compiled metrics are
    measured on the last step. The backend's autodiff differentiates it through
    :class:`~topdown_zoo.learning.trainer.RuleTraining` (JAX, PyTorch and TensorFlow alike); loss
    scaling (``mixed_float16``) and distribution work as in ``keras.Model.fit``. Used by CBL
    (λ over T+1 steps) and the ConvRNN family (one readout per time step)."""

    learning_rule = "objective"

    def step_loss(self, y: Any, steps: Sequence[Any], sample_weight: Any = None) -> Any:
        """Σ_τ λ_τ ℓ(y⁽τ⁾, y*) over ``steps`` plus the model's regularisation losses."""
        step_losses = [self._compile_loss(y, y_tau, sample_weight) for y_tau in steps]
        total = step_weighted_loss(step_losses, self.step_loss_weights)
        for extra in self.losses:
            total = total + self._aggregate_additional_loss(extra)
        return total

    def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> tuple[Any, Any]:
        """(eq. 9 loss, last-step output) of the unrolled refinement."""
        steps = self.step_outputs(x, training=training)
        return self.step_loss(y, steps, sample_weight), steps[-1]

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        from keras.src.losses import loss as loss_module

        self._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(loss), sample_weight=ops.shape(x)[0])
        logs: dict[str, Any] = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return logs

"""One training mechanism for every learning rule, on every Keras 3 backend.

A learning rule is written once, on ``keras.ops``, in one of two forms:

* **objective** — ``objective(x, y, sample_weight) -> (loss, y_pred)``: the rule is gradient
  descent on a loss (BPTT over refinement steps, the autoencoders' objectives). Gradients come
  from the backend's autodiff: ``jax.value_and_grad`` over a stateless scope on JAX,
  ``loss.backward()`` on PyTorch, ``tf.GradientTape`` on TensorFlow.
* **local updates** — ``local_updates(x, y, sample_weight) -> (loss, y_pred, [(variable, update)])``:
  the rule computes its own update for each variable (NGC's Hebbian rules, Counter-Hebb,
  feedback alignment). Nothing is differentiated.

Either way the (variable, update) pairs go through the compiled optimizer as "gradients"
(so SGD applies ``−η·update``, and Adam, schedules, clipping, ``mixed_float16`` loss scaling and
``tf.distribute`` work as usual: a local rule returns the true descent directions of its batch and
the trainer scales them as Keras scales a loss, see :meth:`RuleTraining._as_loss_gradient`),
then ``after_update()`` runs (e.g. NGC's weight re-projection), then the step's metrics are
updated by ``update_step_metrics``. :class:`RuleTraining` turns this into each
backend's ``train_step`` / ``test_step``: JAX's stateless ones (state in, state out), PyTorch's
and TensorFlow's stateful ones. A family never writes a ``train_step`` of its own.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras
from keras import ops

from topdown_zoo.errors import TopdownZooError

if TYPE_CHECKING:  # the mixin is always combined with keras.Model
    from keras import Model as _ModelBase
else:
    _ModelBase = object


def _unpack(data: Any) -> tuple[Any, Any, Any]:
    return keras.utils.unpack_x_y_sample_weight(data)


def _batch_size(x: Any) -> Any:
    first = next(t for t in keras.tree.flatten(x) if t is not None)
    return ops.shape(first)[0]


class RuleTraining(_ModelBase):
    """Mixin for a ``keras.Model``: ``train_step`` / ``test_step`` from the model's learning rule.

    Subclasses define ``objective`` *or* ``local_updates`` (see the module docstring) and may
    override ``evaluation_objective`` (test-time loss; default: ``objective`` /
    ``local_updates`` with ``training=False``), ``after_update`` and ``update_step_metrics``.
    """

    #: "objective" (autodiff of a loss) or "local" (the rule computes its updates)
    learning_rule: str = "objective"

    # ------------------------------------------------------------------ hooks
    def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> tuple[Any, Any]:
        raise NotImplementedError(f"{type(self).__name__} defines no objective")

    def local_updates(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        raise NotImplementedError(f"{type(self).__name__} defines no local updates")

    def evaluation_loss(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        """(loss, y_pred) at test time."""
        if self.learning_rule == "objective":
            return self.objective(x, y, sample_weight, training=False)
        raise NotImplementedError(f"{type(self).__name__} defines no evaluation_loss")

    def after_update(self) -> None:
        """Runs after every optimizer step (e.g. a weight re-projection); assigns variables."""

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        """Update the loss tracker and the compiled metrics; returns the logs."""
        self._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ shared pieces
    def _gradients_from_pairs(self, pairs: Sequence[tuple[Any, Any]]) -> list[Any]:
        """Updates in ``trainable_variables`` order (``None`` for a variable the rule leaves alone),
        in the variables' dtype, scaled as Keras scales a loss before differentiating it.

        A local rule returns true descent directions of its (replica's) batch. The optimizer
        treats what it is given as gradients of a scaled loss, so the updates are scaled here
        exactly as a compiled Keras loss is (:func:`_as_loss_gradient`). A rule that scales an
        error signal internally against float16 underflow (BU-TD's Counter-Hebb) must unscale its
        updates before returning them.
        """
        by_path = {v.path: u for v, u in pairs}
        unknown = set(by_path) - {v.path for v in self.trainable_variables}
        if unknown:
            raise TopdownZooError(f"{type(self).__name__}: updates for variables that are not trainable: "
                                  f"{sorted(unknown)}")
        return [None if by_path.get(v.path) is None else self._as_loss_gradient(ops.cast(by_path[v.path], v.dtype))
                for v in self.trainable_variables]

    def _as_loss_gradient(self, update: Any) -> Any:
        """A local update (float32) scaled as a gradient of the loss Keras differentiates:

        * divided by the number of replicas under ``tf.distribute`` (a compiled Keras loss is
          divided so, and the optimizer *sums* the replicas' gradients: the sum is then the mean
          over the global batch, as with one replica);
        * multiplied by the optimizer's loss scale: a ``LossScaleOptimizer`` (``mixed_float16``)
          divides what it gets by its dynamic scale, and skips the step and halves the scale when
          an update is not finite. The scale is a power of two: scaling and unscaling are exact.
        """
        from keras.src.losses.loss import scale_loss_for_distribution

        return self._scaled(scale_loss_for_distribution(update))

    def _scaled(self, loss: Any) -> Any:
        return self.optimizer.scale_loss(loss) if self.optimizer is not None else loss

    # ------------------------------------------------------------------ dispatch
    def train_step(self, *args: Any) -> Any:
        backend = keras.backend.backend()
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._torch_train_step(*args)
        return self._tf_train_step(*args)

    def test_step(self, *args: Any) -> Any:
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        x, y, sample_weight = _unpack(args[0])
        loss, y_pred = self.evaluation_loss(x, y, sample_weight)
        return self.update_step_metrics(loss, x, y, y_pred, sample_weight)

    # ------------------------------------------------------------------ TensorFlow
    def _tf_train_step(self, data: Any) -> dict[str, Any]:
        import tensorflow as tf

        x, y, sample_weight = _unpack(data)
        if self.learning_rule == "objective":
            with tf.GradientTape() as tape:
                loss, y_pred = self.objective(x, y, sample_weight, training=True)
                scaled = self._scaled(loss)
            grads = tape.gradient(scaled, self.trainable_variables)
        else:
            loss, y_pred, pairs = self.local_updates(x, y, sample_weight)
            grads = self._gradients_from_pairs(pairs)
        self._apply(grads)
        self.after_update()
        return self.update_step_metrics(loss, x, y, y_pred, sample_weight)

    def _apply(self, grads: Sequence[Any]) -> None:
        kept = [(g, v) for g, v in zip(grads, self.trainable_variables) if g is not None]
        if kept:
            self.optimizer.apply([g for g, _ in kept], [v for _, v in kept])

    # ------------------------------------------------------------------ PyTorch
    def _torch_train_step(self, data: Any) -> dict[str, Any]:
        import torch

        x, y, sample_weight = _unpack(data)
        if self.learning_rule == "objective":
            self.zero_grad()
            loss, y_pred = self.objective(x, y, sample_weight, training=True)
            self._scaled(loss).backward()
            grads = [v.value.grad for v in self.trainable_variables]
            with torch.no_grad():
                self._apply(grads)
        else:
            with torch.no_grad():
                loss, y_pred, pairs = self.local_updates(x, y, sample_weight)
                self._apply(self._gradients_from_pairs(pairs))
        with torch.no_grad():
            self.after_update()
        return self.update_step_metrics(ops.stop_gradient(loss), x, y, keras.tree.map_structure(
            ops.stop_gradient, y_pred), sample_weight)

    # ------------------------------------------------------------------ JAX (stateless)
    def _mapping(self, trainable: Sequence[Any], non_trainable: Sequence[Any],
                 optimizer_vars: Sequence[Any] | None = None) -> list[tuple[Any, Any]]:
        mapping = list(zip(self.trainable_variables, trainable)) + list(zip(self.non_trainable_variables, non_trainable))
        if optimizer_vars is not None and self.optimizer is not None:
            mapping += list(zip(self.optimizer.variables, optimizer_vars))
        return mapping

    @staticmethod
    def _read_back(scope: Any, variables: Sequence[Any], old: Sequence[Any]) -> list[Any]:
        out = []
        for ref, value in zip(variables, old):
            new = scope.get_current_value(ref)
            out.append(value if new is None else new)
        return out

    def _jax_metrics(self, metrics_vars: Sequence[Any], loss: Any, x: Any, y: Any, y_pred: Any,
                     sample_weight: Any) -> tuple[dict[str, Any], list[Any]]:
        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, metrics_vars))) as scope:
            logs = self.update_step_metrics(loss, x, y, y_pred, sample_weight)
        return logs, self._read_back(scope, self.metrics_variables, metrics_vars)

    def _jax_train_step(self, state: Any, data: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
        import jax

        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y, sample_weight = _unpack(data)
        if self.learning_rule == "objective":
            def loss_fn(trainable_values: Any, non_trainable_values: Any) -> tuple[Any, tuple[Any, ...]]:
                mapping = self._mapping(trainable_values, non_trainable_values, optimizer_vars)
                with keras.StatelessScope(state_mapping=mapping) as scope:
                    loss, y_pred = self.objective(x, y, sample_weight, training=True)
                    scaled = self._scaled(loss)
                new_non_trainable = self._read_back(scope, self.non_trainable_variables, non_trainable_values)
                return scaled, (loss, y_pred, new_non_trainable)

            (_, (loss, y_pred, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                trainable, non_trainable)
        else:
            with keras.StatelessScope(state_mapping=self._mapping(trainable, non_trainable, optimizer_vars)) as scope:
                loss, y_pred, pairs = self.local_updates(x, y, sample_weight)
                grads = self._gradients_from_pairs(pairs)
            non_trainable = self._read_back(scope, self.non_trainable_variables, non_trainable)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        with keras.StatelessScope(state_mapping=self._mapping(trainable, non_trainable)) as scope:
            self.after_update()
        trainable = self._read_back(scope, self.trainable_variables, trainable)
        non_trainable = self._read_back(scope, self.non_trainable_variables, non_trainable)
        logs, metrics_vars = self._jax_metrics(metrics_vars, loss, x, y, y_pred, sample_weight)
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)

    def _jax_test_step(self, state: Any, data: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
        trainable, non_trainable, metrics_vars = state
        x, y, sample_weight = _unpack(data)
        with keras.StatelessScope(state_mapping=self._mapping(trainable, non_trainable)) as scope:
            loss, y_pred = self.evaluation_loss(x, y, sample_weight)
        non_trainable = self._read_back(scope, self.non_trainable_variables, non_trainable)
        logs, metrics_vars = self._jax_metrics(metrics_vars, loss, x, y, y_pred, sample_weight)
        return logs, (trainable, non_trainable, metrics_vars)

"""Mixed precision on every backend (issue 10): ``mixed_bfloat16`` and ``mixed_float16`` (with
Keras's dynamic loss scaling) train one small model of every family, and a local learning rule's
step under ``mixed_float16`` is the float32 step.

The second test is the one that catches a wrong loss scale: the compiled optimizer is a
``LossScaleOptimizer`` that divides what it receives by its scale (2¹⁵ at the start), so a local
rule whose updates are not scaled before (or are scaled twice) moves the weights 2¹⁵ times too
little (too much). Plain SGD is used there: Adam would normalise a wrong scale away.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.learning.feedback_alignment import with_feedback_alignment

pytestmark = pytest.mark.backends
POLICIES = ("mixed_bfloat16", "mixed_float16")
#: op by op: compiling ~30 small training steps (XLA on JAX, tf.function) would take minutes on CPU
#: and adds nothing to what is checked here (dtypes and the loss scale)
import os
EAGER = os.environ.get("MP_EAGER", "1") == "1"


@pytest.fixture(autouse=True)
def _restore_policy():
    """The dtype policy is global in Keras: every test leaves float32 behind, whatever happens."""
    yield
    keras.config.set_dtype_policy("float32")


def _entry(name: str, **small: Any) -> Callable[[], keras.Model]:
    """A registry entry at its test size (``test_config``), made smaller still by ``small``."""
    def make() -> keras.Model:
        return tz.create(name, **{**dict(tz.get_spec(name).test_config), **small})
    return make


def _feedback_alignment() -> keras.Model:
    net = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(3)])
    return with_feedback_alignment(net, rule="fa", input_shape=(12,))


#: one small model of every family (and the feedback-alignment rule)
FAMILIES = {
    "cbl": _entry("cbl-cnn-mnist5k", context_dim=8,
                  backbone_config={"num_classes": 10, "widths": [8, 8, 16, 16], "dense_units": 16}),
    "convrnn": _entry("bl-digitdebris-mnist5k", widths=[8, 8], iterations=2),
    "baselines": _entry("conv-ae-svhn", filters=8, blocks=2),
    "gncn": _entry("gncn-pdh-mnist5k"),  # precision (Σ⁻¹), learned error synapses, lateral competition
    "conv-ngc": _entry("conv-ngc-svhn"),
    "butd": _entry("butd-multimnist5k"),
    "feedback-alignment": _feedback_alignment,
}
#: the local rules: the trainer hands their updates to the optimizer
LOCAL = {"gncn": FAMILIES["gncn"], "conv-ngc": FAMILIES["conv-ngc"], "butd": FAMILIES["butd"],
         "butd-asymmetric": _entry("butd-asymmetric-multimnist"),  # Counter-Hebb + weight decay
         "feedback-alignment": _feedback_alignment}


def _batch(model: keras.Model, n: int = 16) -> tuple[Any, Any]:
    """A fixed batch: the model's example inputs, and labels when it predicts labels."""
    x = model.example_inputs(batch=n, seed=0)
    if model.prediction_kind == "reconstruction":
        return x, None
    classes = int(keras.ops.shape(model(x, training=False))[-1])
    return x, np.random.default_rng(1).integers(0, classes, n).astype("int32")


def _trainable(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v), dtype="float32") for v in model.trainable_weights]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_few_steps_under_mixed_precision_lower_the_loss(family, policy):
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = FAMILIES[family]()
    assert model.dtype_policy.name == policy
    model.compile_default(keras.optimizers.Adam(1e-2))
    model.run_eagerly = EAGER
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = _batch(model)
    before = _trainable(model)
    losses = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history["loss"]
    after = _trainable(model)
    assert np.all(np.isfinite(losses)), losses
    assert losses[-1] < losses[0], losses
    assert all(np.all(np.isfinite(w)) for w in after)
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in model.trainable_weights)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(after, before)) > 0


def _one_sgd_step(make: Callable[[], keras.Model], policy: str, start: list[np.ndarray] | None,
                  learning_rate: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(weights before, weights after) one SGD step of the model's rule under ``policy``."""
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = make()
    if start is not None:
        model.set_weights(start)
    model.compile_default(keras.optimizers.SGD(learning_rate))
    model.run_eagerly = EAGER
    x, y = _batch(model)
    before = model.get_weights()
    trainable_before = _trainable(model)
    model.train_on_batch(x, y)
    return before, [a - b for a, b in zip(_trainable(model), trainable_before)]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("rule", list(LOCAL))
def test_a_local_rule_step_under_mixed_precision_is_the_float32_step(rule, policy):
    """Same start, same batch, one SGD step: the weight changes agree to half precision.

    The error is measured over all weights together (measured: ≤ 1e-3 under float16, ≤ 1e-2
    under bfloat16). Per weight it can be large where the float32 change itself is ~1e-6 or
    less: error neurons that small are below half precision's resolution of the states (the top
    layers early in settling, Σ after its re-projection). A wrong loss scale gives 1 or more."""
    start, reference = _one_sgd_step(LOCAL[rule], "float32", None, 0.05)
    _, mixed = _one_sgd_step(LOCAL[rule], policy, start, 0.05)
    assert all(np.all(np.isfinite(d)) for d in mixed)
    norm = np.sqrt(sum(float(np.sum(np.square(d))) for d in reference))
    assert norm > 0, "the float32 step changed nothing"
    error = np.sqrt(sum(float(np.sum(np.square(m - r))) for m, r in zip(mixed, reference))) / norm
    assert error < 0.05, error

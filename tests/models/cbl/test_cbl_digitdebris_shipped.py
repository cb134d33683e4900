"""The shipped cbl-cnn-digitdebris-mnist5k (issue 13: CBL where context should matter) gives the
TensorFlow logits at every refinement step on every backend, like the other shipped CBL weights."""
import keras
import numpy as np
import pytest
from backend_parity import check_shipped_step_outputs

pytestmark = pytest.mark.backends


def test_digit_debris_cbl_gives_the_tensorflow_logits_at_every_step(monkeypatch):
    model, inputs, steps, last = check_shipped_step_outputs("cbl-cnn-digitdebris-mnist5k", monkeypatch)
    assert steps == 3  # y⁽⁰⁾, y⁽¹⁾, y⁽²⁾ (T = 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(inputs)), last, rtol=1e-4, atol=1e-4)

"""The shipped CBL and feed-forward baseline weights give the TensorFlow outputs on every backend:
every refinement step's logits y⁽⁰⁾…y⁽ᵀ⁾ (eqs. 5–8) on the fixed inputs of
``tests/data/backend_references/<name>.npz`` (written by ``tools/make_backend_references.py``)."""
import keras
import numpy as np
import pytest
from backend_parity import check_shipped_step_outputs

pytestmark = pytest.mark.backends

SHIPPED = {"cbl-cnn-mnist5k": 3, "standard-cnn-mnist5k": 1}  # name: number of per-step outputs


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_give_the_tensorflow_logits_at_every_step(name, monkeypatch):
    model, inputs, steps, last = check_shipped_step_outputs(name, monkeypatch)
    assert steps == SHIPPED[name]
    # the inference loop (a while_loop) ends at the last unrolled step
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(inputs)), last, rtol=1e-4, atol=1e-4)
    assert (model.interpret(inputs).columns["label"] == last.argmax(-1)).all()

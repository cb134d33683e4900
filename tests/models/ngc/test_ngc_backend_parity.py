"""The shipped NGC-family weights (GNCN, Conv-NGC and the papers' autoencoder baselines) give the
TensorFlow outputs on every backend: every settling step's reconstruction on the fixed inputs of
``tests/data/backend_references/<name>.npz`` (written by ``tools/make_backend_references.py``)."""
import numpy as np
import pytest
from backend_parity import check_shipped_step_outputs

pytestmark = pytest.mark.backends

SHIPPED = ["gncn-t1-mnist5k", "gncn-t1-sigma-mnist5k", "gncn-pdh-mnist5k", "conv-ngc-natural32",
           "conv-ae-natural32", "conv-dae-natural32"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_give_the_tensorflow_reconstructions(name, monkeypatch):
    model, inputs, steps, _ = check_shipped_step_outputs(name, monkeypatch)
    assert steps == model.num_steps + 1
    prediction = model.interpret(inputs)
    assert np.all(np.isfinite(prediction.columns["reconstruction_error"]))

"""The shipped BL / BLT / feed-forward digit-debris weights give the TensorFlow outputs on every
backend: the readout at every time step on the fixed inputs of
``tests/data/backend_references/<name>.npz`` (written by ``tools/make_backend_references.py``)."""
import pytest
from backend_parity import check_shipped_step_outputs

pytestmark = pytest.mark.backends

SHIPPED = ["blt-digitdebris-mnist5k", "bl-digitdebris-mnist5k", "ff-digitdebris-mnist5k"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_give_the_tensorflow_logits_at_every_time_step(name, monkeypatch):
    model, _, steps, _ = check_shipped_step_outputs(name, monkeypatch)
    assert steps == model.num_steps

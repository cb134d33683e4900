"""The shipped BL / BLT / feed-forward digit-debris weights give the TensorFlow outputs on every
backend: the readout at every time step on the fixed inputs of
``tests/data/backend_references/<name>.npz`` (written by ``tools/make_backend_references.py``)."""
from pathlib import Path

import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.paths import shipped_hub_dir

pytestmark = pytest.mark.backends

REFERENCES = Path(__file__).resolve().parents[2] / "data" / "backend_references"
SHIPPED = ["blt-digitdebris-mnist5k", "bl-digitdebris-mnist5k", "ff-digitdebris-mnist5k"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_give_the_tensorflow_logits_at_every_time_step(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = np.load(REFERENCES / f"{name}.npz")
    model = tz.load(name, weights=shipped_hub_dir() / name)
    inputs = model.pack_inputs([ref[f"input_{s.name}"] for s in model.input_specs()])
    outputs = model.step_outputs(inputs, training=False)
    expected = sorted((k for k in ref.files if k.startswith("output_")), key=lambda k: int(k.split("_")[1]))
    assert len(outputs) == len(expected) == model.num_steps
    for key, out in zip(expected, outputs):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out), ref[key], rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name} {key}")

"""Every registry entry, at a test size, through the model contract (topdown_zoo.models.base).

One loop over the registry instead of per-family special cases: build, call, per-step outputs,
what a prediction means, the registry identity in the Keras config, a save/load round trip and
the export signature. The example family of docs/contributing-a-family.md runs here too.
"""
from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.models.base import PREDICTION_KINDS, Prediction, ZooModel

NAMES = tz.list_models()
ROOT = Path(__file__).resolve().parents[1]


def _small(name: str) -> ZooModel:
    spec = tz.get_spec(name)
    return tz.create(name, **dict(spec.test_config))


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.backends
@pytest.mark.parametrize("name", NAMES)
def test_entry_honours_the_contract(name, tmp_path):
    spec = tz.get_spec(name)
    model = _small(name)
    assert isinstance(model, ZooModel)
    assert model.registry_name == name
    assert model.get_config()["registry_name"] == name  # identity travels in the Keras config
    assert model.prediction_kind in PREDICTION_KINDS

    specs = model.input_specs()
    assert specs and all(s.name for s in specs)
    low, high = spec.input_range or (0.0, 1.0)
    x = model.example_inputs(batch=2, seed=0, value_range=(low, high))
    arrays = model.unpack_inputs(x)
    assert [tuple(a.shape[1:]) for a in arrays] == [tuple(4 if d is None else d for d in s.shape) for s in specs]

    y = _numpy(model(x, training=False))
    assert y.shape[0] == 2 and np.all(np.isfinite(y))
    steps = model.step_outputs(x)
    assert len(steps) >= 1
    np.testing.assert_allclose(_numpy(steps[-1]), y, atol=1e-5, err_msg="the last step is the output")
    if model.step_key is None:
        assert model.num_steps == 0
    else:
        assert model.num_steps == model.get_config()[model.step_key]

    prediction = model.interpret(x)
    assert isinstance(prediction, Prediction) and prediction.columns
    for column, values in prediction.columns.items():
        assert len(values) == 2, column

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    assert restored.registry_name == name
    np.testing.assert_allclose(_numpy(restored(x, training=False)), y, atol=1e-5)


def test_contributing_example_runs(tmp_path):
    """The smallest complete family of docs/contributing-a-family.md builds, trains and predicts."""
    text = (ROOT / "docs" / "contributing-a-family.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict = {}
    exec(blocks[0], namespace)  # noqa: S102 - our own documentation
    model = namespace["build_echo"]((28, 28, 1), iterations=2)
    model.compile_default(keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 28, 28, 1)).astype("float32")
    y = (x.reshape(64, -1).mean(1) > 0.5).astype("int32")
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert len(model.step_outputs(x[:2])) == 3
    assert set(model.interpret(x[:2]).columns) >= {"label", "confidence", "label_step0"}
    exec(blocks[1], {})  # the ModelSpec of the example is valid

"""The shipped CBL weights load offline, verified, and reproduce the numbers on their cards."""
import json

import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.data.mnist5k import load_arrays
from topdown_zoo.paths import shipped_hub_dir


@pytest.mark.parametrize("name", ["standard-cnn-mnist5k", "cbl-cnn-mnist5k"])
def test_shipped_weights_reproduce_the_measured_test_accuracy(name, monkeypatch):
    monkeypatch.delenv("TOPDOWN_ZOO_HUB", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tz.load(name)
    card = json.loads((shipped_hub_dir() / name / "metrics.json").read_text())
    x, y = load_arrays("test")
    accuracy = float((np.asarray(model.predict(x, verbose=0)).argmax(-1) == y).mean())
    assert accuracy == pytest.approx(card["accuracy"], abs=1e-9)
    assert accuracy > 0.95  # a trained digit classifier, not chance


def test_inference_time_overrides_reuse_the_trained_weights():
    model = tz.load("cbl-cnn-mnist5k", iterations=4)
    x, _ = load_arrays("test")
    steps = model.refine(x[:32])
    assert len(steps) == 5
    base = tz.load("cbl-cnn-mnist5k")
    for a, b in zip(base.refine(x[:32]), steps[:3]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)

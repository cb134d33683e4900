"""The contract's features API: intermediate representations per step, on every backend."""
import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.registry import get_spec


def _small(name):
    return tz.create(name, **dict(get_spec(name).test_config))


@pytest.mark.backends
def test_cbl_features_hold_every_tap_at_every_step_and_end_in_the_model_output():
    model = _small("cbl-cnn-mnist5k")
    x = model.example_inputs(batch=2, seed=0)
    feats = model.features(x)
    steps = model.iterations + 1
    assert set(model.taps) <= set(feats) and len(feats["output"]) == steps and len(feats["context"]) == steps - 1
    for tap in model.taps:
        assert len(feats[tap]) == steps
        assert not np.allclose(keras.ops.convert_to_numpy(feats[tap][0]), keras.ops.convert_to_numpy(feats[tap][-1]))
    for ours, theirs in zip(feats["output"], model.step_outputs(x)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs), atol=1e-6)


@pytest.mark.backends
def test_gncn_features_are_the_settled_latents():
    model = _small("gncn-t1-mnist5k")
    x = model.example_inputs(batch=2, seed=0)
    feats = model.features(x)
    settled = model.settle(x)
    for l, state in enumerate(settled["states"]):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(feats[f"z{l + 1}"][0]),
                                   keras.ops.convert_to_numpy(state), atol=1e-5)
    assert len(feats["output"]) == model.iterations + 1


@pytest.mark.backends
def test_every_other_model_gives_its_per_step_outputs():
    model = _small("bl-digitdebris-mnist5k")
    x = model.example_inputs(batch=2, seed=0)
    assert len(model.features(x)["output"]) == model.iterations

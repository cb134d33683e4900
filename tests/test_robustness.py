"""The robustness harness (topdown_zoo.robustness, `topdown-zoo robustness`): corruptions against
hand computations, the harness on a tiny hand-made model, reports and the CLI's error lines."""
import json

import keras
import numpy as np
import pytest

from topdown_zoo import robustness
from topdown_zoo.cli import main
from topdown_zoo.data import corruptions
from topdown_zoo.errors import ConfigError
from topdown_zoo.models.base import InputSpec, ZooModel


# ------------------------------------------------------------------------------ corruptions
@pytest.mark.backends
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.3, 0.5, 1.0])
def test_occlusion_covers_exactly_the_fraction(fraction):
    images = np.ones((5, 28, 28, 1), "float32")
    out = corruptions.occlude(images, fraction, np.random.default_rng(0))
    covered = (out == 0).reshape(5, -1).sum(1)
    assert (covered == round(fraction * 28 * 28)).all()  # every image: exactly round(f·H·W) pixels
    assert out.dtype == np.float32 and images.min() == 1.0  # the input is not changed in place


@pytest.mark.backends
def test_occlusion_is_in_blocks_and_differs_per_image():
    mask = corruptions.occlusion_mask(8, 8, 0.25, np.random.default_rng(3), block=4)  # 16 px = one 4×4 block
    rows, cols = np.nonzero(mask)
    assert mask.sum() == 16 and rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
    out = corruptions.occlude(np.ones((2, 28, 28, 1)), 0.2, np.random.default_rng(0))
    assert not np.array_equal(out[0], out[1])


@pytest.mark.backends
def test_noise_has_the_asked_standard_deviation():
    images = np.full((4, 64, 64, 1), 0.5, "float32")  # 0.5 ± 5σ stays in [0, 1]: clipping changes nothing
    out = corruptions.gaussian_noise(images, 0.1, np.random.default_rng(0))
    assert np.std(out - images) == pytest.approx(0.1, rel=0.02)
    assert np.mean(out - images) == pytest.approx(0.0, abs=0.005)
    clipped = corruptions.gaussian_noise(np.zeros((1, 8, 8, 1)), 2.0, np.random.default_rng(0))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


@pytest.mark.backends
def test_debris_reuses_digit_debris():
    from topdown_zoo.data.digit_debris import add_debris

    rng = np.random.default_rng(7)
    images = rng.uniform(size=(6, 28, 28, 1)).astype("float32") * (rng.uniform(size=(6, 1, 1, 1)) > 0.5)
    ours = corruptions.debris(images, 5, np.random.default_rng(1))
    theirs = add_debris(images, images, 5, np.random.default_rng(1))
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(corruptions.debris(images, 0, np.random.default_rng(1)), images)


@pytest.mark.backends
@pytest.mark.parametrize("name,level", [("occlusion", 0.3), ("noise", 0.2), ("debris", 10)])
def test_corruptions_are_deterministic_by_seed(name, level):
    images = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype("float32")
    a = robustness.corrupt(name, images, level, seed=1)
    np.testing.assert_array_equal(a, robustness.corrupt(name, images, level, seed=1))
    assert not np.array_equal(a, robustness.corrupt(name, images, level, seed=2))
    assert not np.array_equal(a, images)


@pytest.mark.backends
@pytest.mark.parametrize("name,level", [("occlusion", 1.5), ("noise", -0.1), ("debris", 2.5), ("blur", 1)])
def test_bad_corruptions_and_levels_are_refused(name, level):
    with pytest.raises(ConfigError):
        robustness.corrupt(name, np.zeros((1, 8, 8, 1)), level)


# ------------------------------------------------------------------------------ the harness
class _Brightness(ZooModel):
    """Step 0 always says class 0; step 1 says class 1 when the mean pixel exceeds 0.5."""

    step_key = "iterations"
    iterations = 1

    def input_specs(self):
        return [InputSpec("input", (8, 8, 1))]

    def call(self, x, training=False):
        return self.step_outputs(x)[-1]

    def step_outputs(self, x, training=False):
        mean = keras.ops.mean(keras.ops.convert_to_tensor(x), axis=(1, 2, 3))
        bright = keras.ops.cast(mean > 0.5, "float32")
        return [keras.ops.stack([keras.ops.ones_like(mean), keras.ops.zeros_like(mean)], -1),
                keras.ops.stack([1.0 - bright, bright], -1)]


def _tiny_data():
    x = np.concatenate([np.ones((10, 8, 8, 1)), np.zeros((10, 8, 8, 1))]).astype("float32")
    return [x], np.array([1] * 10 + [0] * 10)


@pytest.mark.backends
def test_harness_on_a_tiny_model_matches_hand_computation():
    result = robustness.measure(_Brightness(), ["occlusion"], {"occlusion": [0.0, 0.25, 0.75]},
                                data=_tiny_data(), progress=False)
    rows = result["results"]["occlusion"]
    assert result["steps"] == 2 and result["examples"] == 20
    assert [r["steps"][0] for r in rows] == [0.5, 0.5, 0.5]  # step 0: class 0 for everything
    # step 1: a white image stays bright (mean 0.75 > 0.5) with 25 % erased, not with 75 % erased
    assert [r["final"] for r in rows] == [1.0, 1.0, 0.5]


class _TaskEcho(ZooModel):
    """Answers its task id: (image, task) inputs, prediction_kind task_labels."""

    prediction_kind = "task_labels"

    def input_specs(self):
        return [InputSpec("image", (8, 8, 1)), InputSpec("task", (), "int32")]

    def call(self, inputs, training=False):
        _, task = inputs
        return keras.ops.one_hot(keras.ops.convert_to_tensor(task), 2)


@pytest.mark.backends
def test_harness_scores_every_task_and_reports_each():
    x = np.ones((4, 8, 8, 1), "float32")
    task = np.array([0, 1, 0, 1], "int32")
    result = robustness.measure(_TaskEcho(), ["noise"], {"noise": [0.0]}, data=([x, task], np.array([0, 1, 1, 1])),
                                progress=False)
    row = result["results"]["noise"][0]
    assert row["final"] == 0.75 and row["per_input"] == {"task": {"0": 0.5, "1": 1.0}}
    assert np.array_equal(x, np.ones_like(x))  # integer inputs untouched, inputs not changed in place


@pytest.mark.backends
def test_harness_refuses_a_reconstruction_model():
    class _Autoencoder(_Brightness):
        prediction_kind = "reconstruction"

    with pytest.raises(ConfigError, match="classifiers only"):
        robustness.measure(_Autoencoder(), data=_tiny_data(), progress=False)


@pytest.mark.backends
def test_reports_are_written(tmp_path):
    result = robustness.measure(_Brightness(), ["noise", "occlusion"], {"noise": [0, 0.3], "occlusion": [0, 0.5]},
                                data=_tiny_data(), progress=False)
    paths = robustness.write_report(result, tmp_path)
    assert sorted(p.name for p in paths) == ["robustness__Brightness.json", "robustness__Brightness.md",
                                             "robustness__Brightness.png"]
    assert json.loads(paths[0].read_text())["results"]["noise"][0]["final"] == 1.0
    assert "| step | 0 | 0.3 |" in paths[1].read_text()
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_parse_levels():
    assert robustness.parse_levels(["noise=0,0.2"], ["noise", "debris"]) == {"noise": [0.0, 0.2]}
    assert robustness.parse_levels(["0,5"], ["debris"]) == {"debris": [0.0, 5.0]}
    with pytest.raises(ConfigError, match="say which corruption"):
        robustness.parse_levels(["0,5"], ["debris", "noise"])


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("argv,message", [
    (["cbl-cnn-mnist5k", "--corruptions", "blur"], "unknown corruption 'blur'"),
    (["cbl-cnn-mnist5k", "--levels", "occlusion=a"], "levels must be numbers"),
    (["cbl-cnn-mnist5k", "--levels", "fog=1"], "unknown corruption 'fog'"),
    (["no-such-model"], "no-such-model"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(["robustness", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


@pytest.mark.backends
def test_cli_refuses_a_non_classifier_and_names_the_fix(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["robustness", "conv-ae-natural32", "--examples", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "classifiers only" in err and "cbl-cnn-mnist5k" in err


@pytest.mark.backends
def test_cli_measures_a_shipped_classifier(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["robustness", "standard-cnn-mnist5k", "--corruptions", "noise", "--levels", "noise=0,0.3",
            "--examples", "64", "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["examples"] == 64 and [r["level"] for r in result["results"]["noise"]] == [0.0, 0.3]
    assert (tmp_path / "robustness_standard-cnn-mnist5k.png").is_file()

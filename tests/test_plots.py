"""The pictures of ``topdown-zoo evaluate --plots`` (:mod:`topdown_zoo.plots`): every kind a model
names in ``plot_kinds()`` is written as a valid, non-blank PNG, for small models of the registry's
architectures (``test_config``) on random inputs; plus the data path and the CLI flag."""
import matplotlib
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.errors import ConfigError, TopdownZooError
from topdown_zoo.plots import KINDS, load_examples, write_plots
from topdown_zoo.registry import get_spec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: entry → the pictures its model draws (one entry per family / prediction kind / extra kind)
EXPECTED = {
    "cbl-cnn-mnist5k": ["predictions", "steps"],
    "standard-cnn-mnist5k": ["predictions"],
    "blt-digitdebris-mnist5k": ["predictions", "steps"],
    "ff-digitdebris-mnist5k": ["predictions"],  # kind "steps", but one time step: nothing to draw
    "butd-multimnist5k": ["task_attention"],
    "gncn-t1-mnist5k": ["reconstructions", "settling", "samples", "completions"],
    "conv-ngc-natural32": ["reconstructions", "settling", "denoising"],
    "conv-ae-natural32": ["reconstructions", "denoising"],
    "rae-mnist5k": ["reconstructions", "samples", "completions"],
}
BACKEND_NEUTRAL = ("cbl-cnn-mnist5k", "butd-multimnist5k", "gncn-t1-mnist5k", "conv-ngc-natural32")


def small_model(name):
    return tz.create(name, **dict(get_spec(name).test_config))


def random_data(model, n=48, seed=0):
    """A batch of random inputs in the model's structure and random labels (10 classes)."""
    x = model.example_inputs(batch=n, seed=seed)
    return x, np.random.default_rng(seed).integers(0, 10, size=n)


def assert_picture(path):
    """A PNG that matplotlib reads back, with a drawing on it (not one flat colour)."""
    from matplotlib import image

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    pixels = image.imread(path)[..., :3]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100, (path, pixels.shape)
    assert pixels.std() > 0.05, f"{path.name} is (nearly) blank"
    assert (pixels.min(-1) < 0.9).mean() > 0.02, f"{path.name} is (nearly) all white"


def check_written(name, out):
    model = small_model(name)
    paths = write_plots(model, random_data(model), out)
    assert [p.name for p in paths] == [f"{kind}.png" for kind in EXPECTED[name]]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    for path in paths:
        assert_picture(path)


@pytest.mark.parametrize("name", [n for n in EXPECTED if n not in BACKEND_NEUTRAL])
def test_every_kind_of_a_model_is_written(name, tmp_path):
    check_written(name, tmp_path / "plots")


@pytest.mark.backends
@pytest.mark.parametrize("name", BACKEND_NEUTRAL)
def test_pictures_on_every_backend(name, tmp_path):
    check_written(name, tmp_path / "plots")


def test_plot_kinds_follow_the_contract():
    for name, kinds in EXPECTED.items():
        model_kinds = small_model(name).plot_kinds()
        assert set(model_kinds) <= set(KINDS)
        assert set(kinds) <= set(model_kinds), name


def test_shipped_data_path_and_blocks():
    """``load_examples`` reads the entry's own test data (here (image, task) pairs, repeated per
    task) in runs spread over the split; the attention picture finds each image's tasks."""
    spec = get_spec("butd-multimnist5k")
    (images, tasks), labels = load_examples(spec, count=64, smoke=True)
    assert images.shape[1:] == (28, 28, 1) and tasks.shape == labels.shape == (len(images),)
    assert set(np.unique(tasks)) == {0, 1}
    assert np.array_equal(images[0::2], images[1::2]), "an image and its two tasks stay together"


def test_writing_does_not_switch_the_matplotlib_backend(tmp_path):
    before = matplotlib.get_backend()
    model = small_model("standard-cnn-mnist5k")
    write_plots(model, random_data(model, n=8), tmp_path)
    assert matplotlib.get_backend() == before


def test_bad_arguments_are_one_line_errors(tmp_path):
    model = small_model("standard-cnn-mnist5k")
    x, y = random_data(model, n=4)
    with pytest.raises(TopdownZooError, match="pair"):
        write_plots(model, x, tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(TopdownZooError, match="not a folder"):
        write_plots(model, (x, y), tmp_path / "file")
    model.plot_kinds = lambda: ["holograms"]
    with pytest.raises(ConfigError, match="holograms"):
        write_plots(model, (x, y), tmp_path / "out")


def test_evaluate_plots_flag(tmp_path, capsys):
    from topdown_zoo.cli import main

    out = tmp_path / "pictures"
    assert main(["evaluate", "cbl-cnn-mnist5k", "--smoke", "--json", "--plots", str(out)]) == 0
    captured = capsys.readouterr()
    assert '"accuracy"' in captured.out and "predictions.png" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["predictions.png", "steps.png"]
    for path in out.iterdir():
        assert_picture(path)


def test_evaluate_refuses_a_file_as_plots_folder_before_evaluating(tmp_path, capsys, monkeypatch):
    from topdown_zoo import evaluation
    from topdown_zoo.cli import main

    def never(*args, **kwargs):
        raise AssertionError("evaluated although the pictures cannot be written")

    monkeypatch.setattr(evaluation, "evaluate_entry", never)
    target = tmp_path / "file.png"
    target.write_text("")
    assert main(["evaluate", "standard-cnn-mnist5k", "--smoke", "--plots", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "not a folder" in err[0]

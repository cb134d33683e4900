"""The recipe runner end to end (smoke-sized) and the recipe schema."""
import json

import numpy as np
import pytest
import yaml

from topdown_zoo.errors import RecipeError
from topdown_zoo.recipe import load_recipe, validate
from topdown_zoo.training import learning_rate_at


def test_smoke_run_on_mnist5k_lowers_the_loss_and_writes_a_complete_run_dir(tmp_path):
    import keras

    from topdown_zoo.training import train

    recipe = load_recipe("cbl-cnn-mnist5k", ["smoke.epochs=3", "smoke.steps_per_epoch=4", "smoke.batch_size=16",
                                            "optimizer.learning_rate=0.003"])
    metrics = train(recipe, tmp_path / "run", smoke=True, verbose=0)
    run = tmp_path / "run"
    for name in ("recipe.yaml", "history.csv", "curves.png", "model.keras", "metrics.json"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [f"epoch00{i}.weights.h5" for i in (1, 2, 3)]
    assert any((run / "tensorboard").rglob("events.out.tfevents*"))
    losses = [float(line.split(",")[3]) for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert losses[-1] < losses[0]
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(metrics["accuracy"])
    assert {"accuracy_step0", "accuracy_step1", "accuracy_step2"} <= set(saved)
    assert saved["_run"]["smoke"] is True
    model = keras.models.load_model(run / "model.keras")
    assert model.iterations == 2
    # the run's hub folder is publishable and loads (weights only, no optimizer state)
    import topdown_zoo as tz

    packaged = tz.load("cbl-cnn-mnist5k", weights=run / "hub")
    assert (run / "hub" / "history.csv").read_text() == (run / "history.csv").read_text()  # the card's curves
    assert "![training curves](curves.png)" in (run / "hub" / "README.md").read_text()
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(packaged(x)), np.asarray(model(x)))


def test_rerunning_a_run_resumes_from_its_backup(tmp_path):
    """An interrupted run leaves backup/; the same command continues from the next epoch."""
    import keras

    from topdown_zoo.training import train

    recipe = load_recipe("standard-cnn-mnist5k", ["smoke.epochs=2", "smoke.steps_per_epoch=2"])

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    import topdown_zoo.training as training

    original = keras.callbacks.CSVLogger
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training.keras.callbacks if hasattr(training, "keras") else keras.callbacks, "CSVLogger",
                   lambda *a, **k: _Chain(original(*a, **k), StopAfterFirstEpoch()))
        with pytest.raises(KeyboardInterrupt):
            train(recipe, tmp_path / "run", smoke=True, verbose=0)
    assert (tmp_path / "run" / "backup").exists()
    train(recipe, tmp_path / "run", smoke=True, verbose=0)
    epochs = [int(l.split(",")[0]) for l in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:] if l[0].isdigit()]
    assert epochs == [0, 1]  # epoch 0 from the first attempt, epoch 1 after resuming
    assert not (tmp_path / "run" / "backup").exists()  # a finished run leaves nothing to resume

    train(recipe, tmp_path / "run", smoke=True, verbose=0)  # a new run in the same folder starts over
    epochs = [int(l.split(",")[0]) for l in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:] if l[0].isdigit()]
    assert epochs == [0, 1]  # not [0, 1, 0, 1]: the earlier run's rows are gone


class _Chain:
    """Two callbacks acting as one (used to interrupt a run right after the CSV row is written)."""

    def __new__(cls, first, second):
        import keras

        class Chained(keras.callbacks.Callback):
            def set_model(self, model):
                first.set_model(model)
                second.set_model(model)

            def set_params(self, params):
                first.set_params(params)
                second.set_params(params)

            def __getattribute__(self, name):
                if name.startswith("on_"):
                    def both(*args, **kwargs):
                        getattr(first, name)(*args, **kwargs)
                        getattr(second, name)(*args, **kwargs)
                    return both
                return object.__getattribute__(self, name)

        return Chained()


def test_learning_rate_schedules_follow_the_papers():
    cifar = load_recipe("cbl-cnn-cifar10")
    assert [learning_rate_at(e, cifar) for e in (0, 4, 5, 10, 49)] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 1e-3 / 2 ** 9])
    imagenet = load_recipe("cbl-resnet18-imagenet")
    assert [learning_rate_at(e, imagenet) for e in (0, 29, 30, 60, 80, 89)] == pytest.approx([0.1, 0.1, 0.01, 1e-3, 1e-4, 1e-4])
    assert imagenet["optimizer"]["name"] == "sgd" and imagenet["data"]["batch_size"] == 256 and imagenet["epochs"] == 90
    speech = load_recipe("cbl-cnn-speechcommands")
    assert speech["epochs"] == 10 and speech["data"]["batch_size"] == 128


@pytest.mark.parametrize("change, message", [
    ({"optimzer": {}}, "unknown recipe key 'optimzer'. Did you mean: optimizer"),
    ({"optimizer": {"name": "rmsprop"}}, "'optimizer.name' = 'rmsprop' is not allowed; allowed: adam, adamw, sgd"),
    ({"precision": "float64"}, "allowed: float32, mixed_float16, mixed_bfloat16"),
    ({"epochs": 0}, "'epochs' must be an integer > 0"),
    ({"data": {"batch_size": "big"}}, "'data.batch_size' must be an integer"),
    ({"model": "cbl-cnn-mnist"}, "unknown model 'cbl-cnn-mnist'"),
])
def test_bad_recipe_keys_and_values_name_the_key_and_what_is_allowed(change, message):
    recipe = {"model": "cbl-cnn-mnist5k", **change}
    with pytest.raises(RecipeError if "model" not in change else ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(recipe)


def test_every_shipped_recipe_is_valid_and_names_its_own_entry():
    from topdown_zoo.paths import recipes_dir
    from topdown_zoo.registry import all_specs

    for spec in all_specs().values():
        path = recipes_dir() / spec.recipe
        assert path.is_file(), f"{spec.name} has no recipe {path}"
        recipe = validate(yaml.safe_load(path.read_text()))
        assert recipe["model"] == spec.name

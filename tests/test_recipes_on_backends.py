"""Every family's shipped recipe trains through ``topdown-zoo train`` on the active backend.

Part of the backend matrix (``-m backends``): ``tools/test.sh`` runs it on TensorFlow, JAX and
PyTorch, which keeps the README's "train (recipes, every family)" column true. Smoke-sized: two
optimizer steps per epoch on the recipe's own data pipeline (``tf.data`` on every backend), then
the recipe's evaluation and packaging into a hub folder that loads back with the same outputs.
"""
import json
import math

import numpy as np
import pytest

from topdown_zoo.recipe import load_recipe

# One shipped recipe per family (and the backprop baselines), with fewer refinement / settling
# steps than the recipe's so that the matrix stays cheap (the step loop itself is unchanged).
FAMILY_RECIPES = {
    "cbl-cnn-mnist5k": [],                              # CBL: BPTT over refinement steps
    "bl-digitdebris-mnist5k": ["overrides.iterations=2", "data.options.levels=[0, 10]"],  # ConvRNN: BPTT over time
    "butd-multimnist5k": [],                            # BU-TD: Counter-Hebb local rule
    "gncn-t1-mnist5k": ["overrides.iterations=5", "evaluate.gmm_components=2", "evaluate.mc_samples=20"],  # GNCN: Hebbian
    "conv-ngc-natural32": ["overrides.iterations=5"],   # Conv-NGC: convolutional Hebbian rule
    "conv-ae-natural32": [],                            # backprop baseline
}


@pytest.mark.backends
@pytest.mark.parametrize("name", FAMILY_RECIPES)
def test_recipe_trains_evaluates_and_packages_on_the_active_backend(name, tmp_path):
    import keras

    import topdown_zoo as tz
    from topdown_zoo.training import train

    recipe = load_recipe(name, ["smoke.epochs=2", "smoke.steps_per_epoch=2", "smoke.batch_size=8", *FAMILY_RECIPES[name]])
    metrics = train(recipe, tmp_path / "run", smoke=True, verbose=0)

    run = tmp_path / "run"
    assert metrics["_run"]["model"] == name
    history = (run / "history.csv").read_text().splitlines()
    header, rows = history[0].split(","), [line.split(",") for line in history[1:]]
    assert len(rows) == 2
    losses = [float(row[header.index("loss")]) for row in rows]
    assert all(math.isfinite(loss) for loss in losses), losses
    measured = {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if not k.startswith("_")}
    assert measured and all(math.isfinite(float(v)) for v in measured.values() if isinstance(v, (int, float)))

    # The packaged folder rebuilds the same model (backend-neutral weights).
    trained = keras.models.load_model(run / "model.keras")
    packaged = tz.load(name, weights=run / "hub", **recipe["overrides"])
    x = trained.example_inputs(batch=2, seed=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(packaged.predict(x, verbose=0)),
                               keras.ops.convert_to_numpy(trained.predict(x, verbose=0)), atol=1e-6)

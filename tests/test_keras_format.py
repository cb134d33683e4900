"""Hub folders are in Keras's own folder format: ``keras.saving.load_model(folder)`` and
``keras.saving.load_model("hf://org/name")`` (the Hub's snippet for ``library_name: keras``) work
once ``topdown_zoo`` is imported, offline, and give what ``tz.load`` gives."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_hub import seed_hf_cache

import topdown_zoo as tz
from topdown_zoo import hub, paths

SHIPPED = sorted(p.name for p in paths.shipped_hub_dir().iterdir() if (p / "config.json").is_file())


def _numpy(value):
    import keras

    return keras.ops.convert_to_numpy(value)


@pytest.mark.parametrize("name", SHIPPED)
def test_keras_load_model_reads_every_shipped_folder(name):
    import keras

    folder = paths.shipped_hub_dir() / name
    by_keras = keras.saving.load_model(folder)  # safe mode: registered classes only, no code runs
    by_zoo = tz.load(name)
    assert type(by_keras) is type(by_zoo) and by_keras.registry_name == name
    x = by_zoo.example_inputs(batch=3, seed=0)
    np.testing.assert_array_equal(_numpy(by_keras(x)), _numpy(by_zoo(x)))


def test_keras_load_model_from_an_hf_handle_offline_in_a_fresh_process(tmp_path):
    """A fresh process imports topdown_zoo *before* Keras, the order the Hub's snippet uses."""
    name = "cbl-cnn-mnist5k"
    cache = tmp_path / "hf-cache"
    seed_hf_cache(cache, f"testorg/{name}", {"c" * 40: paths.shipped_hub_dir() / name}, {"main": "c" * 40})
    x = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np
        import topdown_zoo
        import keras
        model = keras.saving.load_model("hf://testorg/{name}")
        np.save({str(tmp_path / "y.npy")!r}, keras.ops.convert_to_numpy(model(np.load({str(tmp_path / "x.npy")!r}))))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), _numpy(tz.load(name)(x)))


def test_format_1_folders_still_load(tmp_path):
    """Folders written before format 2 kept the zoo's fields and the Keras config in config.json."""
    name = "standard-cnn-mnist5k"
    folder = tmp_path / name
    shutil.copytree(paths.shipped_hub_dir() / name, folder)
    zoo = hub.read_config(folder)
    assert zoo["format_version"] == 2 and zoo["keras_config"]["class_name"]
    v1 = {**zoo, "format_version": 1}
    (folder / "config.json").write_text(json.dumps(v1))
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata.pop("topdown_zoo")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    hub.write_manifest(folder)
    assert hub.read_config(folder)["registry_name"] == name
    model = hub.load_folder(folder)
    x = model.example_inputs(batch=2, seed=0)
    np.testing.assert_array_equal(_numpy(model(x)), _numpy(tz.load(name)(x)))

"""timm-style fine-tuning at load time: ``tz.load(name, num_classes=N, freeze=True, dtype=...)``."""
import keras
import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.errors import ConfigError


def _arrays(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


@pytest.mark.parametrize("name, fresh", [("cbl-cnn-mnist5k", {"context", "logits"}),
                                         ("bl-digitdebris-mnist5k", None)])
def test_num_classes_gives_a_new_head_on_the_pretrained_body(name, fresh):
    pretrained = tz.load(name)
    model = tz.load(name, num_classes=5)
    x = model.example_inputs(batch=3, seed=0)
    assert keras.ops.shape(model(x))[-1] == 5
    assert model.reinitialized_layers and (fresh is None or set(model.reinitialized_layers) == fresh)
    pairs = list(zip(_arrays(model), _arrays(pretrained)))  # same architecture, same variable order
    resized = [i for i, (a, b) in enumerate(pairs) if a.shape != b.shape]
    loaded = [i for i, (a, b) in enumerate(pairs) if a.shape == b.shape and np.array_equal(a, b)]
    assert resized, "the head has a new shape"
    assert len(loaded) + len(resized) >= len(pairs) - 2  # everything else is the pretrained body


def test_freeze_trains_only_the_new_head():
    model = tz.load("cbl-cnn-mnist5k", num_classes=5, freeze=True)
    trainable = {v.path for v in model.trainable_weights}
    assert trainable and all(any(layer in p for layer in model.reinitialized_layers) for p in trainable)
    before = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = model.example_inputs(batch=16, seed=1)
    y = np.random.default_rng(0).integers(0, 5, 16)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed and changed <= trainable | {p for p in before if "seed_generator" in p or "iteration" in p}


def test_num_classes_and_freeze_refused_where_they_mean_nothing():
    with pytest.raises(ConfigError, match="no classifier head"):
        tz.load("gncn-t1-mnist5k", num_classes=3)
    with pytest.raises(ConfigError, match="num_classes"):
        tz.load("cbl-cnn-mnist5k", freeze=True)


def test_dtype_at_load_builds_every_layer_under_the_policy_and_restores_the_global_one():
    model = tz.load("cbl-cnn-mnist5k", dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"
    assert {layer.dtype_policy.name for layer in model._flatten_layers(recursive=True)} == {"mixed_bfloat16"}
    reference = tz.load("cbl-cnn-mnist5k")
    x = reference.example_inputs(batch=8, seed=0)
    agree = np.mean(np.argmax(keras.ops.convert_to_numpy(model(x)), -1)
                    == np.argmax(keras.ops.convert_to_numpy(reference(x)), -1))
    assert agree >= 0.75  # bfloat16 keeps ~3 significant digits
    with pytest.raises(ConfigError, match="dtype policy"):
        tz.load("cbl-cnn-mnist5k", dtype="float7")

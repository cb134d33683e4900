"""CBL training: BPTT lowers the loss under every dtype policy (every backend) and under tf.distribute."""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from topdown_zoo.data.mnist5k import load_arrays
from topdown_zoo.models.cbl.model import build_cbl

SMALL = {"backbone": "standard_cnn",
         "backbone_config": {"num_classes": 10, "widths": [8, 8, 16, 16], "dense_units": 16},
         "iterations": 2, "context_dim": 8}


def _fixed_batch(n=64):
    x, y = load_arrays("train")
    return x[:n], y[:n]


def _loss(model, x, y):
    return float(keras.ops.convert_to_numpy(model.bptt_loss(y, model.refine(x, training=False))))


# float32 runs on every backend; the mixed policies cost minutes on CPU outside TensorFlow
@pytest.mark.parametrize("policy", [pytest.param("float32", marks=pytest.mark.backends), "mixed_float16",
                                    "mixed_bfloat16"])
def test_bptt_training_lowers_the_loss_under_each_dtype_policy(policy):
    keras.config.set_dtype_policy(policy)
    model = build_cbl((28, 28, 1), **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = _fixed_batch()
    before = _loss(model, x, y)
    history = model.fit(x, y, batch_size=32, epochs=6, verbose=0)
    after = _loss(model, x, y)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < before
    # logits come back in float32 for a stable loss
    assert keras.backend.standardize_dtype(model(x[:2]).dtype) == "float32"
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in model.trainable_weights)


def test_training_under_mirrored_strategy_with_two_replicas(tmp_path):
    """Two logical CPU devices stand in for two GPUs; variables stay in sync and the loss drops."""
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, numpy as np
        from topdown_zoo.models.cbl.model import build_cbl
        from topdown_zoo.data.mnist5k import load_arrays
        keras.utils.set_random_seed(0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = build_cbl((28, 28, 1), **json.loads(sys.argv[1]))
            model.compile(optimizer=keras.optimizers.Adam(3e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x, y = load_arrays("train")
        ds = tf.data.Dataset.from_tensor_slices((x[:64], y[:64])).batch(32)
        hist = model.fit(ds, epochs=6, verbose=0).history["loss"]
        kernel = model.context.kernel
        replicas = [np.asarray(v) for v in kernel.value.values]
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": hist,
                          "in_sync": bool(np.array_equal(replicas[0], replicas[1]))}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(SMALL)], capture_output=True, text=True, env=env,
                         timeout=300, cwd=os.getcwd())
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["in_sync"]
    assert result["loss"][-1] < result["loss"][0]

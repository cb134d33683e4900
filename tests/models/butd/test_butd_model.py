"""BU-TD structure, GaLU attention, asymmetric learning, serialization on TensorFlow (paper sections 3–5).

The backend-neutral tests (equations, the four modes' training steps, the contract, the shipped
weights) are in test_butd_backends.py."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from butd_fixtures import conv_body as _conv_body
from butd_fixtures import small_model as _model
from keras import layers

from topdown_zoo.errors import TopdownZooError
from topdown_zoo.layers.backbones import BasicBlock
from topdown_zoo.models.butd.layers import galu
from topdown_zoo.models.butd.mirror import ConvNode, DenseNode, flat_nodes, run_td
from topdown_zoo.models.butd.model import BUTDModel


def test_td_shapes_mirror_bu_exactly():
    body = _conv_body()[:3] + [BasicBlock(6, 2, name="blk"), layers.Flatten(), layers.Dense(7, activation="relu")]
    m = _model(body, (13, 13, 2))
    x = tf.random.uniform((3, 13, 13, 2))
    task = tf.constant([0, 1, 0])
    _, bu_ctx = m.bu_pass(x, task, training=False)
    td_ctx = m.task_pass(task)
    for node in m.relu_nodes():  # every gated BU unit has exactly one counter unit
        assert td_ctx.task_acts[id(node)].shape == bu_ctx.cache[id(node)]["h"].shape, node.name
    for node in flat_nodes(m.nodes):  # every TD map goes from the BU output shape back to the BU input shape
        if isinstance(node, (ConvNode, DenseNode)):
            u = tf.ones((3,) + tuple(node.out_shape[1:]))
            assert tuple(node.td(u, td_ctx, "task").shape) == (3,) + tuple(node.in_shape[1:])
    # the whole TD stream ends at the input's shape
    out = run_td(m.nodes, tf.ones((3, m.hidden)), m.task_pass(task), "task")
    assert tuple(out.shape) == (3, 13, 13, 2)


def test_unsupported_layer_is_named():
    body = [layers.Conv2D(4, 3), layers.MaxPooling2D(name="the_pool"), layers.Flatten(), layers.Dense(4)]
    with pytest.raises(TopdownZooError, match="the_pool.*MaxPooling2D"):
        _model(body, (8, 8, 1))
    with pytest.raises(TopdownZooError, match="tanh.*d1"):
        _model([layers.Flatten(), layers.Dense(4, activation="tanh", name="d1")], (8, 8, 1))


def test_galu_zeroes_exactly_units_whose_counter_is_not_positive():
    x = tf.constant([[1.5, -2.0, 3.0, 4.0, -1.0, 0.7]])
    gate = tf.constant([[0.1, 2.0, 0.0, -3.0, -1e-9, 1e-9]])
    np.testing.assert_array_equal(galu(x, gate).numpy(), np.array([[1.5, -2.0, 0.0, 0.0, 0.0, 0.7]], "float32"))
    with tf.GradientTape() as tape:
        tape.watch(gate)
        y = tf.reduce_sum(galu(x, gate))
    assert tape.gradient(y, gate) is None or not np.any(tape.gradient(y, gate).numpy())


def test_bu_units_follow_their_counter_units():
    m = _model()
    x = tf.random.uniform((4, 11, 11, 1))
    task = tf.constant([0, 1, 1, 0])
    _, bu_ctx = m.bu_pass(x, task, training=False)
    td_ctx = m.task_pass(task)
    silenced = 0
    for node in m.relu_nodes():
        h = bu_ctx.cache[id(node)]["h"].numpy()
        gate = td_ctx.task_acts[id(node)].numpy()
        assert np.all(h[gate <= 0] == 0), node.name
        silenced += int((gate <= 0).sum())
        assert np.any(h[gate > 0] > 0), node.name  # units whose counter is on do pass their ReLU value
    assert silenced > 0


def test_different_tasks_select_different_subnetworks():
    from topdown_zoo.models.butd import subnetworks

    m = _model(num_tasks=3)
    masks = subnetworks.masks(m)
    for layer, mk in masks.items():
        assert mk.shape[0] == 3
        assert 0 < mk.mean() < 1, layer
        assert not np.array_equal(mk[0], mk[1]) and not np.array_equal(mk[1], mk[2]), layer
    st = subnetworks.stats(m, ["a", "b", "c"])
    assert all(0 <= row["iou"] < 1 for row in st.values())
    # the same image gives different outputs under different tasks
    x = tf.random.uniform((2, 11, 11, 1))
    y0 = m((x, tf.constant([0, 0]))).numpy()
    y1 = m((x, tf.constant([1, 1]))).numpy()
    assert np.abs(y0 - y1).max() > 1e-4


def _toy_data(n=64, shape=(11, 11, 1), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n,) + shape).astype("float32")
    task = rng.integers(0, 2, n).astype("int32")
    # task 0: which third of the image is brightest (rows); task 1: the same over columns
    y = np.where(task == 0, (x[:, :, :, 0].mean((2,)) [:, :9].reshape(n, 3, 3).mean(-1)).argmax(-1),
                 (x[:, :, :, 0].mean((1,))[:, :9].reshape(n, 3, 3).mean(-1)).argmax(-1)).astype("int32")
    return tf.data.Dataset.from_tensor_slices(((x, task), y)).batch(16)


def _cosine(m):
    """Mean cosine similarity between each BU kernel and its TD counterpart."""
    return float(np.mean([np.sum(b.numpy() * t.numpy()) / np.linalg.norm(b.numpy()) / np.linalg.norm(t.numpy())
                          for b, t in m.bu_td_kernel_pairs()]))


def test_asymmetric_training_brings_bu_and_td_weights_together():
    rng = np.random.default_rng(0)
    n = 256
    x = rng.normal(size=(n, 20)).astype("float32")
    task = rng.integers(0, 2, n).astype("int32")
    y = np.where(task == 0, x[:, :3].argmax(1), x[:, 3:6].argmax(1)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices(((x, task), y)).batch(32)
    final = {}
    for decay in (0.05, 0.0):
        keras.utils.set_random_seed(0)
        body = [layers.Dense(32, activation="relu", use_bias=False),
                layers.Dense(16, activation="relu", use_bias=False)]
        m = BUTDModel(body, num_tasks=2, num_classes=3, mode="asymmetric", weight_decay=decay)
        m((x[:2], task[:2]))
        m.compile(optimizer=keras.optimizers.SGD(0.1))
        sim = [_cosine(m)]
        for _ in range(5):
            m.fit(data, epochs=10, verbose=0)
            sim.append(_cosine(m))
        assert abs(sim[0]) < 0.2  # independent initialisations: nearly orthogonal
        assert all(b > a for a, b in zip(sim, sim[1:])), sim  # the shared update aligns them step by step
        final[decay] = sim[-1]
    assert final[0.05] > 0.7 and final[0.05] > final[0.0], final  # the decay makes them converge


def test_round_trip_and_graph_mode(tmp_path):
    body = _conv_body()[:2] + [layers.BatchNormalization(), layers.Flatten(), layers.Dense(6, activation="relu")]
    m = _model(body=body, mode="asymmetric")
    m.compile(optimizer=keras.optimizers.Adam(1e-3))
    m.fit(_toy_data(n=32), epochs=1, verbose=0)  # graph-mode train_step (tf.function)
    x, t = tf.random.uniform((5, 11, 11, 1)), tf.constant([0, 1, 0, 1, 1])
    path = tmp_path / "m.keras"
    m.save(path)
    m2 = keras.saving.load_model(path)
    np.testing.assert_allclose(m2((x, t)).numpy(), m((x, t)).numpy(), atol=1e-6)
    assert m2.mode == "asymmetric"
    signature = [tf.TensorSpec((None, 11, 11, 1)), tf.TensorSpec((None,), tf.int32)]
    f = tf.function(lambda a, b: m((a, b)), input_signature=signature)
    np.testing.assert_allclose(f(x, t).numpy(), m((x, t)).numpy(), atol=1e-6)

"""BU-TD on every Keras 3 backend: the equations (eqs. 2–4), the learning modes, a few training
steps per mode, the model contract and the shipped weights' outputs (paper sections 3–5)."""
from pathlib import Path

import keras
import numpy as np
import pytest
from butd_fixtures import small_model as _model
from keras import layers, ops

from topdown_zoo.errors import ConfigError, InputSpecError
from topdown_zoo.learning import counter_hebb as ch
from topdown_zoo.learning.counter_hebb_modes import mode_updates
from topdown_zoo.models.base import InputSpec
from topdown_zoo.models.butd.bodies import build_butd
from topdown_zoo.models.butd.layers import bu_conv2d, galu, td_conv2d, td_dense
from topdown_zoo.models.butd.model import BUTDModel

pytestmark = pytest.mark.backends

REFERENCES = Path(__file__).resolve().parents[2] / "data" / "backend_references"


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


# ------------------------------------------------------------------------------- equations
def test_galu_eq3():
    x = np.array([[1.5, -2.0, 3.0, 4.0, -1.0, 0.7]], "float32")
    gate = np.array([[0.1, 2.0, 0.0, -3.0, -1e-9, 1e-9]], "float32")
    np.testing.assert_array_equal(_np(galu(ops.convert_to_tensor(x), ops.convert_to_tensor(gate))),
                                  np.array([[1.5, -2.0, 0.0, 0.0, 0.0, 0.7]], "float32"))


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same"), (2, "valid")])
def test_td_conv_is_the_transpose_of_the_bu_conv_eq2(stride, padding):
    """⟨W ⋆ a, u⟩ = ⟨a, W̄ u⟩: the TD mirror is the exact transpose, back to the BU input's shape."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 9, 8, 3)).astype("float32")
    w = rng.normal(size=(3, 3, 3, 5)).astype("float32")
    b = _np(bu_conv2d(ops.convert_to_tensor(a), w, stride, padding))
    u = rng.normal(size=b.shape).astype("float32")
    back = _np(td_conv2d(ops.convert_to_tensor(u), w, stride, padding, (9, 8)))
    assert back.shape == a.shape
    np.testing.assert_allclose(np.sum(b * u), np.sum(a * back), rtol=1e-4)
    k = rng.normal(size=(6, 4)).astype("float32")
    v = rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(_np(td_dense(ops.convert_to_tensor(v), k)), v @ k.T, rtol=1e-5, atol=1e-6)


def test_counter_hebb_updates_are_pre_times_counter_eq4():
    rng = np.random.default_rng(1)
    a, b_bar = rng.normal(size=(5, 6)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    expected = np.einsum("bj,bi->ji", a, b_bar)  # ΔW_ji = Σ_batch a_j b̄_i (W in (in, out) layout)
    np.testing.assert_allclose(_np(ch.dense_update(a, b_bar)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(ch.bias_update(b_bar)), b_bar.sum(0), rtol=1e-5, atol=1e-5)
    x_hat = rng.normal(size=(5, 4)).astype("float32")
    dg, db = ch.batchnorm_updates(x_hat, b_bar)
    np.testing.assert_allclose(_np(dg), (x_hat * b_bar).sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(db), b_bar.sum(0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "valid"), (2, "same")])
def test_conv_counter_hebb_update_sums_every_connection_of_a_tap_eq4(stride, padding):
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 7, 7, 2)).astype("float32")
    kh = kw = 3
    b = _np(bu_conv2d(ops.convert_to_tensor(a), np.zeros((kh, kw, 2, 3), "float32"), stride, padding))
    g = rng.normal(size=b.shape).astype("float32")
    h, w = g.shape[1:3]
    pad_top = pad_left = 0
    if padding == "same":
        pad_top = max((h - 1) * stride + kh - 7, 0) // 2
        pad_left = max((w - 1) * stride + kw - 7, 0) // 2
    padded = np.pad(a, [(0, 0), (pad_top, kh + 7), (pad_left, kw + 7), (0, 0)])
    expected = np.zeros((kh, kw, 2, 3), "float32")
    for dy in range(kh):
        for dx in range(kw):
            patch = padded[:, dy:dy + (h - 1) * stride + 1:stride, dx:dx + (w - 1) * stride + 1:stride, :]
            expected[dy, dx] = np.einsum("byxi,byxo->io", patch, g)
    np.testing.assert_allclose(_np(ch.conv2d_update(a, g, (kh, kw, 2, 3), stride, padding)), expected,
                               rtol=1e-4, atol=1e-4)


def test_output_error_closed_forms():
    """Algorithm 2 step 3: ∂L/∂y of the batch-mean cross-entropies."""
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], "float32")
    y = np.array([1, 0])
    loss, err = ch.output_error(ops.convert_to_tensor(logits), y, "softmax")
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(float(_np(loss)), -np.log(p[[0, 1], y]).mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(err), (p - np.eye(3)[y]) / 2, rtol=1e-5, atol=1e-6)
    z = np.array([[0.3], [-2.0]], "float32")
    t = np.array([1, 0])
    loss, err = ch.output_error(ops.convert_to_tensor(z), t, "sigmoid")
    s = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(float(_np(loss)), -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(err)[:, 0], (s - t) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="loss"):
        ch.output_error(ops.convert_to_tensor(z), t, "hinge")


def test_modes_distribute_the_update():
    bu, td, bias = (keras.Variable(np.full((2, 2), v, "float32")) for v in (1.0, 2.0, 3.0))
    d = ops.convert_to_tensor(np.ones((2, 2), "float32"))
    pairs = [(bu, d), (bias, d)]
    sym = mode_updates(pairs, "symmetric", [(bu, bu)])
    assert [v for v, _ in sym] == [bu, bias]
    asym = mode_updates(pairs, "asymmetric", [(bu, td)], weight_decay=0.5)
    assert [v for v, _ in asym] == [bu, bias, td]  # the TD kernel gets the BU kernel's update (eq. 4) …
    np.testing.assert_allclose(_np(asym[2][1]), 1.0 + 0.5 * 2.0)  # … plus its own decay
    np.testing.assert_allclose(_np(asym[0][1]), 1.0 + 0.5 * 1.0)
    fa = mode_updates(pairs, "feedback_alignment", [(bu, td)])
    assert [v for v, _ in fa] == [bu, bias]  # fixed random feedback
    weak = mode_updates(pairs, "weakly_symmetric", [(bu, td)], noise_std=0.01, seed=keras.random.SeedGenerator(3))
    updates = [_np(u) for _, u in weak]
    assert len(updates) == 3 and all(0 < np.abs(u - 1).max() < 0.1 for u in updates)
    assert not np.array_equal(updates[0], updates[2])  # each stream draws its own N(1, σ) noise
    with pytest.raises(ConfigError, match="mode"):
        mode_updates(pairs, "mirror")


# ------------------------------------------------------------------------------- training
def _dense_task_data(n=128, seed=0):
    """Task 0: which of x[0:3] is largest; task 1: which of x[3:6]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20)).astype("float32")
    task = rng.integers(0, 2, n).astype("int32")
    return (x, task), np.where(task == 0, x[:, :3].argmax(1), x[:, 3:6].argmax(1)).astype("int32")


def _image_task_data(n=128, seed=0):
    """Task 0: which third of the rows is brightest; task 1: the same over columns."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 6, 6, 1)).astype("float32")
    task = rng.integers(0, 2, n).astype("int32")
    rows = x[..., 0].mean(2).reshape(n, 3, 2).mean(-1).argmax(-1)
    cols = x[..., 0].mean(1).reshape(n, 3, 2).mean(-1).argmax(-1)
    return (x, task), np.where(task == 0, rows, cols).astype("int32")


def _numpy_init(m, seed=0):
    """Glorot-uniform kernels drawn by numpy: the same initial weights on every backend (Keras'
    initializers draw different numbers on each), so the few steps below are the same numbers too."""
    rng = np.random.default_rng(seed)
    for v in m.weights:
        if len(v.shape) >= 2:  # kernels, TD kernels, prediction and task heads
            receptive = int(np.prod(v.shape[:-2])) if len(v.shape) == 4 else 1
            limit = np.sqrt(6.0 / (receptive * (v.shape[-2] + v.shape[-1])))
            v.assign(rng.uniform(-limit, limit, size=v.shape).astype("float32"))
    if m.mode == "weakly_symmetric":  # starts exactly symmetric
        for bu, td in m.bu_td_kernel_pairs():
            td.assign(ops.copy(bu))


def _train(m, data, epochs=3):
    """(loss before, loss after) on the training set around a few Counter-Hebb epochs."""
    x, y = data
    before = m.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    hist = m.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    after = m.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert set(after) == {"loss", "accuracy"} and np.isfinite(hist.history["loss"]).all()
    return before["loss"], after["loss"]


#: training-set loss after the three epochs below, measured on TensorFlow (JAX and PyTorch agree to 1e-6)
AFTER_THREE_EPOCHS = {"symmetric": 0.818186, "asymmetric": 1.095311, "feedback_alignment": 1.066462}


@pytest.mark.parametrize("mode", ["symmetric", "asymmetric", "weakly_symmetric", "feedback_alignment"])
def test_training_modes(mode):
    m = BUTDModel([layers.Dense(32, activation="relu"), layers.Dense(16, activation="relu")], num_tasks=2,
                  num_classes=3, mode=mode)
    data = _dense_task_data()
    m((data[0][0][:1], data[0][1][:1]))
    _numpy_init(m)
    m.compile_default(keras.optimizers.Adam(1e-2))
    task_head = _np(m.task_kernel).copy()
    bu0 = [_np(v).copy() for v, _ in m.bu_td_kernel_pairs()]
    td0 = [_np(t).copy() for _, t in m.bu_td_kernel_pairs()]
    seed0 = None if m.noise_seed is None else _np(m.noise_seed.state).copy()
    before, after = _train(m, data)
    assert after < before - 0.01, (before, after)  # every mode learns, symmetric ones fastest
    if mode in AFTER_THREE_EPOCHS:  # deterministic modes: the same numbers on every backend
        assert after == pytest.approx(AFTER_THREE_EPOCHS[mode], abs=1e-4)
    np.testing.assert_array_equal(_np(m.task_kernel), task_head)  # the task head never learns
    pairs = m.bu_td_kernel_pairs()
    assert all(np.abs(_np(b) - b0).max() > 0 for (b, _), b0 in zip(pairs, bu0))
    if mode == "symmetric":
        assert all(b is t for b, t in pairs)
    elif mode == "feedback_alignment":
        for (_, t), t0 in zip(pairs, td0):
            np.testing.assert_array_equal(_np(t), t0)
    elif mode == "weakly_symmetric":  # noisy but close: relative difference stays small
        for b, t in pairs:
            rel = np.linalg.norm(_np(b) - _np(t)) / np.linalg.norm(_np(b))
            assert 0 < rel < 0.05, rel
        assert not np.array_equal(_np(m.noise_seed.state), seed0)  # the noise advanced every step
    else:
        assert all(np.abs(_np(t) - t0).max() > 0 for (_, t), t0 in zip(pairs, td0))


def test_conv_batchnorm_training_lowers_the_loss():
    body = [layers.Conv2D(8, 3, 1, padding="same", use_bias=False, name="c1"), layers.BatchNormalization(name="bn"),
            layers.ReLU(), layers.Conv2D(8, 3, 2, padding="valid", activation="relu", name="c2"), layers.Flatten(),
            layers.Dense(32, activation="relu", name="fc")]
    m = _model(body, (6, 6, 1))
    _numpy_init(m)
    m.compile_default(keras.optimizers.Adam(1e-2))
    moving = [_np(v).copy() for v in m.non_trainable_variables if "moving" in v.path]
    before, after = _train(m, _image_task_data())
    assert after < before - 0.05, (before, after)
    assert after == pytest.approx(1.052901, abs=1e-4)  # as on TensorFlow
    assert len(moving) == 4  # the BU and the TD norm's statistics …
    assert all(np.abs(_np(v) - v0).max() > 0  # … follow the batches (read back from JAX's stateless step)
               for v, v0 in zip([v for v in m.non_trainable_variables if "moving" in v.path], moving))


# ------------------------------------------------------------------------------- the contract
def test_contract_inputs_and_config_checks():
    m = build_butd((20, 20, 1), body_config={"channels": 3, "hidden": 6}, num_tasks=3, registry_name="x-test",
                   registry_overrides={"num_tasks": 3})
    assert m.registry_name == "x-test" and m.get_config()["registry_name"] == "x-test"
    assert m.input_specs() == [InputSpec("image", (20, 20, 1)), InputSpec("task", (), "int32")]
    assert m.integer_input_high("task") == 3 and m.prediction_kind == "task_labels"
    assert m.evaluator == "topdown_zoo.models.butd.evaluate:evaluate_butd"
    assert m.learning_rule == "local" and m.training_callbacks("unused") == []
    for bad in ({"mode": "mirror"}, {"loss": "hinge"}, {"num_tasks": 0}, {"noise_std": float("nan")},
                {"weight_decay": -1.0}, {"body": "vgg"}, {"body_config": {"depth": 3}}, {"multi_decoder": "yes"},
                {"body_config": {"channels": 3, "hidden": 6, "input": 1}}):
        with pytest.raises(ConfigError):
            build_butd((20, 20, 1), **{"body_config": {"channels": 3, "hidden": 6}, **bad})
    with pytest.raises(ConfigError, match="conv2"):  # too small for the body
        build_butd((12, 12, 1), body_config={"channels": 3, "hidden": 6})


def test_task_ids_out_of_range_are_refused():
    m = _model(num_tasks=2)
    x = np.random.default_rng(0).uniform(size=(2, 11, 11, 1)).astype("float32")
    for bad in ([0, 2], [-1, 0]):
        with pytest.raises(InputSpecError, match="task"):
            m((x, np.array(bad, "int32")))
        with pytest.raises(InputSpecError, match="task"):
            m.interpret((x, np.array(bad, "int32")))
    for bad in (2, -1, "middle"):
        with pytest.raises(InputSpecError, match="task"):
            m.interpret(x, task=bad)
    with pytest.raises(InputSpecError, match="not both"):
        m.interpret((x, np.array([0, 1], "int32")), task=0)


def test_interpret_answers_every_task_or_one():
    m = _model(num_tasks=2)
    x = np.random.default_rng(0).uniform(size=(3, 11, 11, 1)).astype("float32")
    every = m.interpret(x).columns
    assert set(every) == {"label_0", "confidence_0", "label_1", "confidence_1"}
    for t in (0, 1):
        logits = _np(m((x, np.full((3,), t, "int32"))))
        np.testing.assert_array_equal(every[f"label_{t}"], logits.argmax(-1))
    one = m.interpret(x, task=1).columns
    assert set(one) == {"label_1", "confidence_1"}
    np.testing.assert_array_equal(one["label_1"], every["label_1"])
    own = m.interpret((x, np.array([1, 0, 1], "int32"))).columns
    np.testing.assert_array_equal(own["label"], [every["label_1"][0], every["label_0"][1], every["label_1"][2]])
    assert np.all((own["confidence"] > 0) & (own["confidence"] <= 1))


def test_interpret_uses_the_entrys_task_names():
    m = build_butd((28, 28, 1), body_config={"channels": 2, "hidden": 4}, registry_name="butd-multimnist5k")
    x = np.zeros((2, 28, 28, 1), "float32")
    assert set(m.interpret(x).columns) == {"label_left", "confidence_left", "label_right", "confidence_right"}
    assert set(m.interpret(x, task="right").columns) == {"label_right", "confidence_right"}


# ------------------------------------------------------------------------------- shipped weights
def test_shipped_weights_give_the_tensorflow_logits(monkeypatch):
    import topdown_zoo as tz
    from topdown_zoo.paths import shipped_hub_dir

    name = "butd-multimnist5k"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = np.load(REFERENCES / f"{name}.npz")
    model = tz.load(name, weights=shipped_hub_dir() / name)
    out = model((ref["input_image"], ref["input_task"]), training=False)
    np.testing.assert_allclose(_np(out), ref["output_0"], rtol=1e-4, atol=1e-4)
    assert set(np.unique(ref["input_task"])) == {0, 1}

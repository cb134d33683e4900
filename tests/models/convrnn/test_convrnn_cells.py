"""Each ConvRNN cell's step against a hand computation, and the bypass property."""
import keras
import numpy as np
import pytest

from topdown_zoo.models.convrnn.cells import ConvLSTMCell, ReciprocalGatedCell, ResNetLikeCell

pytestmark = pytest.mark.backends
to_np = keras.ops.convert_to_numpy
RNG = np.random.default_rng(0)
F = 2  # channels


def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def elu(z):
    return np.where(z > 0, z, np.exp(z) - 1.0)


def tensors(*names):
    return {n: RNG.normal(size=(3, 4, 4, F)).astype("float32") for n in names}


def set_1x1(cell, rng):
    """1×1 kernels: the convolution is a per-pixel matrix product, easy to compute by hand."""
    mats = {}
    for conv in cell._layers:
        if hasattr(conv, "kernel"):
            k = rng.normal(scale=0.7, size=tuple(conv.kernel.shape)).astype("float32")
            conv.kernel.assign(k)
            mats[conv.name] = k[0, 0]
            if conv.use_bias:
                b = rng.normal(size=tuple(conv.bias.shape)).astype("float32")
                conv.bias.assign(b)
                mats[conv.name + "_b"] = b
    return mats


@pytest.mark.parametrize("m_tau,o_tau,m_g,o_g,bias", [(1.0, 0.0, 2.0, -1.0, 0.0), (1.0, 0.0, 1.0, 0.0, 0.3),
                                                     (0.5, 0.2, 1.5, -0.3, -0.1)])
def test_reciprocal_gated_step_matches_hand_computation(m_tau, o_tau, m_g, o_g, bias):
    cell = ReciprocalGatedCell(F, kernel_size=1, tau_multiplier=m_tau, tau_offset=o_tau, gate_multiplier=m_g,
                               gate_offset=o_g, gate_bias=bias)
    cell.build((None, 4, 4, F))
    W = set_1x1(cell, np.random.default_rng(1))
    t = tensors("u", "h", "c")
    u, h, c = t["u"], t["h"], t["c"]
    out, (h_new, c_new) = cell(u, (h, c))
    tau_c = m_tau * sig(c @ W["w_tau_c"] + bias) + o_tau
    g_c = m_g * sig(h @ W["w_gate_c"] + bias) + o_g
    tau_h = m_tau * sig(h @ W["w_tau_h"] + bias) + o_tau
    g_h = m_g * sig(c @ W["w_gate_h"] + bias) + o_g
    c_ref = elu((1 - tau_c) * c + (1 - g_c) * u)
    h_ref = elu((1 - tau_h) * h + (1 - g_h) * u)
    np.testing.assert_allclose(to_np(c_new), c_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(h_new), h_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(to_np(out), to_np(h_new))


def test_resnet_like_step_matches_hand_computation():
    cell = ResNetLikeCell(F, kernel_size=1)
    cell.build((None, 4, 4, F))
    W = set_1x1(cell, np.random.default_rng(2))
    t = tensors("u", "h", "c")
    u, h, c = t["u"], t["h"], t["c"]
    out, (h_new, c_new) = cell(u, (h, c))
    h_ref = elu(u + sig(u @ W["w_xh"]) * h + c @ W["w_ch"])
    c_ref = elu(sig(u @ W["w_xg"]) * c + u @ W["w_xc"] + c @ W["w_cc"])
    np.testing.assert_allclose(to_np(h_new), h_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(c_new), c_ref, rtol=1e-5, atol=1e-5)


def test_conv_lstm_step_matches_hand_computation():
    cell = ConvLSTMCell(F, kernel_size=1)
    cell.build((None, 4, 4, 3))
    W = set_1x1(cell, np.random.default_rng(3))
    u = RNG.normal(size=(3, 4, 4, 3)).astype("float32")
    t = tensors("h", "c")
    h, c = t["h"], t["c"]
    out, (h_new, c_new) = cell(u, (h, c))
    z = u @ W["w_x"] + W["w_x_b"] + h @ W["w_h"]
    i, f, o, g = np.split(z, 4, axis=-1)
    c_ref = sig(f) * c + sig(i) * np.tanh(g)
    h_ref = sig(o) * np.tanh(c_ref)
    np.testing.assert_allclose(to_np(c_new), c_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_np(h_new), h_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [lambda act: ReciprocalGatedCell(F, 3, activation_h=act, activation_c=act),
                                  lambda act: ResNetLikeCell(F, 3, activation=act)], ids=["reciprocal", "resnet_like"])
def test_bypass_zero_state_passes_input_unchanged(make):
    u = RNG.normal(size=(2, 5, 5, F)).astype("float32")
    # identity activation: the output is exactly the input, whatever its sign
    linear = make("linear")
    out, _ = linear(u)  # no state = zero state
    np.testing.assert_allclose(to_np(out), u, rtol=1e-6, atol=1e-6)
    # ELU (the default): the output is the feed-forward layer's f(u), i.e. u itself wherever u >= 0
    cell = make("elu")
    out, _ = cell(u)
    np.testing.assert_allclose(to_np(out), elu(u), rtol=1e-5, atol=1e-6)
    pos = u >= 0
    np.testing.assert_allclose(to_np(out)[pos], u[pos], rtol=1e-6)
    # ... and a non-zero state does change the output (the test could fail)
    h = RNG.normal(size=u.shape).astype("float32")
    out_state, _ = cell(u, (h, h))
    assert np.abs(to_np(out_state) - to_np(out)).max() > 1e-3


def test_literal_gates_halve_the_input_at_zero_state():
    """m_g = 1, o_g = 0 is the issue's literal 1 − σ(·): σ(0) = ½ so the input is halved, not bypassed."""
    cell = ReciprocalGatedCell(F, 3, gate_multiplier=1.0, gate_offset=0.0, activation_h="linear", activation_c="linear")
    u = RNG.normal(size=(2, 5, 5, F)).astype("float32")
    out, _ = cell(u)
    np.testing.assert_allclose(to_np(out), 0.5 * u, rtol=1e-6, atol=1e-6)


def test_conv_lstm_does_not_bypass():
    cell = ConvLSTMCell(F, 3)
    u = RNG.normal(size=(2, 5, 5, F)).astype("float32")
    out, _ = cell(u)
    assert np.abs(to_np(out) - u).max() > 0.1
    assert np.abs(to_np(out)).max() < 1.0  # σ(o)·tanh(c) is bounded


@pytest.mark.parametrize("factor,height,width", [(2, 14, 14), (2, 13, 11), (3, 12, 10), (1, 4, 3)])
def test_upsample_to_repeats_every_pixel_factor_times_then_crops(factor, height, width):
    """BLT's top-down upsampling (an image resize since it exports as one ONNX Resize) equals
    repeating every row and column ``factor`` times and cropping, on every backend."""
    from topdown_zoo.models.convrnn.base import upsample_to

    h = RNG.normal(size=(2, 5, 4, 3)).astype("float32")
    want = np.repeat(np.repeat(h, factor, axis=1), factor, axis=2)[:, :height, :width, :]
    got = to_np(upsample_to(keras.ops.convert_to_tensor(h), factor, height, width))
    np.testing.assert_array_equal(got, want)

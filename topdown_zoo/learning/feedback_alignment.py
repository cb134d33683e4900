"""Feedback alignment (Lillicrap et al. 2016) and direct feedback alignment (Nøkland 2016) as
local learning rules, on ``keras.ops`` (every Keras backend).

Both replace backprop's weight transport Wᵀ by fixed random matrices, for any feed-forward Keras
model that is a chain of layers whose parameters sit in ``Dense`` and ``Conv2D`` layers (and
``BatchNormalization``); the parameter-free layers between them (activations, max / average
pooling, flatten, reshape, dropout) are supported by a hand-written backward pass. Nothing is
differentiated by the backend: the forward pass keeps what each layer's backward step needs,
the output error e = ∂L/∂y (y = logits) is computed by hand for the loss (softmax
cross-entropy from logits, or mean squared error), and the updates are:

* **FA**: the error goes backwards layer by layer as in backprop, but through a fixed random B_l
  (stored with the kernel's shape) where backprop uses W_l:

      δa_l = δh_l ⊙ f'(a_l)          δh_{l−1} = δa_l B_lᵀ   (conv: the transposed convolution with B_l)
      ΔW_l = h_{l−1}ᵀ δa_l            (conv: Σ h_{l−1} · δa_l per kernel tap)      Δb_l = Σ δa_l

  With B = W the update is backprop's exactly (tested). The first Dense/Conv2D needs no B.
* **DFA**: the output error e goes to each hidden block's output h_l through its own fixed
  random matrix B_l (classes × size of h_l): δh_l = e B_l; each block (a Dense/Conv2D and the
  layers after it up to the next one) learns from δh_l alone by the same local rule. The last
  block learns from e itself (the true gradient of the loss).

The rules are plain functions returning ``(loss, logits, [(variable, update), …])``, the
``local_updates`` form of :class:`~topdown_zoo.learning.trainer.RuleTraining`;
:class:`FeedbackAlignmentModel` wraps a model and trains it with them through ``fit`` (the
updates go through the compiled optimizer, so Adam, schedules and clipping keep working).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import numpy as np
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int
from topdown_zoo.errors import ConfigError, TopdownZooError
from topdown_zoo.layers.conv_ops import conv2d, conv2d_filter_correlation, conv2d_transpose_to
from topdown_zoo.learning.trainer import RuleTraining
from topdown_zoo.models.base import ZooModel

_PACKAGE = "topdown_zoo"
RULES = ("fa", "dfa", "backprop")
PARAM_LAYERS = (keras.layers.Dense, keras.layers.Conv2D)
_RESHAPES = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Identity)
_ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_SUPPORTED = PARAM_LAYERS + _RESHAPES + _ACTIVATION_LAYERS + _POOLS + (
    keras.layers.Dropout, keras.layers.BatchNormalization, keras.layers.GlobalAveragePooling2D)
Pairs = list[tuple[Any, Any]]


# ---------------------------------------------------------------------------- the chain
def chain_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers in order, nested Sequential models flattened, input layers dropped."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Sequential):
            out.extend(chain_layers(layer))
        else:
            out.append(layer)
    return out


def param_layers(layers: Sequence[keras.layers.Layer]) -> list[keras.layers.Layer]:
    """The Dense / Conv2D layers of the chain; refuses a layer the local rules cannot run backwards."""
    found = []
    for layer in layers:
        _check_supported(layer)
        if isinstance(layer, PARAM_LAYERS):
            found.append(layer)
    if not found:
        raise TopdownZooError("the model has no Dense or Conv2D layer to train")
    return found


def _check_supported(layer: keras.layers.Layer) -> None:
    if not isinstance(layer, _SUPPORTED):
        kind = "has parameters" if layer.trainable_weights else "has no hand-written backward pass"
        raise TopdownZooError(
            f"layer {layer.name} ({type(layer).__name__}) {kind}; feedback alignment supports chains of Dense / "
            "Conv2D / BatchNormalization layers with activations, pooling, flatten, reshape and dropout between them")
    if isinstance(layer, keras.layers.Conv2D):
        if type(layer) is not keras.layers.Conv2D or layer.groups != 1 or layer.data_format != "channels_last" \
                or tuple(layer.dilation_rate) != (1, 1) or layer.strides[0] != layer.strides[1]:
            raise TopdownZooError(f"layer {layer.name}: only plain channels-last Conv2D (groups=1, no dilation, "
                                  "equal strides) is supported")
    if isinstance(layer, PARAM_LAYERS) and (layer.kernel_regularizer or layer.bias_regularizer
                                            or layer.activity_regularizer):
        raise TopdownZooError(f"layer {layer.name}: regularizers are not supported by the local rules")
    if isinstance(layer, PARAM_LAYERS + (keras.layers.Activation,)):
        _activation_name(layer.activation, layer.name)
    if isinstance(layer, keras.layers.ReLU) and (layer.max_value is not None or layer.threshold != 0):
        raise TopdownZooError(f"layer {layer.name}: ReLU with max_value or threshold is not supported")
    if isinstance(layer, _POOLS + (keras.layers.GlobalAveragePooling2D,)) and layer.data_format != "channels_last":
        raise TopdownZooError(f"layer {layer.name}: only channels-last pooling is supported")
    if isinstance(layer, keras.layers.AveragePooling2D) and layer.padding != "valid":
        raise TopdownZooError(f"layer {layer.name}: only 'valid' average pooling is supported")
    if isinstance(layer, keras.layers.BatchNormalization) and layer.renorm:
        raise TopdownZooError(f"layer {layer.name}: batch renormalization is not supported")


def blocks(layers: Sequence[keras.layers.Layer]) -> list[list[keras.layers.Layer]]:
    """Split the chain into blocks, each starting at a Dense/Conv2D layer (layers before the first
    one join the first block)."""
    out: list[list[keras.layers.Layer]] = []
    current: list[keras.layers.Layer] = []
    for layer in layers:
        if isinstance(layer, PARAM_LAYERS) and any(isinstance(l, PARAM_LAYERS) for l in current):
            out.append(current)
            current = []
        current.append(layer)
    out.append(current)
    return out


# ---------------------------------------------------------------------------- activations
_DERIVATIVES = {
    # f'(a) from the pre-activation a and the output f(a)
    "relu": lambda a, out: ops.cast(a > 0, a.dtype),
    "elu": lambda a, out: ops.where(a > 0, ops.ones_like(a), out + 1.0),
    "tanh": lambda a, out: 1.0 - out * out,
    "sigmoid": lambda a, out: out * (1.0 - out),
    "softplus": lambda a, out: ops.sigmoid(a),
    "silu": lambda a, out: ops.sigmoid(a) * (1.0 + a * (1.0 - ops.sigmoid(a))),
    "leaky_relu": lambda a, out: ops.where(a > 0, ops.ones_like(a), ops.full_like(a, 0.2)),
    "softsign": lambda a, out: 1.0 / ops.square(1.0 + ops.abs(a)),
}
_DERIVATIVES["swish"] = _DERIVATIVES["silu"]


def _activation_name(fn: Any, layer_name: str) -> str:
    name = getattr(fn, "__name__", repr(fn))
    if name != "linear" and name not in _DERIVATIVES:
        raise TopdownZooError(f"layer {layer_name}: activation {name!r} has no derivative in the local rules; "
                              f"use one of: linear, {', '.join(sorted(_DERIVATIVES))}")
    return name


def _times_derivative(layer: keras.layers.Layer, delta: Any, a: Any, out: Any) -> Any:
    """δ ⊙ f'(a) for the activation of ``layer`` (its ``activation`` or the activation layer itself)."""
    if isinstance(layer, keras.layers.ReLU):
        slope = ops.where(a > 0, ops.ones_like(a), ops.full_like(a, float(layer.negative_slope)))
        return delta * slope
    if isinstance(layer, keras.layers.LeakyReLU):
        return delta * ops.where(a > 0, ops.ones_like(a), ops.full_like(a, float(layer.negative_slope)))
    if isinstance(layer, keras.layers.ELU):
        return delta * ops.where(a > 0, ops.ones_like(a), out + float(layer.alpha))
    name = _activation_name(layer.activation, layer.name)
    return delta if name == "linear" else delta * _DERIVATIVES[name](a, out)


# ---------------------------------------------------------------------------- forward, keeping what backward needs
def _linear(layer: keras.layers.Layer, h: Any, kernel: Any) -> Any:
    """The layer's linear map of ``h`` with ``kernel`` (no bias)."""
    if isinstance(layer, keras.layers.Dense):
        return ops.matmul(h, ops.cast(kernel, h.dtype))
    return conv2d(h, kernel, int(layer.strides[0]), layer.padding)


def _forward(layer: keras.layers.Layer, h: Any, training: bool) -> tuple[Any, Any]:
    """(output, cache) of one chain layer."""
    if isinstance(layer, PARAM_LAYERS):
        h = ops.cast(h, layer.compute_dtype)
        a = _linear(layer, h, layer.kernel)
        if layer.use_bias:
            a = a + ops.cast(layer.bias, a.dtype)
        out = layer.activation(a)
        return out, (h, a, out)
    if isinstance(layer, keras.layers.Dropout):
        if not training or layer.rate == 0:
            return h, None
        mask = keras.random.dropout(ops.ones_like(h), layer.rate, noise_shape=layer.noise_shape,
                                    seed=layer.seed_generator)
        return h * mask, mask
    if isinstance(layer, keras.layers.BatchNormalization):
        out = layer(h, training=training)  # also updates the moving statistics
        return out, _batch_norm_cache(layer, h, batch=training and layer.trainable)
    out = layer(h, training=training)
    return out, (h, out)


def _bn_axes(layer: keras.layers.Layer, rank: int) -> list[int]:
    axis = layer.axis % rank
    return [i for i in range(rank) if i != axis]


def _bn_broadcast(layer: keras.layers.Layer, v: Any, rank: int) -> Any:
    shape = [1] * rank
    shape[layer.axis % rank] = -1
    return ops.reshape(v, shape)


def _batch_norm_cache(layer: keras.layers.Layer, h: Any, batch: bool) -> tuple[Any, ...]:
    x = ops.cast(h, "float32")
    rank = len(x.shape)
    if batch:
        mean, var = ops.moments(x, axes=_bn_axes(layer, rank), keepdims=True)
    else:
        mean = _bn_broadcast(layer, ops.cast(layer.moving_mean, "float32"), rank)
        var = _bn_broadcast(layer, ops.cast(layer.moving_variance, "float32"), rank)
    inv = ops.rsqrt(var + layer.epsilon)
    return h, (x - mean) * inv, inv, batch


def forward_chain(layers: Sequence[keras.layers.Layer], x: Any, training: bool = True) -> tuple[Any, list[Any]]:
    """The chain's output and, per layer, what its backward step needs."""
    h, caches = x, []
    for layer in layers:
        h, cache = _forward(layer, h, training)
        caches.append(cache)
    return h, caches


# ---------------------------------------------------------------------------- backward, one layer at a time
def _dilate_place(v: Any, stride: tuple[int, int], offset: tuple[int, int], size: tuple[int, int]) -> Any:
    """Put v[:, i, j] at (offset + i·stride) on a zero grid of ``size`` (channels-last)."""
    (sh, sw), (dy, dx), (H, W) = stride, offset, size
    oh, ow, c = int(v.shape[1]), int(v.shape[2]), int(v.shape[3])
    v = ops.reshape(v, (-1, oh, 1, ow, 1, c))
    v = ops.pad(v, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
    v = ops.reshape(v, (-1, oh * sh, ow * sw, c))
    v = ops.pad(v, [[0, 0], [dy, max(H - dy - oh * sh, 0)], [dx, max(W - dx - ow * sw, 0)], [0, 0]])
    return v[:, :H, :W, :]


def _pool_backward(layer: keras.layers.Layer, h: Any, out: Any, delta: Any) -> Any:
    """Max pooling: δ to the (first) maximum of each window; average pooling: δ / window size to each."""
    ph, pw = (int(p) for p in layer.pool_size)
    sh, sw = (int(s) for s in layer.strides)
    H, W = int(h.shape[1]), int(h.shape[2])
    oh, ow = int(out.shape[1]), int(out.shape[2])
    need_h, need_w = (oh - 1) * sh + ph, (ow - 1) * sw + pw
    top = max(need_h - H, 0) // 2 if layer.padding == "same" else 0
    left = max(need_w - W, 0) // 2 if layer.padding == "same" else 0
    size = (top + max(need_h - top, H), left + max(need_w - left, W))
    is_max = isinstance(layer, keras.layers.MaxPooling2D)
    if is_max:
        low = ops.cast(-np.inf, h.dtype)
        hp = ops.pad(h, [[0, 0], [top, size[0] - top - H], [left, size[1] - left - W], [0, 0]], constant_values=low)
        taken = ops.zeros_like(out, dtype="bool")
    delta = ops.cast(delta, h.dtype)
    grad: Any = None
    for dy in range(ph):
        for dx in range(pw):
            if is_max:
                window = hp[:, dy:dy + (oh - 1) * sh + 1:sh, dx:dx + (ow - 1) * sw + 1:sw, :]
                hit = ops.logical_and(ops.equal(window, out), ops.logical_not(taken))
                taken = ops.logical_or(taken, hit)
                part = ops.where(hit, delta, ops.zeros_like(delta))
            else:
                part = delta / float(ph * pw)
            placed = _dilate_place(part, (sh, sw), (dy, dx), size)
            grad = placed if grad is None else grad + placed
    return grad[:, top:top + H, left:left + W, :]


def _backward(layer: keras.layers.Layer, cache: Any, delta: Any, feedback: Any,
              need_input: bool) -> tuple[Any, Pairs]:
    """(δ at the layer's input or None, [(variable, update)]) for one chain layer; ``feedback`` is
    the matrix that carries δ below a Dense / Conv2D (B for FA, W for backprop)."""
    if isinstance(layer, PARAM_LAYERS):
        h, a, out = cache
        da = _times_derivative(layer, ops.cast(delta, a.dtype), a, out)
        if isinstance(layer, keras.layers.Dense):
            h2 = ops.reshape(h, (-1, int(h.shape[-1])))
            da2 = ops.reshape(da, (-1, int(da.shape[-1])))
            pairs = [(layer.kernel, ops.matmul(ops.transpose(h2), da2))]
            bias_axes = tuple(range(len(da.shape) - 1))
            below = ops.matmul(da, ops.transpose(ops.cast(feedback, da.dtype))) if need_input else None
        else:
            stride = int(layer.strides[0])
            pairs = [(layer.kernel, conv2d_filter_correlation(h, da, layer.kernel.shape, stride, layer.padding))]
            bias_axes = (0, 1, 2)
            below = (conv2d_transpose_to(da, feedback, stride, layer.padding, h.shape[1:3]) if need_input else None)
        if layer.use_bias:
            pairs.append((layer.bias, ops.sum(da, axis=bias_axes)))
        return below, pairs
    if isinstance(layer, keras.layers.Dropout):
        return (delta if cache is None else delta * ops.cast(cache, delta.dtype)), []
    if isinstance(layer, keras.layers.BatchNormalization):
        return _batch_norm_backward(layer, cache, delta)
    h, out = cache
    if isinstance(layer, _RESHAPES):
        return ops.reshape(delta, ops.shape(h)), []
    if isinstance(layer, _ACTIVATION_LAYERS):
        return _times_derivative(layer, ops.cast(delta, h.dtype), h, out), []
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        delta = ops.reshape(delta, (-1, 1, 1, int(h.shape[-1])))
        return ops.broadcast_to(delta / float(int(h.shape[1]) * int(h.shape[2])), ops.shape(h)), []
    return _pool_backward(layer, h, out, delta), []


def _batch_norm_backward(layer: keras.layers.Layer, cache: tuple[Any, ...], delta: Any) -> tuple[Any, Pairs]:
    """y = γ x̂ + β with x̂ = (h − μ)/σ: Δγ = Σ δ x̂, Δβ = Σ δ, and δh (batch statistics: the mean
    and variance depend on h too)."""
    h, x_hat, inv, batch = cache
    delta = ops.cast(delta, "float32")
    rank = len(x_hat.shape)
    axes = _bn_axes(layer, rank)
    pairs = []
    if layer.scale:
        pairs.append((layer.gamma, ops.sum(delta * x_hat, axis=axes)))
        g = delta * _bn_broadcast(layer, ops.cast(layer.gamma, "float32"), rank)
    else:
        g = delta
    if layer.center:
        pairs.append((layer.beta, ops.sum(delta, axis=axes)))
    if batch:
        g = g - ops.mean(g, axis=axes, keepdims=True) - x_hat * ops.mean(g * x_hat, axis=axes, keepdims=True)
    return ops.cast(g * inv, h.dtype), pairs


def backward_chain(layers: Sequence[keras.layers.Layer], caches: Sequence[Any], delta: Any,
                   feedback_of: Any) -> Pairs:
    """Run δ (the signal at the chain's output) down the chain; returns the trainable updates.
    ``feedback_of(layer)`` gives the matrix that carries δ below a Dense / Conv2D."""
    pairs: Pairs = []
    lowest = min((i for i, l in enumerate(layers) if l.trainable_weights), default=len(layers))
    for i in range(len(layers) - 1, lowest - 1, -1):
        layer = layers[i]
        feedback = feedback_of(layer) if isinstance(layer, PARAM_LAYERS) else None
        delta, layer_pairs = _backward(layer, caches[i], delta, feedback, need_input=i > lowest)
        pairs = [(v, u) for v, u in layer_pairs if v.trainable] + pairs
    return pairs


# ---------------------------------------------------------------------------- the output error
def output_error(loss: Any, y: Any, logits: Any, sample_weight: Any = None) -> Any:
    """e = ∂L/∂y for the loss object ``loss``: softmax cross-entropy from logits (sparse or one-hot
    labels, label smoothing) or mean squared error, with any sample weights and reduction."""
    logits = ops.cast(logits, "float32")
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy) and loss.from_logits \
            and getattr(loss, "ignore_class", None) is None:
        labels = ops.cast(y, "int32")
        if len(labels.shape) == len(logits.shape):
            labels = ops.squeeze(labels, axis=-1)
        e = ops.softmax(logits, axis=-1) - ops.one_hot(labels, int(logits.shape[-1]), dtype="float32")
    elif isinstance(loss, keras.losses.CategoricalCrossentropy) and loss.from_logits \
            and loss.axis in (-1, len(logits.shape) - 1):
        target = ops.cast(y, "float32")
        if loss.label_smoothing:
            target = target * (1.0 - loss.label_smoothing) + loss.label_smoothing / int(logits.shape[-1])
        e = ops.softmax(logits, axis=-1) - target
    elif isinstance(loss, keras.losses.MeanSquaredError):
        e = 2.0 * (logits - ops.cast(y, "float32")) / float(int(logits.shape[-1]))
    else:
        raise ConfigError(
            f"loss={loss!r}: the local rules compute the output error by hand; compile with "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True), "
            "CategoricalCrossentropy(from_logits=True) or MeanSquaredError")
    per_example = ops.ones(ops.shape(e)[:-1], dtype="float32")
    if sample_weight is not None:
        per_example = per_example * ops.reshape(ops.cast(sample_weight, "float32"), ops.shape(per_example))
    reduction = loss.reduction
    if reduction in ("sum_over_batch_size", "mean"):
        per_example = per_example / ops.cast(ops.size(per_example), "float32")
    elif reduction == "mean_with_sample_weight" and sample_weight is not None:
        per_example = per_example / ops.sum(per_example)
    elif reduction == "mean_with_sample_weight":
        per_example = per_example / ops.cast(ops.size(per_example), "float32")
    elif reduction != "sum":
        raise ConfigError(f"loss reduction {reduction!r} is not supported by the local rules")
    return e * per_example[..., None]


# ---------------------------------------------------------------------------- the rules
def fa_updates(layers: Sequence[keras.layers.Layer], feedbacks: dict[str, Any], x: Any, y: Any, loss: Any,
               sample_weight: Any = None) -> tuple[Any, Any, Pairs]:
    """Feedback alignment: ``feedbacks`` maps a Dense/Conv2D layer's name to its B (kernel's shape;
    a layer without one — the first — uses its own kernel). Returns (loss, logits, [(variable, update)])."""
    logits, caches = forward_chain(layers, x, training=True)
    error = output_error(loss, y, logits, sample_weight)
    pairs = backward_chain(layers, caches, error, lambda layer: feedbacks.get(layer.name, layer.kernel))
    return loss(y, logits, sample_weight), logits, pairs


def dfa_updates(layers: Sequence[keras.layers.Layer], feedbacks: dict[str, Any], x: Any, y: Any, loss: Any,
                sample_weight: Any = None) -> tuple[Any, Any, Pairs]:
    """Direct feedback alignment: ``feedbacks`` maps the name of each hidden block's first layer to
    its B_l (classes × size of the block's output). Returns (loss, logits, [(variable, update)])."""
    parts = blocks(layers)
    h, runs = x, []
    for part in parts:
        h, caches = forward_chain(part, h, training=True)
        runs.append((part, caches, h))
    logits = h
    error = output_error(loss, y, logits, sample_weight)
    flat_error = ops.reshape(error, (ops.shape(error)[0], -1))
    pairs: Pairs = []
    for part, caches, h_l in runs:
        if part is parts[-1]:
            delta = error
        else:
            b = ops.cast(feedbacks[part[0].name], flat_error.dtype)
            delta = ops.reshape(ops.matmul(flat_error, b), ops.shape(h_l))  # δh_l = e B_l
        pairs += backward_chain(part, caches, delta, lambda layer: layer.kernel)
    return loss(y, logits, sample_weight), logits, pairs


def feedback_shapes(layers: Sequence[keras.layers.Layer], rule: str, input_shape: Sequence[int | None],
                    num_outputs: int | None = None) -> dict[str, tuple[int, ...]]:
    """Shapes of the fixed random matrices: FA — each Dense/Conv2D's kernel shape but the first's;
    DFA — (outputs, size of each hidden block's output)."""
    if rule == "fa":
        return {l.name: tuple(l.kernel.shape) for l in param_layers(layers)[1:]}
    if rule == "dfa":
        shape = (None,) + tuple(input_shape)[1:]
        sizes = []
        for part in blocks(layers):
            for layer in part:
                shape = layer.compute_output_shape(shape)
            sizes.append((part[0].name, int(np.prod(np.asarray(shape[1:], dtype="int64")))))
        classes = num_outputs or sizes[-1][1]
        return {name: (classes, size) for name, size in sizes[:-1]}
    return {}


# ---------------------------------------------------------------------------- the wrapper
@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedbackAlignmentModel(RuleTraining, ZooModel):
    """Wraps a feed-forward chain model; ``fit`` trains it with ``rule``.

    Args:
        network: the wrapped model (Sequential or a chain-shaped functional model).
        rule: ``"fa"``, ``"dfa"`` (local rules) or ``"backprop"`` (the control: the backend's autodiff).
        seed: seed of the fixed random feedback matrices.
        feedback_scale: multiplies the matrices' default scale (FA: Glorot-uniform of the kernel;
            DFA: uniform with variance 1/classes).

    The feedback matrices are non-trainable weights: they are saved with the model. Compile with
    a loss the local rules know (:func:`output_error`); ``compile_default`` uses sparse softmax
    cross-entropy on logits.
    """

    step_key = None
    prediction_kind = "labels"

    def __init__(self, network: keras.Model, rule: str = "fa", seed: int = 0, feedback_scale: float = 1.0,
                 **kwargs: Any) -> None:
        rule = check_choice("rule", rule, RULES)
        super().__init__(**kwargs)
        self.network = network
        self.rule = rule
        self.seed = check_int("seed", seed, 0)
        self.feedback_scale = check_float("feedback_scale", feedback_scale)
        self.feedbacks: dict[str, Any] = {}
        self.learning_rule = "objective" if rule == "backprop" else "local"

    def build(self, input_shape: tuple[Any, ...]) -> None:
        input_shape = (None,) + tuple(input_shape)[1:]
        if not self.network.built:
            self.network.build(input_shape)
        self.layers_chain = chain_layers(self.network)
        param_layers(self.layers_chain)
        self._check_chain(input_shape)
        rng = np.random.default_rng(self.seed)
        for name, shape in feedback_shapes(self.layers_chain, self.rule, input_shape).items():
            if self.rule == "fa":
                fan_in = int(np.prod(shape[:-1]))
                limit = math.sqrt(6.0 / (fan_in + shape[-1]))
            else:
                limit = math.sqrt(3.0 / shape[0])
            value = rng.uniform(-limit, limit, size=shape).astype("float32") * self.feedback_scale
            self.feedbacks[name] = self.add_weight(shape=shape, initializer=keras.initializers.Constant(value),
                                                   trainable=False, name=f"feedback_{name}")
        self.built = True

    def _check_chain(self, input_shape: tuple[Any, ...]) -> None:
        shape = tuple(2 if s is None else s for s in input_shape)
        x = np.random.default_rng(0).normal(size=shape).astype("float32")
        h = x
        for layer in self.layers_chain:
            h = layer(h, training=False)
        direct = self.network(x, training=False)
        if not np.allclose(ops.convert_to_numpy(h), ops.convert_to_numpy(direct), atol=1e-5):
            raise TopdownZooError("the model is not a plain chain of layers: feedback alignment needs one")

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self.network(x, training=training)

    # ------------------------------------------------------------------ the learning rule
    def local_updates(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Pairs]:
        """FA or DFA updates of every trainable variable (see the module docstring)."""
        rule = fa_updates if self.rule == "fa" else dfa_updates
        return rule(self.layers_chain, self.feedbacks, x, y, self.loss, sample_weight)

    def objective(self, x: Any, y: Any, sample_weight: Any, training: bool = True) -> tuple[Any, Any]:
        """The backprop control: the compiled loss, differentiated by the backend."""
        logits = self.network(x, training=training)
        return self.compute_loss(x, y, logits, sample_weight, training=training), logits

    def evaluation_loss(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        return self.objective(x, y, sample_weight, training=False)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "rule": self.rule, "seed": self.seed, "feedback_scale": self.feedback_scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeedbackAlignmentModel:
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def with_feedback_alignment(network: keras.Model, rule: str = "fa", seed: int = 0, feedback_scale: float = 1.0,
                            input_shape: Sequence[int] | None = None, **kwargs: Any) -> FeedbackAlignmentModel:
    """Wrap ``network`` so that ``fit`` trains it with ``rule``; builds it when the input shape is known."""
    model = FeedbackAlignmentModel(network, rule=rule, seed=seed, feedback_scale=feedback_scale, **kwargs)
    if input_shape is not None:
        model.build((None,) + tuple(input_shape))
    elif network.built and getattr(network, "inputs", None):
        model.build(tuple(network.input_shape))
    return model

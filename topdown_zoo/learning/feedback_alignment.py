"""Feedback alignment (Lillicrap et al. 2016) and direct feedback alignment (Nøkland 2016).

Both replace backprop's weight transport Wᵀ by fixed random matrices, for any feed-forward Keras
model that is a chain of layers whose parameters sit in ``Dense`` and ``Conv2D`` layers (other
layers — activations, pooling, flatten, dropout, batch norm — are used as they are).

* **FA**: the error goes backwards layer by layer as in backprop, but through a fixed random
  B_l (stored with the kernel's shape; the backward pass uses its transpose where backprop uses
  the kernel's): δh_{l−1} = B_lᵀ δa_l instead of W_lᵀ δa_l. Weight updates are backprop's local
  rule with that δ: ΔW_l ∝ h_{l−1}ᵀ δa_l. Computed by autodiff with the identity

      a = W·sg(h) + B̄·h − sg(B̄·h)      (sg = stop-gradient, B̄ = sg(B))

  whose value is W·h, whose gradient w.r.t. W is backprop's and whose gradient w.r.t. h goes
  through B. With B = W the update is backprop's exactly.
* **DFA**: the output error e = ∂L/∂y (y = logits) is sent to every hidden block's output h_l
  through its own fixed random matrix B_l: δh_l = e·B_l (B_l: classes × size of h_l); each block
  l (a Dense/Conv2D and the layers after it up to the next one) learns from δh_l alone, its
  input being cut from the graph. The last block learns from the true gradient of the loss.

The rules are plain functions returning ``(loss, logits, [(gradient, variable), …])``;
:class:`FeedbackAlignmentModel` wraps a model and applies them in ``train_step`` through
``optimizer.apply_gradients`` (so Adam, schedules and clipping keep working).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from topdown_zoo.errors import TopdownZooError

_PACKAGE = "topdown_zoo"
RULES = ("fa", "dfa", "backprop")
PARAM_LAYERS = (keras.layers.Dense, keras.layers.Conv2D)


# ---------------------------------------------------------------------------- the chain
def chain_layers(model) -> list:
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


def param_layers(layers) -> list:
    found = []
    for layer in layers:
        if isinstance(layer, PARAM_LAYERS):
            if isinstance(layer, keras.layers.Conv2D) and (layer.groups != 1 or type(layer) is not keras.layers.Conv2D):
                raise TopdownZooError(f"layer {layer.name}: only plain Conv2D (groups=1) is supported")
            found.append(layer)
        elif layer.trainable_weights and not isinstance(layer, keras.layers.BatchNormalization):
            raise TopdownZooError(
                f"layer {layer.name} ({type(layer).__name__}) has parameters; feedback alignment supports "
                "chains whose parameters are in Dense / Conv2D (and BatchNormalization) layers")
    if not found:
        raise TopdownZooError("the model has no Dense or Conv2D layer to train")
    return found


def blocks(layers) -> list[list]:
    """Split the chain into blocks, each starting at a Dense/Conv2D layer (layers before the first
    one join the first block)."""
    out, current = [], []
    for layer in layers:
        if isinstance(layer, PARAM_LAYERS) and any(isinstance(l, PARAM_LAYERS) for l in current):
            out.append(current)
            current = []
        current.append(layer)
    out.append(current)
    return out


def _linear(layer, h, kernel):
    if isinstance(layer, keras.layers.Dense):
        return ops.matmul(h, kernel)
    return ops.conv(h, kernel, strides=layer.strides, padding=layer.padding, data_format=layer.data_format,
                    dilation_rate=layer.dilation_rate)


def _apply_with_feedback(layer, h, feedback):
    """The layer's output (value unchanged) with the input gradient routed through ``feedback``."""
    sg = ops.stop_gradient
    kernel = layer.kernel
    through_b = _linear(layer, h, sg(ops.cast(feedback, kernel.dtype)))
    z = _linear(layer, sg(h), kernel) + through_b - sg(through_b)
    if layer.use_bias:
        z = z + (layer.bias if isinstance(layer, keras.layers.Dense) or layer.data_format == "channels_last"
                 else ops.reshape(layer.bias, (1, -1, 1, 1)))
    return layer.activation(z)


# ---------------------------------------------------------------------------- the rules
def backprop_gradients(layers, x, y, loss_fn):
    """Plain backprop through the same chain (the reference the rules are compared with)."""
    import tensorflow as tf

    variables = [w for layer in layers for w in layer.trainable_weights]
    with tf.GradientTape() as tape:
        h = x
        for layer in layers:
            h = layer(h, training=True)
        loss = loss_fn(y, h)
    return loss, h, list(zip(tape.gradient(loss, variables), variables))


def fa_gradients(layers, feedbacks: dict, x, y, loss_fn):
    """Feedback alignment: ``feedbacks`` maps a Dense/Conv2D layer's name to its B (kernel's shape).
    Returns (loss, logits, [(gradient, variable), …])."""
    import tensorflow as tf

    variables = [w for layer in layers for w in layer.trainable_weights]
    first = param_layers(layers)[0]
    with tf.GradientTape() as tape:
        h = x
        for layer in layers:
            # the first layer's input gradient is never used: plain call
            if isinstance(layer, PARAM_LAYERS) and layer is not first:
                h = _apply_with_feedback(layer, h, feedbacks[layer.name])
            else:
                h = layer(h, training=True)
        loss = loss_fn(y, h)
    return loss, h, list(zip(tape.gradient(loss, variables), variables))


def dfa_gradients(layers, feedbacks: dict, x, y, loss_fn):
    """Direct feedback alignment: ``feedbacks`` maps the name of each hidden block's first layer to
    its B_l (classes × size of the block's output). Returns (loss, logits, [(gradient, variable), …])."""
    import tensorflow as tf

    variables = [w for layer in layers for w in layer.trainable_weights]
    parts = blocks(layers)
    with tf.GradientTape() as tape:
        outputs = []
        h = x
        for part in parts:
            h = ops.stop_gradient(h)  # each block learns from its own signal only
            for layer in part:
                h = layer(h, training=True)
            outputs.append(h)
        logits = outputs[-1]
        with tf.GradientTape() as inner:
            inner.watch(logits)
            loss = loss_fn(y, logits)
        error = ops.stop_gradient(inner.gradient(loss, logits))  # e = ∂L/∂y
        error = ops.reshape(error, (ops.shape(error)[0], -1))
        surrogate = loss
        for part, h_l in zip(parts[:-1], outputs[:-1]):
            b = ops.cast(feedbacks[part[0].name], error.dtype)
            delta = ops.reshape(ops.matmul(error, b), ops.shape(h_l))
            surrogate = surrogate + ops.sum(ops.stop_gradient(ops.cast(delta, h_l.dtype)) * h_l)
    grads = tape.gradient(surrogate, variables)
    return loss, logits, list(zip(grads, variables))


def feedback_shapes(layers, rule: str, input_shape, num_outputs: int | None = None) -> dict:
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
            sizes.append((part[0].name, int(np.prod(shape[1:]))))
        classes = num_outputs or sizes[-1][1]
        return {name: (classes, size) for name, size in sizes[:-1]}
    return {}


# ---------------------------------------------------------------------------- the wrapper
@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedbackAlignmentModel(keras.Model):
    """Wraps a feed-forward chain model; ``train_step`` learns with ``rule``.

    Args:
        network: the wrapped model (Sequential or a chain-shaped functional model).
        rule: ``"fa"``, ``"dfa"`` or ``"backprop"`` (the control).
        seed: seed of the fixed random feedback matrices.
        feedback_scale: multiplies the matrices' default scale (FA: Glorot-uniform of the kernel;
            DFA: uniform with variance 1/classes).

    The feedback matrices are non-trainable weights: they are saved with the model.
    """

    def __init__(self, network, rule: str = "fa", seed: int = 0, feedback_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if rule not in RULES:
            raise TopdownZooError(f"rule={rule!r} is not allowed; use one of: {', '.join(RULES)}")
        self.network = network
        self.rule = rule
        self.seed = int(seed)
        self.feedback_scale = float(feedback_scale)
        self.feedbacks = {}

    def build(self, input_shape):
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

    def _check_chain(self, input_shape):
        shape = tuple(2 if s is None else s for s in input_shape)
        x = np.random.default_rng(0).normal(size=shape).astype("float32")
        h = x
        for layer in self.layers_chain:
            h = layer(h, training=False)
        if not np.allclose(np.asarray(h), np.asarray(self.network(x, training=False)), atol=1e-5):
            raise TopdownZooError("the model is not a plain chain of layers: feedback alignment needs one")

    def call(self, x, training=None):
        return self.network(x, training=training)

    def rule_gradients(self, x, y, sample_weight=None):
        loss_fn = lambda yt, yp: self.compute_loss(x, yt, yp, sample_weight, training=True)  # noqa: E731
        if self.rule == "fa":
            return fa_gradients(self.layers_chain, self.feedbacks, x, y, loss_fn)
        if self.rule == "dfa":
            return dfa_gradients(self.layers_chain, self.feedbacks, x, y, loss_fn)
        return backprop_gradients(self.layers_chain, x, y, loss_fn)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, logits, grads_and_vars = self.rule_gradients(x, y, sample_weight)
        self.optimizer.apply_gradients([(g, v) for g, v in grads_and_vars if g is not None])
        from keras.src.losses import loss as loss_module

        self._loss_tracker.update_state(loss_module.unscale_loss_for_distribution(loss), sample_weight=ops.shape(x)[0])
        return self.compute_metrics(x, y, logits, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "rule": self.rule, "seed": self.seed, "feedback_scale": self.feedback_scale}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


def with_feedback_alignment(network, rule: str = "fa", seed: int = 0, feedback_scale: float = 1.0,
                            input_shape=None) -> FeedbackAlignmentModel:
    """Wrap ``network`` so that ``fit`` trains it with ``rule``; builds it when the input shape is known."""
    model = FeedbackAlignmentModel(network, rule=rule, seed=seed, feedback_scale=feedback_scale)
    if input_shape is not None:
        model.build((None,) + tuple(input_shape))
    elif network.built and getattr(network, "inputs", None):
        model.build(tuple(network.input_shape))
    return model

"""The BU-TD model (paper sections 3–5): a bottom-up network, its mirrored top-down network,
GaLU task attention and Counter-Hebbian learning.

**Mirror construction.** :func:`mirror` walks a BU network made of supported Keras layers and
returns a chain of *nodes*; each node runs its BU computation and its TD counterpart:

==========================  =============================================================
BU layer                    TD mirror
==========================  =============================================================
``Dense`` (no/relu act.)    transposed dense ``ū = u Wᵀ`` (bias-free)
``Conv2D`` any stride,      transposed convolution with the same kernel whose output has
'valid'/'same'              exactly the BU input's shape
``Flatten``                 reshape back to the BU input's shape
``BatchNormalization``      a separate TD batch norm with its own statistics (task pass);
                            the error pass applies the BU norm's transposed Jacobian
``ReLU``/``relu`` act.      TD non-linearity σ̄: ReLU in the task pass, GaLU gated by the
                            BU unit in the error pass (eq. 3)
``BasicBlock`` (ResNet)     its mirror: the two branches mirrored and summed
``Sequential``              its layers, in order
==========================  =============================================================

Any other layer raises :class:`~topdown_zoo.errors.TopdownZooError` naming it.

**Forward (Algorithm 2, steps 1–2).** The task ``t`` enters the TD stream through the task head
``H̄_task`` (a fixed, never-trained kernel) and descends with ReLU; the units it leaves active
(> 0) form the task's sub-network. The BU pass then computes every hidden unit as
``relu(z) · 1[h̄ > 0]`` (ReLU composed with GaLU on its counter unit), and the prediction head
(one decoder, or one per task with ``multi_decoder``) maps the top hidden layer to the output.

**Learning (Algorithms 1–2, steps 3–5; eq. 4).** ``train_step`` computes the output error,
runs the TD stream from the prediction head in bias-blocking mode with GaLU gating by the BU
activity (no non-linearity), and gives each weight the Counter-Hebb update ``a_j · b̄_i``
(:mod:`topdown_zoo.learning.counter_hebb`) through ``optimizer.apply_gradients``. Modes:

* ``symmetric`` — one set of weights serves both streams (the paper's default; equals backprop);
* ``asymmetric`` — separate TD kernels, initialised differently, receiving the same update, with
  weight decay ``weight_decay`` (0.05) on both streams;
* ``weakly_symmetric`` — separate TD kernels initialised equal to the BU ones; each stream's update
  is multiplied by its own element-wise noise N(1, ``noise_std``);
* ``feedback_alignment`` — separate random TD kernels that are never updated.

The task head is not updated in any mode. Batch-norm γ/β (BU only) get Δγ = Σ x̂·b̄, Δβ = Σ b̄;
the TD batch norms have no learnable parameters (they only normalise with their own statistics).
"""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import layers, ops

from topdown_zoo.errors import TopdownZooError
from topdown_zoo.layers.backbones import BN_MOMENTUM, BasicBlock
from topdown_zoo.layers.butd_layers import TDKernels, bu_conv2d, galu, td_conv2d, td_dense
from topdown_zoo.learning import counter_hebb as ch

_PACKAGE = "topdown_zoo"
MODES = ("symmetric", "asymmetric", "weakly_symmetric", "feedback_alignment")
SUPPORTED = "Dense, Conv2D, Flatten, BatchNormalization, ReLU / Activation('relu'), BasicBlock, Sequential"


# ------------------------------------------------------------------------------- nodes
class _Ctx:
    """State of one pass: training flag, the model (TD kernels), per-node caches."""

    def __init__(self, model, training, gates=None):
        self.model = model
        self.training = bool(training)
        self.gates = gates  # {relu node id: TD task activation} or None (no task attention)
        self.cache: dict[int, dict] = {}
        self.task_acts: dict[int, Any] = {}

    def td_kernel(self, node):
        return self.model._td_kernel(node)


class _Node:
    kernel_nodes: list = []

    def build(self, shape):
        self.in_shape = tuple(shape)
        self.out_shape = self._out_shape(self.in_shape)
        return self.out_shape

    def linear_nodes(self):
        return [self]


class DenseNode(_Node):
    def __init__(self, layer):
        self.layer = layer

    def _out_shape(self, shape):
        if len(shape) != 2:
            raise TopdownZooError(f"BU-TD: Dense layer {self.layer.name!r} needs a flat input (add Flatten); got {shape}")
        return (None, self.layer.units)

    def bu(self, x, ctx):
        ctx.cache[id(self)] = {"a": x}
        z = ops.matmul(x, ops.cast(self.layer.kernel, x.dtype))
        if self.layer.use_bias:
            z = z + ops.cast(self.layer.bias, x.dtype)
        return z

    def td(self, u, ctx, mode):
        if mode == "learn":
            ctx.cache[id(self)]["b_bar"] = u
        return td_dense(u, ctx.td_kernel(self))  # bias-blocking: the TD stream has no biases

    def updates(self, ctx):
        c = ctx.cache[id(self)]
        out = [(self.layer.kernel, ch.dense_update(c["a"], c["b_bar"]))]
        if self.layer.use_bias:
            out.append((self.layer.bias, ch.bias_update(c["b_bar"])))
        return out

    @property
    def kernel(self):
        return self.layer.kernel


class ConvNode(_Node):
    def __init__(self, layer):
        self.layer = layer
        if tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1 or layer.data_format != "channels_last":
            raise TopdownZooError(f"BU-TD: Conv2D {layer.name!r} must have dilation 1, groups 1 and channels_last")
        if layer.strides[0] != layer.strides[1]:
            raise TopdownZooError(f"BU-TD: Conv2D {layer.name!r} needs equal strides, got {layer.strides}")
        self.stride = int(layer.strides[0])
        self.padding = layer.padding

    def _out_shape(self, shape):
        return tuple(self.layer.compute_output_shape(shape))

    def bu(self, x, ctx):
        ctx.cache[id(self)] = {"a": x}
        z = bu_conv2d(x, self.layer.kernel, self.stride, self.padding)
        if self.layer.use_bias:
            z = z + ops.cast(self.layer.bias, x.dtype)
        return z

    def td(self, u, ctx, mode):
        if mode == "learn":
            ctx.cache[id(self)]["b_bar"] = u
        return td_conv2d(u, ctx.td_kernel(self), self.stride, self.padding, self.in_shape[1:3])

    def updates(self, ctx):
        c = ctx.cache[id(self)]
        out = [(self.layer.kernel, ch.conv2d_update(c["a"], c["b_bar"], self.layer.kernel.shape, self.stride, self.padding))]
        if self.layer.use_bias:
            out.append((self.layer.bias, ch.bias_update(c["b_bar"])))
        return out

    @property
    def kernel(self):
        return self.layer.kernel


class BatchNormNode(_Node):
    """BU batch norm; TD: a separate norm (task pass) / the BU norm's transposed Jacobian (error pass)."""

    def __init__(self, layer, td_layer):
        self.layer, self.td_layer = layer, td_layer
        if not layer.center or not layer.scale:
            raise TopdownZooError(f"BU-TD: BatchNormalization {layer.name!r} needs center=True and scale=True")

    def _out_shape(self, shape):
        if self.layer.axis not in (-1, len(shape) - 1, [len(shape) - 1]):
            raise TopdownZooError(f"BU-TD: BatchNormalization {self.layer.name!r} must normalise the last axis")
        if not self.td_layer.built:
            self.td_layer.build(shape)
        return shape

    def bu(self, x, ctx):
        axes = tuple(range(len(x.shape) - 1))
        eps = self.layer.epsilon
        if ctx.training:
            mean, var = ops.moments(x, axes=axes)
        else:
            mean, var = ops.cast(self.layer.moving_mean, x.dtype), ops.cast(self.layer.moving_variance, x.dtype)
        inv = ops.rsqrt(var + eps)
        x_hat = (x - mean) * inv
        y = x_hat * ops.cast(self.layer.gamma, x.dtype) + ops.cast(self.layer.beta, x.dtype)
        if ctx.training:  # the BU norm's running statistics, as keras' BatchNormalization keeps them
            m = self.layer.momentum
            self.layer.moving_mean.assign(self.layer.moving_mean * m + ops.cast(ops.stop_gradient(mean), "float32") * (1 - m))
            self.layer.moving_variance.assign(
                self.layer.moving_variance * m + ops.cast(ops.stop_gradient(var), "float32") * (1 - m))
        ctx.cache[id(self)] = {"x_hat": x_hat, "inv": inv, "axes": axes}
        return y

    def td(self, u, ctx, mode):
        if mode == "task":
            return self.td_layer(u, training=ctx.training)
        c = ctx.cache[id(self)]
        c["b_bar"] = u
        g = u * ops.cast(self.layer.gamma, u.dtype) * c["inv"]
        if not ctx.training:
            return g
        # transposed Jacobian of the batch-statistics normalisation
        x_hat, axes = c["x_hat"], c["axes"]
        return g - ops.mean(g, axis=axes, keepdims=True) - x_hat * ops.mean(g * x_hat, axis=axes, keepdims=True)

    def updates(self, ctx):
        c = ctx.cache[id(self)]
        dg, db = ch.batchnorm_updates(c["x_hat"], c["b_bar"])
        return [(self.layer.gamma, dg), (self.layer.beta, db)]


class FlattenNode(_Node):
    def __init__(self, layer):
        self.layer = layer

    def _out_shape(self, shape):
        n = 1
        for d in shape[1:]:
            n *= int(d)
        return (None, n)

    def bu(self, x, ctx):
        return ops.reshape(x, (-1, self.out_shape[1]))

    def td(self, u, ctx, mode):
        return ops.reshape(u, (-1,) + tuple(int(d) for d in self.in_shape[1:]))

    def updates(self, ctx):
        return []


class ReLUNode(_Node):
    """A hidden layer's non-linearity: BU relu(z)·1[h̄>0]; TD ReLU (task) or GaLU (error)."""

    def __init__(self, name):
        self.name = name

    def _out_shape(self, shape):
        return shape

    def bu(self, z, ctx):
        h = ops.relu(z)
        if ctx.gates is not None:
            h = galu(h, ctx.gates[id(self)])
        ctx.cache[id(self)] = {"h": h}
        return h

    def td(self, u, ctx, mode):
        if mode == "task":
            h_bar = ops.relu(u)
            ctx.task_acts[id(self)] = h_bar
            return h_bar
        return galu(u, ctx.cache[id(self)]["h"])

    def updates(self, ctx):
        return []


class ResidualNode(_Node):
    """``y = main(x) + shortcut(x)`` (shortcut = identity when empty); the TD mirror sums the
    mirrored branches."""

    def __init__(self, main, shortcut, name):
        self.main, self.shortcut, self.name = list(main), list(shortcut), name

    def build(self, shape):
        self.in_shape = tuple(shape)
        s = shape
        for n in self.main:
            s = n.build(s)
        t = shape
        for n in self.shortcut:
            t = n.build(t)
        if tuple(s[1:]) != tuple(t[1:]):
            raise TopdownZooError(f"BU-TD: residual block {self.name!r} branches disagree: {s} vs {t}")
        self.out_shape = s
        return s

    def bu(self, x, ctx):
        return _run_bu(self.main, x, ctx) + _run_bu(self.shortcut, x, ctx)

    def td(self, u, ctx, mode):
        return _run_td(self.main, u, ctx, mode) + _run_td(self.shortcut, u, ctx, mode)

    def updates(self, ctx):
        return [p for n in self.main + self.shortcut for p in n.updates(ctx)]

    def linear_nodes(self):
        return [m for n in self.main + self.shortcut for m in n.linear_nodes()]


def _run_bu(nodes, x, ctx):
    for n in nodes:
        x = n.bu(x, ctx)
    return x


def _run_td(nodes, u, ctx, mode):
    for n in reversed(nodes):
        u = n.td(u, ctx, mode)
    return u


def _relu_layer(layer) -> bool:
    if isinstance(layer, layers.ReLU):
        return (layer.max_value is None and not layer.negative_slope and not layer.threshold)
    if isinstance(layer, layers.Activation):
        return keras.activations.serialize(layer.activation) in ("relu", {"class_name": "function", "config": "relu"}) \
            or getattr(layer.activation, "__name__", "") == "relu"
    return False


def _activation_nodes(layer):
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name == "linear":
        return []
    if name == "relu":
        return [ReLUNode(f"{layer.name}_relu")]
    raise TopdownZooError(f"BU-TD cannot mirror activation {name!r} of layer {layer.name!r}; use linear or relu")


def mirror(bu_layers, td_norms: dict | None = None, dtype=None) -> list[_Node]:
    """The node chain of a BU network (a list of Keras layers or a ``Sequential``): each node
    holds its BU layer and runs the mirrored TD computation. ``td_norms`` collects the separate
    TD batch-norm layers created for the BU ones (keyed by the BU layer's name)."""
    td_norms = {} if td_norms is None else td_norms
    if isinstance(bu_layers, keras.Sequential):
        bu_layers = list(bu_layers.layers)
    nodes: list[_Node] = []
    for layer in bu_layers:
        if isinstance(layer, keras.Sequential):
            nodes += mirror(layer.layers, td_norms, dtype)
        elif isinstance(layer, layers.Dense):
            nodes += [DenseNode(layer)] + _activation_nodes(layer)
        elif isinstance(layer, layers.Conv2D) and type(layer) is layers.Conv2D:
            nodes += [ConvNode(layer)] + _activation_nodes(layer)
        elif isinstance(layer, layers.BatchNormalization):
            nodes.append(BatchNormNode(layer, _td_norm(layer, td_norms, dtype)))
        elif isinstance(layer, layers.Flatten):
            nodes.append(FlattenNode(layer))
        elif _relu_layer(layer):
            nodes.append(ReLUNode(layer.name))
        elif isinstance(layer, BasicBlock):
            nodes += _mirror_block(layer, td_norms, dtype)
        else:
            raise TopdownZooError(
                f"BU-TD cannot mirror layer {layer.name!r} of type {type(layer).__name__}; supported: {SUPPORTED}")
    return nodes


def _td_norm(layer, td_norms, dtype, prefix=""):
    key = f"{prefix}{layer.name}"
    if key not in td_norms:
        td_norms[key] = layers.BatchNormalization(center=False, scale=False, momentum=layer.momentum,
                                                  epsilon=layer.epsilon, dtype=dtype, name=f"td_{key}")
    elif td_norms[key] is not None and getattr(td_norms[key], "_bu_layer_id", id(layer)) != id(layer):
        raise TopdownZooError(f"BU-TD: two batch-norm layers are both named {key!r}; give them distinct names")
    td_norms[key]._bu_layer_id = id(layer)
    return td_norms[key]


def _mirror_block(block: BasicBlock, td_norms, dtype):
    if not block.built:
        raise TopdownZooError(f"BU-TD: build BasicBlock {block.name!r} before mirroring it")
    main = [ConvNode(block.conv1), BatchNormNode(block.bn1, _td_norm(block.bn1, td_norms, dtype, f"{block.name}_")),
            ReLUNode(f"{block.name}_relu1"), ConvNode(block.conv2),
            BatchNormNode(block.bn2, _td_norm(block.bn2, td_norms, dtype, f"{block.name}_"))]
    short = []
    if block.has_projection:
        short = [ConvNode(block.proj), BatchNormNode(block.proj_bn, _td_norm(block.proj_bn, td_norms, dtype, f"{block.name}_"))]
    return [ResidualNode(main, short, block.name), ReLUNode(f"{block.name}_out")]


def _build_layers(bu_layers, shape):
    """Builds the BU layers in order (BasicBlock needs its input shape to create its sub-layers)."""
    for layer in bu_layers:
        if isinstance(layer, keras.Sequential):
            shape = _build_layers(layer.layers, shape)
            continue
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def flat_nodes(nodes):
    """Every node, depth first (residual branches included)."""
    out = []
    for n in nodes:
        out.append(n)
        if isinstance(n, ResidualNode):
            out += flat_nodes(n.main) + flat_nodes(n.shortcut)
    return out


# ------------------------------------------------------------------------------- model
@keras.saving.register_keras_serializable(package=_PACKAGE)
class BUTDModel(keras.Model):
    """Bottom-up network + its mirrored top-down network, with task attention and Counter-Hebb.

    Inputs: ``(images, task_ids)`` (task ids int, shape (B,)). Output: the logits of each
    example's task, (B, num_classes).

    Args:
        bu_layers: the BU body (input → top hidden layer), Keras layers or their serialized
            configs; see :func:`mirror` for what is supported.
        num_tasks: number of tasks (task head width).
        num_classes: outputs per task (1 for a binary task with ``loss="sigmoid"``).
        multi_decoder: one prediction head per task instead of one shared head.
        loss: ``softmax`` (cross-entropy) or ``sigmoid`` (binary cross-entropy).
        mode: ``symmetric``, ``asymmetric``, ``weakly_symmetric`` or ``feedback_alignment``.
        weight_decay: added to the Counter-Hebb update as ``decay·W`` (default: 0.05 in
            asymmetric mode, else 0).
        noise_std: σ of the weakly symmetric mode's N(1, σ) update noise.
        td_seed: seed of the separate TD kernels and of the task head.
    """

    def __init__(self, bu_layers, num_tasks: int = 2, num_classes: int = 10, multi_decoder: bool = False,
                 loss: str = "softmax", mode: str = "symmetric", weight_decay: float | None = None,
                 noise_std: float = 0.01, td_seed: int = 1234, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise TopdownZooError(f"unknown BU-TD mode {mode!r}; allowed: {', '.join(MODES)}")
        if loss not in ("softmax", "sigmoid"):
            raise TopdownZooError(f"unknown BU-TD loss {loss!r}; allowed: softmax, sigmoid")
        self.bu_layers = [keras.layers.deserialize(l) if isinstance(l, dict) else l for l in bu_layers]
        self.num_tasks, self.num_classes = int(num_tasks), int(num_classes)
        self.multi_decoder, self.loss_name, self.mode = bool(multi_decoder), loss, mode
        self.weight_decay = float(0.05 if weight_decay is None and mode == "asymmetric" else (weight_decay or 0.0))
        self.noise_std, self.td_seed = float(noise_std), int(td_seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.acc_tracker = keras.metrics.Mean(name="accuracy")

    # ---------------------------------------------------------------- build
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        image_shape = tuple(input_shape[0]) if isinstance(input_shape[0], (tuple, list)) else input_shape
        image_shape = (None,) + tuple(image_shape[1:])
        _build_layers(self.bu_layers, image_shape)
        self.td_norms: dict = {}
        self.nodes = mirror(self.bu_layers, self.td_norms, dtype=self.dtype_policy)
        shape = image_shape
        for n in self.nodes:
            shape = n.build(shape)
        if len(shape) != 2:
            raise TopdownZooError(f"BU-TD: the BU body must end flat (add Flatten); its output shape is {shape}")
        self.hidden = int(shape[1])
        self.td_norm_layers = list(self.td_norms.values())
        head_shape = ((self.num_tasks,) if self.multi_decoder else ()) + (self.hidden, self.num_classes)
        self.pred_kernel = self.add_weight(shape=head_shape, initializer="glorot_uniform", name="pred_head")
        # H̄_task: task one-hot → top hidden layer; fixed (paper section 6: never updated)
        self.task_kernel = self.add_weight(shape=(self.hidden, self.num_tasks),
                                           initializer=keras.initializers.GlorotUniform(seed=self.td_seed + 999),
                                           name="task_head", trainable=False)
        self.kernel_nodes = [m for n in self.nodes for m in n.linear_nodes() if isinstance(m, (DenseNode, ConvNode))]
        self._kernel_index = {id(n): i for i, n in enumerate(self.kernel_nodes)}
        if self.mode != "symmetric":
            shapes = [tuple(n.kernel.shape) for n in self.kernel_nodes] + [head_shape]
            names = [n.layer.name for n in self.kernel_nodes] + ["pred_head"]
            self.td_kernels = TDKernels(shapes, names, seed=self.td_seed, trainable=self.mode != "feedback_alignment",
                                        dtype=self.dtype_policy, name="td_kernels")
            if self.mode == "weakly_symmetric":  # start exactly symmetric
                for td, bu in zip(self.td_kernels.kernels, [n.kernel for n in self.kernel_nodes] + [self.pred_kernel]):
                    td.assign(bu)
        self.built = True

    def _td_kernel(self, node):
        if self.mode == "symmetric":
            return node.kernel
        return self.td_kernels.kernels[self._kernel_index[id(node)]]

    def _td_pred_kernel(self):
        return self.pred_kernel if self.mode == "symmetric" else self.td_kernels.kernels[-1]

    def bu_td_kernel_pairs(self):
        """(BU kernel, TD kernel) for every mirrored dense/conv layer and the prediction head."""
        bu = [n.kernel for n in self.kernel_nodes] + [self.pred_kernel]
        td = bu if self.mode == "symmetric" else list(self.td_kernels.kernels)
        return list(zip(bu, td))

    # ---------------------------------------------------------------- passes
    @staticmethod
    def _split(inputs):
        if isinstance(inputs, dict):
            return inputs["image"], inputs["task"]
        x, task = inputs
        return x, ops.reshape(ops.cast(task, "int32"), (-1,))

    def task_pass(self, task, training=False):
        """Algorithm 2, step 1: the TD stream from the task head with ReLU. Returns the context
        holding every hidden unit's TD activation (``ctx.task_acts``) — the task's sub-network."""
        ctx = _Ctx(self, training)
        onehot = ops.one_hot(task, self.num_tasks, dtype=self.compute_dtype)
        u = ops.matmul(onehot, ops.transpose(ops.cast(self.task_kernel, self.compute_dtype)))
        u = ops.relu(u)  # σ̄ of the top hidden layer
        ctx.top_task = u
        _run_td(self.nodes, u, ctx, "task")
        return ctx

    def _head(self, h, task):
        k = ops.cast(self.pred_kernel, h.dtype)
        if self.multi_decoder:
            return ops.einsum("bh,bhc->bc", h, ops.take(k, task, axis=0))
        return ops.matmul(h, k)

    def bu_pass(self, x, task, training=False, attention=True):
        """Algorithm 2, steps 1–2: (logits, ctx) of the instructed forward."""
        gates = None
        if attention:
            tctx = self.task_pass(task, training)
            gates = {k: ops.stop_gradient(v) for k, v in tctx.task_acts.items()}
        ctx = _Ctx(self, training, gates)
        x = ops.cast(x, self.compute_dtype)
        h = _run_bu(self.nodes, x, ctx)
        if attention:  # the top hidden layer is gated by its counter units as well
            h = galu(h, tctx.top_task)
        ctx.top = h
        return self._head(h, task), ctx

    def call(self, inputs, training=False):
        x, task = self._split(inputs)
        logits, _ = self.bu_pass(x, task, training=training)
        return ops.cast(logits, "float32")

    def counter_hebb_updates(self, x, task, y, training=True):
        """Algorithm 2 steps 1–4 and the raw eq.-4 updates: (loss, logits, [(variable, update)]).

        The updates are descent directions (see :mod:`topdown_zoo.learning.counter_hebb`); they are
        for the BU variables (and the TD kernels in the non-symmetric modes, see ``train_step``)."""
        logits, ctx = self.bu_pass(x, task, training=training)
        logits32 = ops.cast(logits, "float32")
        loss, err = ch.output_error(logits32, y, self.loss_name)
        err = ops.cast(err, logits.dtype)
        if hasattr(self, "optimizer") and self.optimizer is not None and training:
            err = self.optimizer.scale_loss(err)  # LossScaleOptimizer: scale, apply_gradients unscales
        # TD error pass from the prediction head (bias-blocking, GaLU gated by the BU activity)
        k_td = ops.cast(self._td_pred_kernel(), err.dtype)
        h = ctx.top
        if self.multi_decoder:
            u = ops.einsum("bc,bhc->bh", err, ops.take(k_td, task, axis=0))
            onehot = ops.one_hot(task, self.num_tasks, dtype=err.dtype)
            head_update = ops.einsum("bt,bh,bc->thc", onehot, h, err)
        else:
            u = td_dense(err, k_td)
            head_update = ch.dense_update(h, err)
        u = galu(u, h)
        _run_td(self.nodes, u, ctx, "learn")
        pairs = [(self.pred_kernel, head_update)]
        for n in self.nodes:
            pairs += n.updates(ctx)
        pairs = [(v, ops.cast(d, v.dtype)) for v, d in pairs]
        return loss, logits32, pairs

    # ---------------------------------------------------------------- training
    def _mode_updates(self, pairs):
        """Turn the raw updates into (update, variable) pairs for the optimizer, per mode."""
        kernel_ids = {id(b): t for b, t in self.bu_td_kernel_pairs()}
        out = []
        td_pairs = []
        for v, d in pairs:
            if self.mode in ("asymmetric", "weakly_symmetric") and id(v) in kernel_ids:
                td_pairs.append((kernel_ids[id(v)], d))
            out.append((v, d))
        if self.mode == "weakly_symmetric":
            out = [(v, ch.noisy(d, self.noise_std)) for v, d in out]
            td_pairs = [(v, ch.noisy(d, self.noise_std)) for v, d in td_pairs]
        out += td_pairs
        if self.weight_decay:
            out = ch.with_weight_decay(out, self.weight_decay)
        # in model.trainable_variables' order: the optimizer builds its slots in that order, as
        # Keras does when it rebuilds the optimizer of a reloaded .keras file
        by_id = {id(v): d for v, d in out}
        return [(by_id[id(v)], v) for v in self.trainable_variables if id(v) in by_id]

    def train_step(self, data):
        (inputs, y) = data[0], data[1]
        x, task = self._split(inputs)
        loss, logits, pairs = self.counter_hebb_updates(x, task, y, training=True)
        self.optimizer.apply_gradients(self._mode_updates(pairs))
        return self._update_metrics(loss, logits, y)

    def test_step(self, data):
        (inputs, y) = data[0], data[1]
        x, task = self._split(inputs)
        logits = self(inputs, training=False)
        loss, _ = ch.output_error(logits, y, self.loss_name)
        return self._update_metrics(loss, logits, y)

    def _update_metrics(self, loss, logits, y):
        self.loss_tracker.update_state(loss)
        self.acc_tracker.update_state(self.correct(logits, y))
        return {m.name: m.result() for m in self.metrics}

    def correct(self, logits, y):
        """Per-example 1/0 correctness of the task's prediction."""
        if self.loss_name == "softmax":
            pred = ops.argmax(logits, axis=-1)
            return ops.cast(ops.equal(ops.cast(pred, "int32"), ops.cast(ops.reshape(y, (-1,)), "int32")), "float32")
        pred = ops.cast(ops.greater(ops.reshape(logits, (-1,)), 0), "float32")
        return ops.cast(ops.equal(pred, ops.cast(ops.reshape(y, (-1,)), "float32")), "float32")

    @property
    def metrics(self):
        return [self.loss_tracker, self.acc_tracker]

    def get_config(self):
        return {**super().get_config(), "bu_layers": [keras.layers.serialize(l) for l in self.bu_layers],
                "num_tasks": self.num_tasks, "num_classes": self.num_classes, "multi_decoder": self.multi_decoder,
                "loss": self.loss_name, "mode": self.mode, "weight_decay": self.weight_decay,
                "noise_std": self.noise_std, "td_seed": self.td_seed}

    def relu_nodes(self):
        """The gated hidden layers, bottom to top (the units that form the task sub-networks)."""
        return [n for n in flat_nodes(self.nodes) if isinstance(n, ReLUNode)]


# ------------------------------------------------------------------------------- BU bodies
def multimnist_body(channels: int = 64, hidden: int = 50, use_bias: bool = False, dtype=None):
    """Appendix B's Multi-MNIST BU net: two 5×5 stride-1 'valid' convolutions of 64 channels,
    each followed by a 3×3 stride-2 convolution (the max pools' replacement), ReLU after every
    convolution, then FC-50 + ReLU. No biases (paper section 3)."""
    c = lambda f, k, s, n: layers.Conv2D(f, k, s, padding="valid", activation="relu", use_bias=use_bias, dtype=dtype, name=n)  # noqa: E731
    return [c(channels, 5, 1, "conv1"), c(channels, 3, 2, "pool1"), c(channels, 5, 1, "conv2"), c(channels, 3, 2, "pool2"),
            layers.Flatten(dtype=dtype, name="flatten"),
            layers.Dense(hidden, activation="relu", use_bias=use_bias, dtype=dtype, name="fc")]


def resnet18_body(widths: Sequence[int] = (64, 128, 256, 512), stem: str = "cifar", dtype=None):
    """Appendix B's CelebA encoder: ResNet-18 with batch norm, without the final average pooling
    (the last stage's feature map is flattened) and without the classifier."""
    if stem != "cifar":
        raise TopdownZooError("BU-TD ResNet-18: only the 'cifar' stem (3×3 conv, no max pool) can be mirrored")
    out = [layers.Conv2D(widths[0], 3, 1, padding="same", use_bias=False, dtype=dtype, name="stem_conv"),
           layers.BatchNormalization(momentum=BN_MOMENTUM, dtype=dtype, name="stem_bn"),
           layers.ReLU(dtype=dtype, name="stem_relu")]
    for i, width in enumerate(widths, start=1):
        stride = 1 if i == 1 else 2
        out += [BasicBlock(width, stride, dtype=dtype, name=f"s{i}b1"), BasicBlock(width, 1, dtype=dtype, name=f"s{i}b2")]
    return out + [layers.Flatten(dtype=dtype, name="flatten")]


BODIES = {"multimnist": multimnist_body, "resnet18": resnet18_body}


def build_butd(input_shape, body: str = "multimnist", body_config: dict | None = None, num_tasks: int = 2,
               num_classes: int = 10, multi_decoder: bool = False, loss: str = "softmax", mode: str = "symmetric",
               weight_decay: float | None = None, noise_std: float = 0.01, td_seed: int = 1234, **kwargs):
    """Registry builder: a built :class:`BUTDModel` over a named BU body."""
    if body not in BODIES:
        raise TopdownZooError(f"unknown BU-TD body {body!r}; allowed: {', '.join(BODIES)}")
    model = BUTDModel(BODIES[body](**dict(body_config or {})), num_tasks=num_tasks, num_classes=num_classes,
                      multi_decoder=multi_decoder, loss=loss, mode=mode, weight_decay=weight_decay,
                      noise_std=noise_std, td_seed=td_seed, **kwargs)
    x = ops.zeros((1,) + tuple(input_shape))
    model((x, ops.zeros((1,), dtype="int32")))
    return model


build_butd.model_class = BUTDModel

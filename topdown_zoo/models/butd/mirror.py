"""The mirror construction of the BU-TD model (paper section 3, eqs. 1–3).

:func:`mirror` walks a BU network made of supported Keras layers and returns a chain of *nodes*;
each node runs its BU computation (eq. 1) and its TD counterpart (eq. 2):

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

Any other layer raises :class:`~topdown_zoo.errors.ConfigError` naming it.

A node's TD method runs in one of two modes: ``"task"`` (Algorithm 2 step 1: the TD stream from
the task head with ReLU) or ``"learn"`` (Algorithm 1 step 3 / Algorithm 2 step 4: the error pass
in bias-blocking mode with GaLU gating, no non-linearity). In the learn pass every node with
weights records its counter units ``b̄`` and :meth:`updates` returns the eq.-4 updates.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
from keras import layers, ops

from topdown_zoo.errors import ConfigError
from topdown_zoo.layers.backbones import BasicBlock
from topdown_zoo.learning import counter_hebb as ch
from topdown_zoo.models.butd.layers import bu_conv2d, bu_dense, galu, td_conv2d, td_dense

SUPPORTED = "Dense, Conv2D, Flatten, BatchNormalization, ReLU / Activation('relu'), BasicBlock, Sequential"


class PassContext:
    """State of one pass: training flag, the TD kernel of each node, per-node caches.

    Args:
        td_kernel: node → the kernel its TD mirror uses (the BU kernel in symmetric mode).
        training: batch statistics (True) or moving statistics (False) in batch norms.
        gates: {id(ReLU node): TD task activation} gating the BU units (eq. 3), or None.
    """

    def __init__(self, td_kernel: Callable[[Any], Any], training: bool, gates: dict[int, Any] | None = None) -> None:
        self.td_kernel = td_kernel
        self.training = bool(training)
        self.gates = gates
        self.cache: dict[int, dict[str, Any]] = {}
        self.task_acts: dict[int, Any] = {}
        self.top_task: Any = None
        self.top: Any = None


class Node:
    """One mirrored piece of the BU network: ``bu`` (eq. 1), ``td`` (eq. 2), ``updates`` (eq. 4)."""

    def build(self, shape: Sequence[Any]) -> tuple[Any, ...]:
        self.in_shape = tuple(shape)
        self.out_shape = self._out_shape(self.in_shape)
        return self.out_shape

    def _out_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return shape

    def bu(self, x: Any, ctx: PassContext) -> Any:
        raise NotImplementedError

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
        raise NotImplementedError

    def updates(self, ctx: PassContext) -> list[tuple[Any, Any]]:
        """(BU variable, eq.-4 update) pairs after a learn pass."""
        return []

    def linear_nodes(self) -> list[Node]:
        return [self]

    @property
    def kernel(self) -> Any:
        """The BU kernel of a dense / conv node (the one its TD mirror transposes)."""
        raise TypeError(f"{type(self).__name__} has no kernel")


class LinearNode(Node):
    """A dense or convolutional connection ``b = W ⊗ a (+ bias)``. The TD mirror applies the
    transposed map without bias (bias-blocking); the Counter-Hebb update of W collects ``a · b̄``
    over every connection sharing a weight (eq. 4) and a bias collects ``Σ b̄``."""

    layer: Any

    def _forward(self, x: Any) -> Any:
        raise NotImplementedError

    def _transpose(self, u: Any, kernel: Any) -> Any:
        raise NotImplementedError

    def _kernel_update(self, a: Any, b_bar: Any) -> Any:
        raise NotImplementedError

    def bu(self, x: Any, ctx: PassContext) -> Any:
        ctx.cache[id(self)] = {"a": x}
        z = self._forward(x)
        if self.layer.use_bias:
            z = z + ops.cast(self.layer.bias, x.dtype)
        return z

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
        if mode == "learn":
            ctx.cache[id(self)]["b_bar"] = u
        return self._transpose(u, ctx.td_kernel(self))  # bias-blocking: the TD stream has no biases

    def updates(self, ctx: PassContext) -> list[tuple[Any, Any]]:
        c = ctx.cache[id(self)]
        out = [(self.layer.kernel, self._kernel_update(c["a"], c["b_bar"]))]
        if self.layer.use_bias:
            out.append((self.layer.bias, ch.bias_update(c["b_bar"])))
        return out

    @property
    def kernel(self) -> Any:
        return self.layer.kernel


class DenseNode(LinearNode):
    """``b = W a (+ bias)``; TD: ``ā = Wᵀ b̄`` without bias (bias-blocking)."""

    def __init__(self, layer: layers.Dense) -> None:
        self.layer = layer

    def _out_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        if len(shape) != 2:
            raise ConfigError(f"BU-TD: Dense layer {self.layer.name!r} needs a flat input (add Flatten); got {shape}")
        return (None, self.layer.units)

    def _forward(self, x: Any) -> Any:
        return bu_dense(x, self.layer.kernel)

    def _transpose(self, u: Any, kernel: Any) -> Any:
        return td_dense(u, kernel)

    def _kernel_update(self, a: Any, b_bar: Any) -> Any:
        return ch.dense_update(a, b_bar)


class ConvNode(LinearNode):
    """``b = W ⋆ a (+ bias)``; TD: the transposed convolution back to the BU input's shape."""

    def __init__(self, layer: layers.Conv2D) -> None:
        self.layer = layer
        plain = tuple(layer.dilation_rate) == (1, 1) and getattr(layer, "groups", 1) == 1
        if not plain or layer.data_format != "channels_last":
            raise ConfigError(f"BU-TD: Conv2D {layer.name!r} must have dilation 1, groups 1 and channels_last")
        if layer.strides[0] != layer.strides[1]:
            raise ConfigError(f"BU-TD: Conv2D {layer.name!r} needs equal strides, got {layer.strides}")
        self.stride = int(layer.strides[0])
        self.padding = layer.padding

    def _out_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self.layer.compute_output_shape(shape))

    def _forward(self, x: Any) -> Any:
        return bu_conv2d(x, self.layer.kernel, self.stride, self.padding)

    def _transpose(self, u: Any, kernel: Any) -> Any:
        return td_conv2d(u, kernel, self.stride, self.padding, self.in_shape[1:3])

    def _kernel_update(self, a: Any, b_bar: Any) -> Any:
        return ch.conv2d_update(a, b_bar, self.layer.kernel.shape, self.stride, self.padding)


class BatchNormNode(Node):
    """BU batch norm; TD: a separate norm (task pass) / the BU norm's transposed Jacobian (error pass)."""

    def __init__(self, layer: layers.BatchNormalization, td_layer: layers.BatchNormalization) -> None:
        self.layer, self.td_layer = layer, td_layer
        if not layer.center or not layer.scale:
            raise ConfigError(f"BU-TD: BatchNormalization {layer.name!r} needs center=True and scale=True")

    def _out_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.layer.axis not in (-1, len(shape) - 1, [len(shape) - 1]):
            raise ConfigError(f"BU-TD: BatchNormalization {self.layer.name!r} must normalise the last axis")
        if not self.td_layer.built:
            self.td_layer.build(shape)
        return shape

    def bu(self, x: Any, ctx: PassContext) -> Any:
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
            self.layer.moving_mean.assign(
                self.layer.moving_mean * m + ops.cast(ops.stop_gradient(mean), "float32") * (1 - m))
            self.layer.moving_variance.assign(
                self.layer.moving_variance * m + ops.cast(ops.stop_gradient(var), "float32") * (1 - m))
        ctx.cache[id(self)] = {"x_hat": x_hat, "inv": inv, "axes": axes}
        return y

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
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

    def updates(self, ctx: PassContext) -> list[tuple[Any, Any]]:
        c = ctx.cache[id(self)]
        dg, db = ch.batchnorm_updates(c["x_hat"], c["b_bar"])
        return [(self.layer.gamma, dg), (self.layer.beta, db)]


class FlattenNode(Node):
    def __init__(self, layer: layers.Flatten) -> None:
        self.layer = layer

    def _out_shape(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        n = 1
        for d in shape[1:]:
            n *= int(d)
        return (None, n)

    def bu(self, x: Any, ctx: PassContext) -> Any:
        return ops.reshape(x, (-1, self.out_shape[1]))

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
        return ops.reshape(u, (-1,) + tuple(int(d) for d in self.in_shape[1:]))


class ReLUNode(Node):
    """A hidden layer's non-linearity: BU relu(z)·1[h̄>0] (eq. 3); TD ReLU (task) or GaLU (error)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def bu(self, z: Any, ctx: PassContext) -> Any:
        h = ops.relu(z)
        if ctx.gates is not None:
            h = galu(h, ctx.gates[id(self)])
        ctx.cache[id(self)] = {"h": h}
        return h

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
        if mode == "task":
            h_bar = ops.relu(u)
            ctx.task_acts[id(self)] = h_bar
            return h_bar
        return galu(u, ctx.cache[id(self)]["h"])


class ResidualNode(Node):
    """``y = main(x) + shortcut(x)`` (shortcut = identity when empty); the TD mirror sums the
    mirrored branches."""

    def __init__(self, main: Sequence[Node], shortcut: Sequence[Node], name: str) -> None:
        self.main, self.shortcut, self.name = list(main), list(shortcut), name

    def build(self, shape: Sequence[Any]) -> tuple[Any, ...]:
        self.in_shape = tuple(shape)
        s = tuple(shape)
        for n in self.main:
            s = n.build(s)
        t = tuple(shape)
        for n in self.shortcut:
            t = n.build(t)
        if tuple(s[1:]) != tuple(t[1:]):
            raise ConfigError(f"BU-TD: residual block {self.name!r} branches disagree: {s} vs {t}")
        self.out_shape = s
        return s

    def bu(self, x: Any, ctx: PassContext) -> Any:
        return run_bu(self.main, x, ctx) + run_bu(self.shortcut, x, ctx)

    def td(self, u: Any, ctx: PassContext, mode: str) -> Any:
        return run_td(self.main, u, ctx, mode) + run_td(self.shortcut, u, ctx, mode)

    def updates(self, ctx: PassContext) -> list[tuple[Any, Any]]:
        return [p for n in self.main + self.shortcut for p in n.updates(ctx)]

    def linear_nodes(self) -> list[Node]:
        return [m for n in self.main + self.shortcut for m in n.linear_nodes()]


def run_bu(nodes: Sequence[Node], x: Any, ctx: PassContext) -> Any:
    """The BU stream through ``nodes`` (eq. 1)."""
    for n in nodes:
        x = n.bu(x, ctx)
    return x


def run_td(nodes: Sequence[Node], u: Any, ctx: PassContext, mode: str) -> Any:
    """The TD stream through ``nodes``, top to bottom (eq. 2), in ``mode`` "task" or "learn"."""
    for n in reversed(nodes):
        u = n.td(u, ctx, mode)
    return u


def flat_nodes(nodes: Sequence[Node]) -> list[Node]:
    """Every node, depth first (residual branches included)."""
    out: list[Node] = []
    for n in nodes:
        out.append(n)
        if isinstance(n, ResidualNode):
            out += flat_nodes(n.main) + flat_nodes(n.shortcut)
    return out


def build_layers(bu_layers: Sequence[Any], shape: Sequence[Any]) -> tuple[Any, ...]:
    """Builds the BU layers in order (BasicBlock needs its input shape to create its sub-layers)."""
    shape = tuple(shape)
    for layer in bu_layers:
        if isinstance(layer, keras.Sequential):
            shape = build_layers(layer.layers, shape)
            continue
        try:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(f"BU-TD: layer {layer.name!r} cannot take inputs of shape {shape}: {err}") from None
    return shape


def mirror(bu_layers: Any, td_norms: dict[str, Any] | None = None, dtype: Any = None) -> list[Node]:
    """The node chain of a BU network (a list of Keras layers or a ``Sequential``): each node
    holds its BU layer and runs the mirrored TD computation. ``td_norms`` collects the separate
    TD batch-norm layers created for the BU ones (keyed by the BU layer's name)."""
    return _Mirror({} if td_norms is None else td_norms, dtype).nodes(bu_layers)


class _Mirror:
    """One mirror construction: the TD batch norms created so far and the BU norm of each."""

    def __init__(self, td_norms: dict[str, Any], dtype: Any) -> None:
        self.td_norms, self.dtype = td_norms, dtype
        self.owners: dict[str, int] = {}

    def nodes(self, bu_layers: Any) -> list[Node]:
        if isinstance(bu_layers, keras.Sequential):
            bu_layers = list(bu_layers.layers)
        nodes: list[Node] = []
        for layer in bu_layers:
            if isinstance(layer, keras.Sequential):
                nodes += self.nodes(layer.layers)
            elif isinstance(layer, layers.Dense):
                nodes += [DenseNode(layer)] + _activation_nodes(layer)
            elif isinstance(layer, layers.Conv2D) and type(layer) is layers.Conv2D:
                nodes += [ConvNode(layer)] + _activation_nodes(layer)
            elif isinstance(layer, layers.BatchNormalization):
                nodes.append(self.norm(layer))
            elif isinstance(layer, layers.Flatten):
                nodes.append(FlattenNode(layer))
            elif _relu_layer(layer):
                nodes.append(ReLUNode(layer.name))
            elif isinstance(layer, BasicBlock):
                nodes += self.block(layer)
            else:
                raise ConfigError(
                    f"BU-TD cannot mirror layer {layer.name!r} of type {type(layer).__name__}; supported: {SUPPORTED}")
        return nodes

    def norm(self, layer: layers.BatchNormalization, prefix: str = "") -> BatchNormNode:
        key = f"{prefix}{layer.name}"
        if self.owners.setdefault(key, id(layer)) != id(layer):
            raise ConfigError(f"BU-TD: two batch-norm layers are both named {key!r}; give them distinct names")
        if key not in self.td_norms:
            self.td_norms[key] = layers.BatchNormalization(center=False, scale=False, momentum=layer.momentum,
                                                           epsilon=layer.epsilon, dtype=self.dtype, name=f"td_{key}")
        return BatchNormNode(layer, self.td_norms[key])

    def block(self, block: BasicBlock) -> list[Node]:
        if not block.built:
            raise ConfigError(f"BU-TD: build BasicBlock {block.name!r} before mirroring it")
        prefix = f"{block.name}_"
        main = [ConvNode(block.conv1), self.norm(block.bn1, prefix), ReLUNode(f"{block.name}_relu1"),
                ConvNode(block.conv2), self.norm(block.bn2, prefix)]
        short: list[Node] = []
        if block.has_projection:
            short = [ConvNode(block.proj), self.norm(block.proj_bn, prefix)]
        return [ResidualNode(main, short, block.name), ReLUNode(f"{block.name}_out")]


def _relu_layer(layer: Any) -> bool:
    if isinstance(layer, layers.ReLU):
        return (layer.max_value is None and not layer.negative_slope and not layer.threshold)
    if isinstance(layer, layers.Activation):
        return keras.activations.serialize(layer.activation) in ("relu", {"class_name": "function", "config": "relu"}) \
            or getattr(layer.activation, "__name__", "") == "relu"
    return False


def _activation_nodes(layer: Any) -> list[Node]:
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name == "linear":
        return []
    if name == "relu":
        return [ReLUNode(f"{layer.name}_relu")]
    raise ConfigError(f"BU-TD cannot mirror activation {name!r} of layer {layer.name!r}; use linear or relu")

"""The BU-TD model (paper sections 3–5): a bottom-up network, its mirrored top-down network
(:mod:`topdown_zoo.models.butd.mirror`), GaLU task attention and Counter-Hebbian learning.

**Forward (Algorithm 2, steps 1–2).** The task ``t`` enters the TD stream through the task head
``H̄_task`` (a fixed, never-trained kernel) and descends with ReLU (eq. 2); the units it leaves
active (> 0) form the task's sub-network. The BU pass then computes every hidden unit as
``relu(z) · 1[h̄ > 0]`` (eq. 1 composed with the GaLU of eq. 3 on its counter unit), and the
prediction head (one decoder, or one per task with ``multi_decoder``) maps the top hidden layer to
the output.

**Learning (Algorithms 1–2, steps 3–5; eq. 4).** The model is a ``learning_rule = "local"``
:class:`~topdown_zoo.learning.trainer.RuleTraining` model: :meth:`BUTDModel.local_updates`
computes the output error, runs the TD stream from the prediction head in bias-blocking mode with
GaLU gating by the BU activity (no non-linearity), gives each weight the Counter-Hebb update
``a_j · b̄_i`` (:mod:`topdown_zoo.learning.counter_hebb`) and distributes the updates over the BU
and TD weights as the mode asks (:mod:`topdown_zoo.learning.counter_hebb_modes`: ``symmetric``,
``asymmetric``, ``weakly_symmetric``, ``feedback_alignment``). The task head is not updated in any
mode. Batch-norm γ/β (BU only) get Δγ = Σ x̂·b̄, Δβ = Σ b̄; the TD batch norms have no learnable
parameters (they only normalise with their own statistics).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras
import numpy as np
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int
from topdown_zoo.errors import ConfigError, InputSpecError, TopdownZooError
from topdown_zoo.learning import counter_hebb as ch
from topdown_zoo.learning.counter_hebb_modes import MODES, mode_updates
from topdown_zoo.learning.trainer import RuleTraining
from topdown_zoo.models.base import InputSpec, Prediction, ZooModel
from topdown_zoo.models.butd.layers import TDKernels, galu, td_dense
from topdown_zoo.models.butd.mirror import (
    LinearNode,
    Node,
    PassContext,
    ReLUNode,
    build_layers,
    flat_nodes,
    mirror,
    run_bu,
    run_td,
)

_PACKAGE = "topdown_zoo"
#: what ``ops.convert_to_numpy`` raises for a traced / symbolic tensor on each backend
_SYMBOLIC_ERRORS = (TypeError, ValueError, NotImplementedError, RuntimeError, AttributeError)


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ConfigError(f"{name}={value!r} is not allowed; it must be true or false")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BUTDModel(RuleTraining, ZooModel):
    """Bottom-up network + its mirrored top-down network, with task attention and Counter-Hebb.

    Inputs: ``(images, task_ids)`` (task ids int, shape (B,)) or ``{"image": …, "task": …}``.
    Output: the logits of each example's task, (B, num_classes).

    Args:
        bu_layers: the BU body (input → top hidden layer), Keras layers or their serialized
            configs; see :func:`~topdown_zoo.models.butd.mirror.mirror` for what is supported.
        num_tasks: number of tasks (task head width).
        num_classes: outputs per task (1 for a binary task with ``loss="sigmoid"``).
        multi_decoder: one prediction head per task instead of one shared head.
        loss: ``softmax`` (cross-entropy) or ``sigmoid`` (binary cross-entropy).
        mode: ``symmetric``, ``asymmetric``, ``weakly_symmetric`` or ``feedback_alignment``.
        weight_decay: added to the Counter-Hebb update as ``decay·W`` (default: 0.05 in
            asymmetric mode, else 0).
        noise_std: σ of the weakly symmetric mode's N(1, σ) update noise.
        td_seed: seed of the separate TD kernels, of the task head and of the update noise.
    """

    learning_rule = "local"
    prediction_kind = "task_labels"
    evaluator = "topdown_zoo.models.butd.evaluate:evaluate_butd"

    def __init__(self, bu_layers: Sequence[Any], num_tasks: int = 2, num_classes: int = 10,
                 multi_decoder: bool = False, loss: str = "softmax", mode: str = "symmetric",
                 weight_decay: float | None = None, noise_std: float = 0.01, td_seed: int = 1234,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, MODES)
        self.loss_name = check_choice("loss", loss, ch.LOSSES)
        if isinstance(bu_layers, (str, bytes, Mapping)) or not isinstance(bu_layers, Sequence) or not bu_layers:
            raise ConfigError(f"bu_layers={bu_layers!r} is not allowed; it must be a non-empty list of Keras layers")
        self.bu_layers = [keras.layers.deserialize(l) if isinstance(l, dict) else l for l in bu_layers]
        self.num_tasks = check_int("num_tasks", num_tasks, 1)
        self.num_classes = check_int("num_classes", num_classes, 1)
        self.multi_decoder = _check_bool("multi_decoder", multi_decoder)
        if weight_decay is None:
            weight_decay = 0.05 if mode == "asymmetric" else 0.0
        self.weight_decay = check_float("weight_decay", weight_decay, 0.0)
        self.noise_std = check_float("noise_std", noise_std, 0.0)
        self.td_seed = check_int("td_seed", td_seed, 0)
        # the weakly symmetric noise: a generator whose state is a (non-trainable) variable, so
        # the noise advances inside JAX's stateless step too; not part of the weights file
        self.noise_seed = (keras.random.SeedGenerator(self.td_seed + 7, name="update_noise")
                           if self.mode == "weakly_symmetric" else None)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.acc_tracker = keras.metrics.Mean(name="accuracy")

    # ---------------------------------------------------------------- build
    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, Mapping):
            input_shape = input_shape["image"]
        input_shape = tuple(input_shape)
        image_shape = tuple(input_shape[0]) if isinstance(input_shape[0], (tuple, list)) else input_shape
        self.image_shape = (None,) + tuple(image_shape[1:])
        build_layers(self.bu_layers, self.image_shape)
        self.td_norms: dict[str, Any] = {}
        self.nodes = mirror(self.bu_layers, self.td_norms, dtype=self.dtype_policy)
        shape = self.image_shape
        for n in self.nodes:
            shape = n.build(shape)
        if len(shape) != 2:
            raise ConfigError(f"BU-TD: the BU body must end flat (add Flatten); its output shape is {shape}")
        self.hidden = int(shape[1])
        self.td_norm_layers = list(self.td_norms.values())
        head_shape = ((self.num_tasks,) if self.multi_decoder else ()) + (self.hidden, self.num_classes)
        self.pred_kernel = self.add_weight(shape=head_shape, initializer="glorot_uniform", name="pred_head")
        # H̄_task: task one-hot → top hidden layer; fixed (paper section 6: never updated)
        self.task_kernel = self.add_weight(shape=(self.hidden, self.num_tasks),
                                           initializer=keras.initializers.GlorotUniform(seed=self.td_seed + 999),
                                           name="task_head", trainable=False)
        self.kernel_nodes = [m for n in self.nodes for m in n.linear_nodes() if isinstance(m, LinearNode)]
        self._kernel_index = {id(n): i for i, n in enumerate(self.kernel_nodes)}
        if self.mode != "symmetric":
            shapes = [tuple(n.kernel.shape) for n in self.kernel_nodes] + [head_shape]
            names = [n.layer.name for n in self.kernel_nodes] + ["pred_head"]
            self.td_kernels = TDKernels(shapes, names, seed=self.td_seed, trainable=self.mode != "feedback_alignment",
                                        dtype=self.dtype_policy, name="td_kernels")
            if self.mode == "weakly_symmetric":  # start exactly symmetric
                for td, bu in zip(self.td_kernels.kernels, [n.kernel for n in self.kernel_nodes] + [self.pred_kernel]):
                    td.assign(ops.copy(bu))  # a copy: on JAX, two variables must not share a buffer
        self.built = True

    def td_kernel(self, node: Node) -> Any:
        """The kernel the TD mirror of ``node`` uses (the BU kernel itself in symmetric mode)."""
        if self.mode == "symmetric":
            return node.kernel
        return self.td_kernels.kernels[self._kernel_index[id(node)]]

    def _td_pred_kernel(self) -> Any:
        return self.pred_kernel if self.mode == "symmetric" else self.td_kernels.kernels[-1]

    def bu_td_kernel_pairs(self) -> list[tuple[Any, Any]]:
        """(BU kernel, TD kernel) for every mirrored dense/conv layer and the prediction head."""
        bu = [n.kernel for n in self.kernel_nodes] + [self.pred_kernel]
        td = bu if self.mode == "symmetric" else list(self.td_kernels.kernels)
        return list(zip(bu, td))

    def relu_nodes(self) -> list[ReLUNode]:
        """The gated hidden layers, bottom to top (the units that form the task sub-networks)."""
        return [n for n in flat_nodes(self.nodes) if isinstance(n, ReLUNode)]

    # ---------------------------------------------------------------- inputs (the contract)
    def input_specs(self) -> list[InputSpec]:
        """An image and one task id per example."""
        shape = getattr(self, "image_shape", None) or self._build_shape()
        return [InputSpec("image", tuple(shape[1:])), InputSpec("task", (), "int32")]

    def integer_input_high(self, name: str) -> int:
        return self.num_tasks if name == "task" else super().integer_input_high(name)

    def split_inputs(self, inputs: Any) -> tuple[Any, Any]:
        """(images, task ids as int32 of shape (B,)) from ``(images, tasks)`` or a dict."""
        if isinstance(inputs, Mapping):
            x, task = inputs["image"], inputs["task"]
        elif isinstance(inputs, (tuple, list)) and len(inputs) == 2:
            x, task = inputs
        else:
            raise InputSpecError(f"{self.registry_name or type(self).__name__} takes (images, task ids) or "
                                 "{'image': ..., 'task': ...}; got a single input")
        return x, ops.reshape(ops.cast(task, "int32"), (-1,))

    def _check_task_eagerly(self, x: Any, task: Any) -> None:
        """Refuse out-of-range task ids when they are concrete values (traced ones can't be read)."""
        try:
            values = ops.convert_to_numpy(task)
        except _SYMBOLIC_ERRORS:
            return
        self.check_inputs((x, values))

    # ---------------------------------------------------------------- passes
    def task_pass(self, task: Any, training: bool = False) -> PassContext:
        """Algorithm 2, step 1: the TD stream from the task head with ReLU. Returns the context
        holding every hidden unit's TD activation (``ctx.task_acts``) — the task's sub-network."""
        ctx = PassContext(self.td_kernel, training)
        onehot = ops.one_hot(task, self.num_tasks, dtype=self.compute_dtype)
        u = ops.matmul(onehot, ops.transpose(ops.cast(self.task_kernel, self.compute_dtype)))
        u = ops.relu(u)  # σ̄ of the top hidden layer
        ctx.top_task = u
        run_td(self.nodes, u, ctx, "task")
        return ctx

    def _head(self, h: Any, task: Any) -> Any:
        k = ops.cast(self.pred_kernel, h.dtype)
        if self.multi_decoder:
            return ops.einsum("bh,bhc->bc", h, ops.take(k, task, axis=0))
        return ops.matmul(h, k)

    def bu_pass(self, x: Any, task: Any, training: bool = False, attention: bool = True) -> tuple[Any, PassContext]:
        """Algorithm 2, steps 1–2: (logits, ctx) of the instructed forward (eqs. 1 and 3)."""
        gates = None
        tctx = None
        if attention:
            tctx = self.task_pass(task, training)
            gates = {k: ops.stop_gradient(v) for k, v in tctx.task_acts.items()}
        ctx = PassContext(self.td_kernel, training, gates)
        x = ops.cast(x, self.compute_dtype)
        h = run_bu(self.nodes, x, ctx)
        if tctx is not None:  # the top hidden layer is gated by its counter units as well
            h = galu(h, tctx.top_task)
        ctx.top = h
        return self._head(h, task), ctx

    def call(self, inputs: Any, training: bool = False) -> Any:
        x, task = self.split_inputs(inputs)
        self._check_task_eagerly(x, task)
        logits, _ = self.bu_pass(x, task, training=training)
        return ops.cast(logits, "float32")

    # ---------------------------------------------------------------- learning (eq. 4)
    def counter_hebb_updates(self, x: Any, task: Any, y: Any,
                             training: bool = True) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        """Algorithm 2 steps 1–4 and the raw eq.-4 updates of the BU weights:
        (loss, logits, [(variable, update)]). The updates are descent directions (see
        :mod:`topdown_zoo.learning.counter_hebb`); :meth:`local_updates` distributes them per mode."""
        logits, ctx = self.bu_pass(x, task, training=training)
        logits32 = ops.cast(logits, "float32")
        loss, err = ch.output_error(logits32, y, self.loss_name)
        # mixed_float16: the error pass runs on the loss-scaled error (no float16 underflow); the
        # updates are unscaled below, the trainer scales what it hands to the optimizer
        optimizer = getattr(self, "optimizer", None)
        scale = optimizer.scale_loss(1.0) if training and optimizer is not None else 1.0
        err = ops.cast(err * scale, logits.dtype)
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
        run_td(self.nodes, u, ctx, "learn")
        pairs = [(self.pred_kernel, head_update)]
        for n in self.nodes:
            pairs += n.updates(ctx)
        pairs = [(v, ops.cast(d, v.dtype) / scale) for v, d in pairs]
        return loss, logits32, pairs

    def local_updates(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, list[tuple[Any, Any]]]:
        """The Counter-Hebb (variable, update) pairs of the mode (Algorithm 2 step 5, eq. 4).
        ``sample_weight`` is not used (the paper's loss is the plain batch mean)."""
        images, task = self.split_inputs(x)
        loss, logits, pairs = self.counter_hebb_updates(images, task, y, training=True)
        return loss, logits, mode_updates(pairs, self.mode, self.bu_td_kernel_pairs(), noise_std=self.noise_std,
                                          weight_decay=self.weight_decay, seed=self.noise_seed)

    def evaluation_loss(self, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        images, task = self.split_inputs(x)
        logits, _ = self.bu_pass(images, task, training=False)
        logits = ops.cast(logits, "float32")
        loss, _ = ch.output_error(logits, y, self.loss_name)
        return loss, logits

    def update_step_metrics(self, loss: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any) -> dict[str, Any]:
        self.loss_tracker.update_state(loss)
        self.acc_tracker.update_state(self.correct(y_pred, y))
        return {m.name: m.result() for m in self.metrics}

    def correct(self, logits: Any, y: Any) -> Any:
        """Per-example 1/0 correctness of the task's prediction."""
        if self.loss_name == "softmax":
            pred = ops.argmax(logits, axis=-1)
            return ops.cast(ops.equal(ops.cast(pred, "int32"), ops.cast(ops.reshape(y, (-1,)), "int32")), "float32")
        pred = ops.cast(ops.greater(ops.reshape(logits, (-1,)), 0), "float32")
        return ops.cast(ops.equal(pred, ops.cast(ops.reshape(y, (-1,)), "float32")), "float32")

    @property
    def metrics(self) -> list[Any]:
        return [self.loss_tracker, self.acc_tracker]

    def compile_default(self, optimizer: Any) -> None:
        """Counter-Hebb brings its own loss and accuracy trackers: only the optimizer is compiled."""
        self.compile(optimizer=optimizer)

    # ---------------------------------------------------------------- meaning (the contract)
    def task_names(self) -> list[str]:
        """The tasks' names: the registry entry's preprocessing ``tasks`` when known, else "0", "1", …"""
        names = None
        if self.registry_name:
            from topdown_zoo.registry import get_spec

            try:
                names = get_spec(self.registry_name).preprocessing.get("tasks")
            except TopdownZooError:
                names = None
        if names and len(names) == self.num_tasks:
            return [str(n) for n in names]
        return [str(t) for t in range(self.num_tasks)]

    def _task_index(self, task: Any) -> int:
        names = self.task_names()
        if isinstance(task, str) and task in names:
            return names.index(task)
        if isinstance(task, (int, np.integer)) and not isinstance(task, bool) and 0 <= int(task) < self.num_tasks:
            return int(task)
        raise InputSpecError(f"task={task!r} is not allowed; use a task id in [0, {self.num_tasks - 1}] or one of "
                             f"the names {', '.join(names)}")

    def _labels(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, confidence) per example from one task's logits."""
        if self.loss_name == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-logits))
            label = (logits > 0).astype("int32")
            conf = np.where(label == 1, p, 1.0 - p)
            return (label[:, 0], conf[:, 0]) if logits.shape[-1] == 1 else (label, conf)
        z = np.exp(logits - logits.max(-1, keepdims=True))
        return logits.argmax(-1), (z / z.sum(-1, keepdims=True)).max(-1)

    def _logits(self, images: Any, tasks: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = [ops.convert_to_numpy(self((images[i:i + batch_size], tasks[i:i + batch_size]), training=False))
               for i in range(0, len(tasks), batch_size)]
        return np.concatenate(out, axis=0)

    def interpret(self, inputs: Any, task: Any = None, **options: Any) -> Prediction:
        """Task labels and confidences.

        ``inputs`` may be images only: then ``task=None`` answers every task (columns
        ``label_<task>`` and ``confidence_<task>``, task names from the registry entry's
        preprocessing when known, else the index) and ``task=t`` (an id or a name) answers task
        ``t``. With ``(images, task ids)`` each example is answered for its own task (columns
        ``task``, ``label``, ``confidence``). Task ids outside ``[0, num_tasks)`` raise
        :class:`~topdown_zoo.errors.InputSpecError`."""
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise InputSpecError(f"{self.registry_name or type(self).__name__} takes no prediction option "
                                 f"{', '.join(given)} (only task)")
        if isinstance(inputs, Mapping) or (isinstance(inputs, (tuple, list)) and len(inputs) == 2):
            if task is not None:
                raise InputSpecError("give the task either with the inputs or as the task option, not both")
            images, tasks = self.unpack_inputs(inputs)
            images = np.asarray(ops.convert_to_numpy(images))
            tasks = np.asarray(ops.convert_to_numpy(tasks)).reshape(-1).astype("int32")
            self.check_inputs((images, tasks))
            label, conf = self._labels(self._logits(images, tasks))
            return Prediction({"task": tasks, "label": label, "confidence": conf})
        images = np.asarray(ops.convert_to_numpy(inputs))
        names = self.task_names()
        chosen = range(self.num_tasks) if task is None else [self._task_index(task)]
        columns: dict[str, np.ndarray] = {}
        for t in chosen:
            label, conf = self._labels(self._logits(images, np.full((len(images),), t, "int32")))
            columns[f"label_{names[t]}"] = label
            columns[f"confidence_{names[t]}"] = conf
        return Prediction(columns)

    # ---------------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "bu_layers": [keras.layers.serialize(l) for l in self.bu_layers],
                "num_tasks": self.num_tasks, "num_classes": self.num_classes, "multi_decoder": self.multi_decoder,
                "loss": self.loss_name, "mode": self.mode, "weight_decay": self.weight_decay,
                "noise_std": self.noise_std, "td_seed": self.td_seed}

"""Contextual Backpropagation Loops (Fein-Ashley, CBL paper sections 3.3–3.6).

A CBL model wraps a backbone ``F`` given as ordered stages f⁽¹⁾…f⁽ᴸ⁺¹⁾ (eq. 2):

* τ = 0: a plain forward pass, y⁽⁰⁾ = F(x) (eq. 5);
* context z⁽τ⁾ = g(y⁽τ⁾), a learned map of the output (eqs. 3, 6);
* refinement of every tapped stage output h⁽ˡ⁾ (eq. 7)::

      h⁽ˡ⁾ ← α·h⁽ˡ⁾ + (1 − α)·ψ⁽ˡ⁾(h⁽ˡ⁾, z⁽τ⁾)

* recomputation of the output from the refined states (eq. 8), repeated T times.

How the refinement propagates. Each step τ+1 is one bottom-up sweep from the lowest tapped
stage to the output: a tapped stage's pre-refinement state h⁽ˡ⁾ in eq. 7 is the bottom-up value
computed from the *already refined* stages below it (for the lowest tap it is the input-driven
value, which does not change across steps). Refining early layers therefore changes everything
above them, every adapter influences y⁽τ⁺¹⁾ and receives a gradient — unlike the public
reference code, whose conv adapters are applied to states that never reach the output.
The lowest tapped stage and every stage below it are computed once per input: their input never
changes, so each step starts from the lowest tap's bottom-up output and only re-applies eq. 7 there.

Inference with ``tolerance > 0`` stops refining an example once its output moves by less than
``tolerance`` (max-abs change of y between consecutive steps: eq. 11's fixed-point criterion);
the loop is a ``keras.ops.while_loop`` that exits when every example has converged.
Training always unrolls all T steps and minimises Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9, BPTT).

Contract (:class:`~topdown_zoo.models.base.ZooModel`): ``step_key = "iterations"``,
``step_outputs(x)`` = :meth:`CBLModel.refine` = [y⁽⁰⁾, …, y⁽ᵀ⁾], class logits.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import keras
from keras import ops

from topdown_zoo.checks import check_choice, check_float, check_int, check_steps
from topdown_zoo.errors import ConfigError
from topdown_zoo.layers.backbones import DEFAULT_TAPS, make_backbone
from topdown_zoo.learning.bptt import StepLossTraining, resolve_step_weights
from topdown_zoo.models import loops
from topdown_zoo.models.base import ZooModel
from topdown_zoo.models.cbl.adapters import ADAPTERS, make_adapter
from topdown_zoo.models.cbl.backbones import KERAS_MODEL, keras_model_stages

_PACKAGE = "topdown_zoo"
CONTEXT_INPUTS = ("softmax", "logits")


class _StagedModel(ZooModel):
    """A backbone's stages f⁽¹⁾…f⁽ᴸ⁺¹⁾ (eq. 2) applied in order; shared by the baseline and CBL."""

    @classmethod
    def num_classes_overrides(cls, config: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
        """The head size lives in ``backbone_config`` for the zoo's own backbones."""
        if "num_classes" in config or "backbone_config" not in config:
            return super().num_classes_overrides(config, num_classes)
        return {"backbone_config": {**dict(config["backbone_config"] or {}), "num_classes": num_classes}}

    def __init__(self, backbone: str = "standard_cnn", backbone_config: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone
        self.backbone_config = dict(backbone_config or {})
        if backbone == KERAS_MODEL:  # any Keras model cut at its taps (models/cbl/backbones.py)
            stages = keras_model_stages(dtype=self.dtype_policy, **self.backbone_config)
        else:
            stages = make_backbone(backbone, dtype=self.dtype_policy, **self.backbone_config)
        self.stage_names = [name for name, _ in stages]
        self.stage_layers = [layer for _, layer in stages]

    def _apply_stages(self, h: Any, start: int, stop: int, training: bool | None = None) -> Any:
        for layer in self.stage_layers[start:stop]:
            h = layer(h, training=training)
        return h

    def _build_stages(self, input_shape: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Builds every stage; returns the output shape of each."""
        shape = (None,) + tuple(input_shape)[1:]
        shapes = []
        h = keras.KerasTensor(shape, dtype=self.compute_dtype)
        for layer in self.stage_layers:
            h = layer(h)
            shapes.append(tuple(h.shape))
        return shapes

    def _as_float32(self, y: Any) -> Any:
        return ops.cast(y, "float32")

    def refine(self, x: Any, training: bool = False) -> list[Any]:
        """Per-step outputs (the family's name for ``step_outputs``)."""
        raise NotImplementedError

    def step_outputs(self, inputs: Any, training: bool = False) -> list[Any]:
        """The contract's per-step outputs: :meth:`refine`."""
        return self.refine(inputs, training=training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone, "backbone_config": self.backbone_config}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeedforwardClassifier(_StagedModel):
    """The paper's feed-forward baseline (StandardCNN / ResNet-18): y = F(x) (eq. 1), one pass."""

    step_key = None
    iterations = 0

    def build(self, input_shape: tuple[Any, ...]) -> None:
        self._build_stages(input_shape)
        self.built = True

    def call(self, x: Any, training: bool | None = None) -> Any:
        return self._as_float32(self._apply_stages(x, 0, len(self.stage_layers), training))

    def refine(self, x: Any, training: bool = False) -> list[Any]:
        """Per-step outputs for API parity with CBL: a single step, [y⁽⁰⁾]."""
        return [self(x, training=training)]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CBLModel(StepLossTraining, _StagedModel):
    """A backbone with Contextual Backpropagation Loops.

    Args:
        backbone: ``"standard_cnn"`` or ``"resnet18"`` (see :mod:`topdown_zoo.layers.backbones`), or
            ``"keras_model"``: any Keras model cut at its taps (:mod:`topdown_zoo.models.cbl.backbones`;
            built by :func:`topdown_zoo.add_feedback`).
        backbone_config: keyword arguments of the backbone factory (``num_classes``, ...).
        iterations: T, the number of refinement steps (eq. 7–8); 0 gives the plain backbone.
        alpha: α of eq. 7 in [0, 1]; 0 replaces a state by its refined version (the paper's default).
        alpha_trainable: learn one α per tap (parametrised as a sigmoid, initialised at ``alpha``).
        adapter: ``"gating"`` (σ(Wz+b)⊙h, default), ``"film"`` or ``"concat"`` (concat + 1×1 conv).
        taps: names of the stages whose outputs get feedback; default: every conv block/stage.
        step_weights: λ_τ of eq. 9: ``"uniform"`` (default), ``"last"`` or T+1 numbers.
        tolerance: inference stops refining an example once max|y⁽τ⁺¹⁾−y⁽τ⁾| < tolerance
            (eq. 11; 0 = always run T steps).
        context_dim: size of the context vector z (eq. 3).
        context_input: what g reads: ``"softmax"`` of the logits (default) or the raw ``"logits"``.
    """

    step_key = "iterations"

    def __init__(
        self,
        backbone: str = "standard_cnn",
        backbone_config: dict[str, Any] | None = None,
        iterations: int = 2,
        alpha: float = 0.0,
        alpha_trainable: bool = False,
        adapter: str = "gating",
        taps: Sequence[str] | None = None,
        step_weights: str | Sequence[float] = "uniform",
        tolerance: float = 0.0,
        context_dim: int = 64,
        context_input: str = "softmax",
        **kwargs: Any,
    ) -> None:
        # the cheap checks first: nothing is allocated for a config that is refused
        iterations = check_steps("iterations", iterations)
        super().__init__(backbone=backbone, backbone_config=backbone_config, **kwargs)
        self.iterations = iterations
        self.alpha = check_float("alpha", alpha, 0.0, 1.0)
        self.alpha_trainable = bool(alpha_trainable)
        self.adapter = check_choice("adapter", adapter, ADAPTERS)
        taps = list(taps) if taps is not None else list(DEFAULT_TAPS.get(backbone, self.stage_names[:-1]))
        unknown = [t for t in taps if t not in self.stage_names[:-1]]
        if unknown or not taps:
            raise ConfigError(
                f"taps={taps!r} is not allowed; choose one or more of: {', '.join(self.stage_names[:-1])}"
            )
        self.taps = [name for name in self.stage_names if name in taps]  # bottom-up order
        self._lambdas = resolve_step_weights(step_weights, self.iterations)
        self.step_weights = step_weights if isinstance(step_weights, str) else list(self._lambdas)
        self.tolerance = check_float("tolerance", tolerance, 0.0)
        self.context_dim = check_int("context_dim", context_dim, 1)
        self.context_input = check_choice("context_input", context_input, CONTEXT_INPUTS)

        self._tap_index = {name: i for i, name in enumerate(self.stage_names) if name in self.taps}
        self.first_tap = min(self._tap_index.values())
        self.context = keras.layers.Dense(self.context_dim, activation="tanh", dtype=self.dtype_policy, name="context")
        self.adapters = [make_adapter(self.adapter, name=f"adapter_{name}") for name in self.taps]

    # ---------------------------------------------------------------- building
    def build(self, input_shape: tuple[Any, ...]) -> None:
        shapes = self._build_stages(input_shape)
        self.context.build(shapes[-1])
        z_shape = (None, self.context_dim)
        for adapter, tap in zip(self.adapters, self.taps):
            adapter.build(shapes[self._tap_index[tap]], z_shape)
        if self.alpha_trainable:
            a = min(max(self.alpha, 1e-3), 1 - 1e-3)
            self.alpha_logits = self.add_weight(
                shape=(len(self.taps),),
                initializer=keras.initializers.Constant(math.log(a / (1 - a))),
                name="alpha_logits",
            )
        self.built = True

    # ---------------------------------------------------------------- dynamics
    def mixing_weights(self) -> list[Any]:
        """α of eq. 7 for each tap (a tensor when learnable)."""
        if self.alpha_trainable:
            alphas = ops.sigmoid(self.alpha_logits)
            return [alphas[i] for i in range(len(self.taps))]
        return [self.alpha] * len(self.taps)

    def context_vector(self, y: Any) -> Any:
        """z = g(y) (eqs. 3 and 6)."""
        y = ops.cast(y, self.compute_dtype)
        return self.context(ops.softmax(y, axis=-1) if self.context_input == "softmax" else y)

    @staticmethod
    def blend(h: Any, refined: Any, alpha: Any) -> Any:
        """Eq. 7: α·h + (1 − α)·ψ(h, z)."""
        alpha = ops.cast(alpha, h.dtype)
        return alpha * h + (1.0 - alpha) * refined

    def _sweep(self, h_first: Any, z: Any, training: bool | None = None,
               record: dict[str, list[Any]] | None = None) -> Any:
        """One bottom-up pass from the lowest tap to the output (eq. 8); refines taps (eq. 7) when z is
        given. ``h_first`` is the lowest tap's bottom-up output (:meth:`_bottom`), the same at every
        step. ``record`` (tap name → list) receives each tapped stage's output, after eq. 7."""
        h = h_first
        alphas = self.mixing_weights()
        tap_names = {i: name for name, i in self._tap_index.items()}
        k = 0
        for i in range(self.first_tap, len(self.stage_layers)):
            if i > self.first_tap:
                h = self.stage_layers[i](h, training=training)
            if i in tap_names:
                if z is not None:
                    h = self.blend(h, self.adapters[k](h, z), alphas[k])
                    k += 1
                if record is not None:
                    record.setdefault(tap_names[i], []).append(h)
        return self._as_float32(h)

    def features(self, inputs: Any, training: bool = False) -> dict[str, list[Any]]:
        """Every tapped stage's output h⁽ˡ⁾ at every refinement step τ = 0…T (after eq. 7's blend),
        the context z = g(y⁽τ⁾) that refines step τ+1 (eqs. 3, 6), and the per-step outputs."""
        h_first = self._bottom(inputs, training)
        record: dict[str, list[Any]] = {}
        y = self._sweep(h_first, None, training, record)
        outputs, contexts = [y], []
        for _ in range(self.iterations):
            z = self.context_vector(y)
            contexts.append(z)
            y = self._sweep(h_first, z, training, record)
            outputs.append(y)
        return {**record, "context": contexts, "output": outputs}

    def _bottom(self, x: Any, training: bool | None = None) -> Any:
        """The lowest tapped stage's bottom-up output: stages 1…first tap, computed once per input."""
        return self._apply_stages(x, 0, self.first_tap + 1, training)

    def refine(self, x: Any, training: bool = False, iterations: int | None = None) -> list[Any]:
        """Per-step outputs [y⁽⁰⁾, …, y⁽ᵀ⁾] (eqs. 5–8, unrolled). At inference with ``tolerance > 0`` an
        example's output stops changing once it has converged (eq. 11), so ``refine(x)[-1] == model(x)``."""
        steps_to_run = self.iterations if iterations is None else check_steps("iterations", iterations)
        if not training:
            self.check_inputs(x)  # eager calls only: a traced tensor holds no values to check
        h_first = self._bottom(x, training)
        y = self._sweep(h_first, None, training)
        outputs = [y]
        done = None
        early_stop = self.tolerance > 0 and not training
        for _ in range(steps_to_run):
            y_new = self._sweep(h_first, self.context_vector(y), training)
            if early_stop:
                y_new, done = self._freeze_converged(y, y_new, done)
            y = y_new
            outputs.append(y)
        return outputs

    def _freeze_converged(self, y: Any, y_new: Any, done: Any) -> tuple[Any, Any]:
        if done is not None:
            y_new = ops.where(done[:, None], y, y_new)
        converged = ops.max(ops.abs(y_new - y), axis=-1) < self.tolerance
        done = converged if done is None else ops.logical_or(done, converged)
        return y_new, done

    def refine_until_converged(self, x: Any) -> tuple[Any, Any]:
        """Inference loop of eq. 11 as a ``while_loop``: returns (y, number of refinement steps run)."""
        y, step, _ = self.refine_anytime(x)
        return y, step

    def refine_anytime(self, x: Any) -> tuple[Any, Any, Any]:
        """Anytime inference (eq. 11): refine each example until max|y⁽τ⁺¹⁾−y⁽τ⁾| < ``tolerance`` or T steps.

        Returns (y, refinement steps the batch ran, refinement steps each example ran): an example
        that converges at step τ counts τ steps (the step whose change fell below the tolerance
        included) and its output is frozen from then on; the loop exits once every example has
        converged, so the batch's count is the largest per-example count.
        """
        h_first = self._bottom(x, False)
        y0 = self._sweep(h_first, None, False)
        counts0 = ops.zeros(ops.shape(y0)[:1], dtype="int32")
        if self.iterations == 0:
            return y0, ops.convert_to_tensor(0, "int32"), counts0
        done0 = ops.zeros(ops.shape(y0)[:1], dtype="bool")

        def cond(step: Any, y: Any, done: Any, counts: Any) -> Any:
            return ops.logical_and(step < self.iterations, ops.logical_not(ops.all(done)))

        def body(step: Any, y: Any, done: Any, counts: Any) -> tuple[Any, Any, Any, Any]:
            y_new = self._sweep(h_first, self.context_vector(y), False)
            y_new = ops.where(done[:, None], y, y_new)
            counts = counts + ops.cast(ops.logical_not(done), "int32")
            if self.tolerance > 0:
                done = ops.logical_or(done, ops.max(ops.abs(y_new - y), axis=-1) < self.tolerance)
            return step + 1, y_new, done, counts

        start = (ops.convert_to_tensor(0, "int32"), y0, done0, counts0)
        # with tolerance 0 no example converges early: exactly T steps (unrollable at export)
        fixed = self.iterations if self.tolerance == 0 else None
        step, y, _, counts = loops.while_loop(cond, body, start, fixed_steps=fixed)
        return y, step, counts

    def call(self, x: Any, training: bool | None = None) -> Any:
        if training:
            return self.refine(x, training=True)[-1]
        return self.refine_until_converged(x)[0]

    # ---------------------------------------------------------------- training (eq. 9)
    @property
    def step_loss_weights(self) -> list[float]:
        """λ_τ of eq. 9, τ = 0…T."""
        return list(self._lambdas)

    def bptt_loss(self, y: Any, steps: Sequence[Any], sample_weight: Any = None) -> Any:
        """Σ_τ λ_τ ℓ(y⁽τ⁾, y*) (eq. 9) with the compiled loss ℓ, plus regularisation losses."""
        return self.step_loss(y, steps, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "iterations": self.iterations,
            "alpha": self.alpha,
            "alpha_trainable": self.alpha_trainable,
            "adapter": self.adapter,
            "taps": list(self.taps),
            "step_weights": self.step_weights,
            "tolerance": self.tolerance,
            "context_dim": self.context_dim,
            "context_input": self.context_input,
        }


def build_cbl(input_shape: Sequence[int], **config: Any) -> CBLModel:
    """Registry builder: a built CBL model for one example of ``input_shape``; every keyword
    (the config, ``registry_name``, ``registry_overrides``, ``dtype``, ``name``) goes to the class."""
    model = CBLModel(**config)
    model.build((None,) + tuple(input_shape))
    return model


def build_feedforward(input_shape: Sequence[int], **config: Any) -> FeedforwardClassifier:
    """Registry builder: the built feed-forward baseline (keywords go to the class)."""
    model = FeedforwardClassifier(**config)
    model.build((None,) + tuple(input_shape))
    return model


build_cbl.model_class = CBLModel  # type: ignore[attr-defined]
build_feedforward.model_class = FeedforwardClassifier  # type: ignore[attr-defined]

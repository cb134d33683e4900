"""The model contract: what every zoo model is, and all that shared code may rely on.

Every model the registry builds is a :class:`ZooModel` (a ``keras.Model``). Training,
evaluation, export, the hub, model cards, the CLI and the demo use only what this class
declares; they never probe a model for family features or read private attributes.

========================  ======================================================================
contract member           meaning
========================  ======================================================================
``registry_name``         the registry entry the model was built from (``None`` for a model
                          built by hand); saved in the model's own Keras config
``registry_overrides``    the config overrides given to :func:`topdown_zoo.create`; saved too
``input_specs()``         names, per-example shapes and dtypes of the inputs (batch axis left out)
``example_inputs()``      a random batch in that structure (what ``model(...)`` takes)
``pack_inputs(arrays)``   arrays in ``input_specs`` order → the structure ``model(...)`` takes
``step_key``              the config key that holds the step count (``"iterations"``), or
                          ``None`` for a single-pass model
``iterations``            that step count (T refinement / settling / time steps; 0 = one pass)
``step_outputs(x)``       the output after every step, ``[y⁽⁰⁾, …]`` (a one-pass model: ``[y]``)
``prediction_kind``       ``"labels"``, ``"task_labels"`` or ``"reconstruction"``: what an output
                          means
``interpret(x, **opt)``   a :class:`Prediction`: per-example columns to print, arrays to save
``compile_default(opt)``  the compile that ``fit`` needs (loss / metrics of the learning rule)
``evaluator``             ``"module:function"`` of the default evaluator
``training_callbacks()``  the family's extra ``fit`` callbacks (e.g. per-epoch statistics)
``with_config(**kw)``     a rebuilt copy with config changes and the same weights (or ``None``)
``plot_kinds()``          the pictures ``evaluate --plots`` draws (:mod:`topdown_zoo.plots`)
``features(x)``           intermediate representations per step (``{name: [per step]}``)
========================  ======================================================================

The contract is documented with a complete minimal family in ``docs/contributing-a-family.md``.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, ClassVar, Mapping, Sequence

import keras
import numpy as np

from topdown_zoo.errors import InputSpecError, TopdownZooError

#: the old name of the step count in the NGC family; accepted with a DeprecationWarning
DEPRECATED_STEP_KEYS = ("steps",)
PREDICTION_KINDS = ("labels", "task_labels", "reconstruction")
#: the pictures (``topdown_zoo.plots`` kinds) every model of a prediction kind supports
PLOT_KINDS = {"labels": ("predictions",), "task_labels": ("task_attention",), "reconstruction": ("reconstructions",)}


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One input of a model: its name, per-example shape (``None`` = any size) and dtype."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": [None, *self.shape], "dtype": self.dtype}


@dataclasses.dataclass
class Prediction:
    """What a batch of predictions means.

    Attributes:
        columns: one value per example and name (labels, confidences, errors …): printed by
            ``topdown-zoo predict``, a column each.
        arrays: larger per-example results (reconstructions …): written by ``predict --out``.
    """

    columns: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def pop_deprecated_step_key(config: dict[str, Any], owner: str) -> dict[str, Any]:
    """Move a deprecated step-count key (``steps``) to ``iterations``, with a DeprecationWarning."""
    for old in DEPRECATED_STEP_KEYS:
        if old in config:
            value = config.pop(old)
            warnings.warn(f"{owner}: the config key {old!r} is deprecated; use 'iterations'",
                          DeprecationWarning, stacklevel=3)
            config.setdefault("iterations", value)
    return config


class ZooModel(keras.Model):
    """Base class of every zoo model (see the module docstring for the contract).

    Subclasses set ``step_key`` and ``prediction_kind``, implement ``input_specs`` when they
    take something else than one float image/vector, ``step_outputs`` when they iterate, and
    ``interpret`` / ``compile_default`` when their outputs are not class logits.
    """

    step_key: ClassVar[str | None] = None
    prediction_kind: ClassVar[str] = "labels"
    evaluator: ClassVar[str] = "topdown_zoo.evaluation:evaluate_classifier"

    def __init__(self, *args: Any, registry_name: str | None = None,
                 registry_overrides: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry_name = registry_name
        self.registry_overrides = dict(registry_overrides or {})

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.registry_name is not None:
            config["registry_name"] = self.registry_name
            config["registry_overrides"] = dict(self.registry_overrides)
        return config

    # ------------------------------------------------------------------ inputs
    def input_specs(self) -> list[InputSpec]:
        """The model's inputs; default: one float input shaped like the build shape."""
        shape = self._build_shape()
        return [InputSpec("input", tuple(shape[1:]))]

    def _build_shape(self) -> tuple[int | None, ...]:
        build = (self.get_build_config() or {}).get("input_shape")
        if build is None:
            raise TopdownZooError(f"{type(self).__name__} is not built: call it once or build it before use")
        if build and isinstance(build[0], (tuple, list)):
            build = build[0]
        return tuple(build)

    def pack_inputs(self, arrays: Sequence[Any]) -> Any:
        """Arrays in ``input_specs()`` order → what ``model(...)`` takes (one input: the array)."""
        arrays = list(arrays)
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def unpack_inputs(self, inputs: Any) -> list[Any]:
        """Inverse of :meth:`pack_inputs`."""
        if isinstance(inputs, Mapping):
            return [inputs[s.name] for s in self.input_specs()]
        if isinstance(inputs, (tuple, list)):
            return list(inputs)
        return [inputs]

    def example_inputs(self, batch: int = 2, seed: int = 0,
                       value_range: tuple[float, float] = (0.0, 1.0)) -> Any:
        """A random batch: floats uniform in ``value_range``, integers in ``[0, input_high)``."""
        rng = np.random.default_rng(seed)
        arrays = []
        for spec in self.input_specs():
            shape = (batch, *(4 if d is None else d for d in spec.shape))
            if spec.dtype.startswith("int"):
                arrays.append(rng.integers(0, self.integer_input_high(spec.name), size=shape).astype(spec.dtype))
            else:
                arrays.append(rng.uniform(*value_range, size=shape).astype(spec.dtype))
        return self.pack_inputs(arrays)

    def integer_input_high(self, name: str) -> int:
        """Exclusive upper bound of an integer input (e.g. the number of tasks)."""
        return 2

    def check_inputs(self, inputs: Any) -> None:
        """Raise :class:`InputSpecError` for concrete inputs the model cannot answer meaningfully:
        integer inputs out of ``[0, integer_input_high)`` or not whole numbers (e.g. a task id 5
        or -1 of a two-task model, which would select no task and give all-zero logits), NaN or
        infinite float inputs (they would come out as a finite but meaningless class), and float
        inputs outside the registry entry's ``input_range`` (e.g. 1e6 given to a model of [0, 1]
        images, on which predictive-coding settling reaches energies of 1e16). Symbolic tensors
        (inside a traced function) are not checked."""
        owner = self.registry_name or type(self).__name__
        value_range = _registry_input_range(self.registry_name)
        for spec, value in zip(self.input_specs(), self.unpack_inputs(inputs)):
            arr = _concrete(value)
            if arr is None or not arr.size or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                continue  # symbolic, empty, or e.g. task names, which the model resolves itself
            _check_shape(owner, spec, arr.shape)
            if spec.dtype.startswith("int"):
                high = self.integer_input_high(spec.name)
                low_v, high_v = float(np.min(arr)), float(np.max(arr))
                if not (np.isfinite(low_v) and np.isfinite(high_v)) or low_v < 0 or high_v >= high:
                    raise InputSpecError(f"{owner}: input {spec.name!r} must hold integers in [0, {high - 1}] "
                                         f"(the valid range), got values in [{low_v:g}, {high_v:g}]")
                if np.issubdtype(arr.dtype, np.floating) and not np.all(np.mod(arr, 1) == 0):
                    raise InputSpecError(f"{owner}: input {spec.name!r} must hold whole numbers in [0, {high - 1}]")
                continue
            low_v, high_v = float(np.min(arr)), float(np.max(arr))
            if not (np.isfinite(low_v) and np.isfinite(high_v)):
                raise InputSpecError(f"{owner}: input {spec.name!r} holds NaN or infinite values; give finite "
                                     "numbers (e.g. np.nan_to_num, or drop those examples)")
            if value_range is not None and (low_v < value_range[0] - 1e-6 or high_v > value_range[1] + 1e-6):
                raw = value_range[1] <= 1.0 and high_v > 1.0 and low_v >= 0.0 and high_v <= 255.0
                hint = (": these look like raw 8-bit images; divide by 255, or load the model with "
                        "tz.load(name, preprocess=True)") if raw else ""
                raise InputSpecError(f"{owner}: input {spec.name!r} must hold values in [{value_range[0]:g}, "
                                     f"{value_range[1]:g}] (the entry's input_range, after its preprocessing), got "
                                     f"values in [{low_v:.4g}, {high_v:.4g}]{hint}")

    def predict(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        """``keras.Model.predict`` after :meth:`check_inputs` on array inputs (a dataset or a
        generator is passed on unchecked)."""
        if isinstance(x, (np.ndarray, tuple, list, Mapping)) or hasattr(x, "__array__"):
            self.check_inputs(x)
        return super().predict(x, *args, **kwargs)

    # ------------------------------------------------------------------ steps
    @property
    def num_steps(self) -> int:
        """The step count (0 for a single-pass model)."""
        return int(getattr(self, self.step_key)) if self.step_key else 0

    def step_outputs(self, inputs: Any, training: bool = False) -> list[Any]:
        """The output after every step, ``[y⁽⁰⁾, …]``; a single-pass model returns ``[y]``."""
        return [self(inputs, training=training)]

    def features(self, inputs: Any, training: bool = False) -> dict[str, list[Any]]:
        """Intermediate representations, ``{name: [value after each step]}`` (one entry per step;
        one value for a single-pass model). The default gives the per-step outputs as ``output``;
        a family adds its own (CBL: every tapped stage at every refinement step; GNCN: every
        latent layer after settling). The keys are the family's layer names (docs/features.md)."""
        return {"output": self.step_outputs(inputs, training=training)}

    def plot_kinds(self) -> list[str]:
        """The pictures :func:`topdown_zoo.plots.write_plots` draws of this model (one kind per
        module of :mod:`topdown_zoo.plots`). By default they follow from ``prediction_kind`` and
        ``step_key``; a family appends the kinds that need its own methods (``samples`` …)."""
        kinds = list(PLOT_KINDS[self.prediction_kind])
        if self.step_key:
            kinds.append("steps" if self.prediction_kind == "labels" else "settling")
        return kinds

    # ------------------------------------------------------------------ meaning
    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        """Class labels (with their ``class_name`` where the entry's dataset names its classes,
        :mod:`topdown_zoo.data.class_names`) and confidence of the final output, and the label
        after every step."""
        _refuse_options(self, options)
        self.check_inputs(inputs)
        steps = [np.asarray(keras.ops.convert_to_numpy(s)) for s in self.step_outputs(inputs)]
        columns: dict[str, np.ndarray] = {}
        if len(steps) > 1:
            for k, s in enumerate(steps):
                columns[f"label_step{k}"] = s.argmax(-1)
        final = steps[-1]
        columns["label"] = final.argmax(-1)
        columns["confidence"] = _softmax(final).max(-1)
        from topdown_zoo.data.class_names import model_class_names, name_labels

        names = model_class_names(self)
        if names is not None and final.shape[-1] == len(names):
            columns = name_labels(columns, names)  # a class_name column after label
        return Prediction(columns)

    # ------------------------------------------------------------------ fine-tuning
    @classmethod
    def num_classes_overrides(cls, config: Mapping[str, Any], num_classes: int) -> dict[str, Any]:
        """The config overrides that give this architecture a classifier head of ``num_classes``
        outputs (``tz.load(name, num_classes=N)``): ``num_classes`` when the config has that key.
        A family whose head size lives elsewhere overrides this; a model without a classifier
        head raises :class:`~topdown_zoo.errors.ConfigError`."""
        from topdown_zoo.errors import ConfigError

        if "num_classes" not in config:
            raise ConfigError(f"{cls.__name__} has no classifier head to resize (it predicts "
                              f"{cls.prediction_kind}); num_classes= applies to classifiers only")
        return {"num_classes": num_classes}

    # ------------------------------------------------------------------ training
    def compile_default(self, optimizer: Any) -> None:
        """Compile for ``fit``: sparse cross-entropy on logits and accuracy (classifiers)."""
        self.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def training_callbacks(self, run_dir: Any) -> list[Any]:
        """Extra ``fit`` callbacks of the family (none by default)."""
        return []

    # ------------------------------------------------------------------ rebuilding
    def with_config(self, **changes: Any) -> ZooModel | None:
        """A built copy with ``changes`` applied to the config and this model's weights, or
        ``None`` when the weights no longer fit (e.g. per-step parameters)."""
        config = {**self.get_config(), **changes}
        new = type(self).from_config(config)
        build_config = self.get_build_config()
        if build_config:
            new.build_from_config(build_config)
        new(self.example_inputs(batch=1), training=False)
        old_w, new_w = self.weights, new.weights
        if len(old_w) != len(new_w) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(old_w, new_w)):
            return None
        for dst, src in zip(new_w, old_w):
            dst.assign(keras.ops.cast(src.value, dst.dtype))
        return new


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _refuse_options(model: ZooModel, options: Mapping[str, Any]) -> None:
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise InputSpecError(f"{model.registry_name or type(model).__name__} takes no prediction option "
                             f"{', '.join(given)} (it predicts {model.prediction_kind})")


def _check_shape(owner: str, spec: InputSpec, shape: tuple[int, ...]) -> None:
    """Raise :class:`InputSpecError` when a batch's per-example shape is not ``spec.shape``
    (``None`` = any size), naming the expected layout (channels last) and a likely fix."""
    expected = tuple(spec.shape)
    got = tuple(int(d) for d in shape[1:])
    if len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got)):
        return
    want = "(batch, " + ", ".join("any" if d is None else str(d) for d in expected) + ")"
    hint = ""
    if len(got) == len(expected) == 3 and None not in expected and got == (expected[2], expected[0], expected[1]):
        hint = "; this looks channels-first: give channels last, e.g. np.moveaxis(x, 1, -1)"
    elif len(got) + 1 == len(expected) and expected[-1] == 1 and all(e is None or e == g for e, g in zip(expected, got)):
        hint = "; add the channel axis, e.g. x[..., None]"
    elif len(shape) == len(expected) and all(e is None or e == g for e, g in zip(expected, shape)):
        hint = "; add the batch axis, e.g. x[None]"
    raise InputSpecError(f"{owner}: input {spec.name!r} must have shape {want} (channels last), got "
                         f"{tuple(int(d) for d in shape)}{hint}")


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, or None for a symbolic tensor (which holds no values yet)."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # a symbolic / traced tensor: the backends raise different errors
        return None


def _registry_input_range(name: str | None) -> tuple[float, float] | None:
    """The ``input_range`` of the registry entry ``name`` (None for a model built by hand)."""
    if name is None:
        return None
    from topdown_zoo.registry import all_specs

    spec = all_specs().get(name)
    if spec is None or spec.input_range is None:
        return None
    low, high = spec.input_range
    return float(low), float(high)


def is_zoo_model(obj: Any) -> bool:
    return isinstance(obj, ZooModel)

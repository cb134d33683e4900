"""Raw inputs in, through the registry entry's preprocessing as Keras layers: ``tz.load(name,
preprocess=True)`` and ``tz.export(..., preprocess=True)``.

An entry records how raw data becomes model input (``spec.preprocessing``). Where that is a plain
per-pixel affine map — ``"scale": "x / 255"`` and/or per-channel ``"mean"`` / ``"std"``, i.e.
``y = (x · s − mean) / std`` — :func:`affine_map` reads it and :class:`Preprocessed` puts a
``keras.layers.Rescaling`` in front of the model, so the model takes the dataset's own raw
images (``uint8``, 0…255, the entry's layout). Any other recorded step (a spectrogram of audio,
resizing and cropping, binarisation, composing a canvas of digits) is not a per-pixel affine
map; :func:`affine_map` refuses it with a :class:`~topdown_zoo.errors.ConfigError` that names it.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from topdown_zoo.errors import ConfigError, InputSpecError
from topdown_zoo.models.base import InputSpec, Prediction, ZooModel

#: preprocessing keys that describe the data (where it comes from, its shape, range and labels)
#: without changing a pixel: they need no layer
DESCRIPTIVE_KEYS = frozenset({"source", "range", "layout", "shape", "split", "labels", "label", "tasks", "inputs",
                              "debris_levels_fragments", "fragment_size", "occlusion"})
AFFINE_KEYS = frozenset({"scale", "mean", "std"})
_SCALE = re.compile(r"^\s*x\s*/\s*([0-9]+(?:\.[0-9]*)?)\s*$")


def affine_map(name: str, preprocessing: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str, tuple[float, float]]:
    """``(scale, offset, raw_dtype, raw_range)`` of entry ``name``'s preprocessing as
    ``y = x · scale + offset`` (per channel), or a :class:`ConfigError` naming why it is not a
    per-pixel affine map."""
    other = sorted(k for k in preprocessing if k not in DESCRIPTIVE_KEYS | AFFINE_KEYS)
    if other:
        raise ConfigError(f"preprocess=True needs a per-pixel affine preprocessing (scale / mean-std); {name}'s "
                          f"preprocessing records steps that are not a per-pixel map ({', '.join(other)}): prepare "
                          "its inputs as spec.preprocessing says and load it without preprocess=True")
    if not AFFINE_KEYS & set(preprocessing):
        raise ConfigError(f"preprocess=True: {name} records no per-pixel scaling (scale / mean / std) to apply; "
                          "its inputs are used as they are, load it without preprocess=True")
    scale, raw_dtype, raw_range = 1.0, "float32", (-np.inf, np.inf)
    if "scale" in preprocessing:
        match = _SCALE.match(str(preprocessing["scale"]))
        if match is None or float(match.group(1)) <= 0:
            raise ConfigError(f"preprocess=True understands a scale of the form 'x / N'; {name} records "
                              f"{preprocessing['scale']!r}")
        divisor = float(match.group(1))
        scale = 1.0 / divisor
        raw_dtype, raw_range = ("uint8", (0.0, 255.0)) if divisor == 255 else ("float32", (0.0, divisor))
    mean = np.asarray(preprocessing.get("mean", 0.0), dtype="float64")
    std = np.asarray(preprocessing.get("std", 1.0), dtype="float64")
    if np.any(std <= 0):
        raise ConfigError(f"{name}'s preprocessing has a non-positive std {std.tolist()}")
    return (scale / std).astype("float32"), (-mean / std).astype("float32"), raw_dtype, raw_range


@keras.saving.register_keras_serializable(package="topdown_zoo")
class Preprocessed(ZooModel):
    """A zoo model behind its entry's per-pixel preprocessing (a ``keras.layers.Rescaling``).

    Float inputs of the wrapped model (images) are taken raw (``raw_dtype``, e.g. ``uint8``);
    other inputs (task ids) pass unchanged. ``predict``, ``__call__``, ``interpret``,
    ``step_outputs``, ``features`` and ``with_config`` work as on the wrapped model
    (``model.inner``), on raw inputs; the wrapped model's equations are untouched.
    """

    def __init__(self, model: ZooModel, scale: Sequence[float] | float, offset: Sequence[float] | float,
                 raw_dtype: str = "uint8", raw_range: Sequence[float] = (0.0, 255.0), **kwargs: Any) -> None:
        kwargs.setdefault("dtype", model.dtype_policy)
        super().__init__(registry_name=model.registry_name, registry_overrides=model.registry_overrides, **kwargs)
        self.inner = model
        self.scale, self.offset = _as_list(scale), _as_list(offset)
        self.raw_dtype, self.raw_range = str(raw_dtype), (float(raw_range[0]), float(raw_range[1]))
        self.rescale = keras.layers.Rescaling(scale=np.asarray(self.scale, "float32"),
                                              offset=np.asarray(self.offset, "float32"), name="preprocess")
        # the wrapped model's meaning, per instance (the contract declares them per class)
        self.step_key = model.step_key  # type: ignore[misc]
        self.prediction_kind = model.prediction_kind  # type: ignore[misc]
        self.evaluator = model.evaluator  # type: ignore[misc]

    # -------------------------------------------------------------- the wrapped model's contract
    def _raw(self) -> list[bool]:
        return [not s.dtype.startswith(("int", "uint", "bool")) for s in self.inner.input_specs()]

    def input_specs(self) -> list[InputSpec]:
        return [InputSpec(s.name, s.shape, self.raw_dtype) if raw else s
                for s, raw in zip(self.inner.input_specs(), self._raw())]

    def pack_inputs(self, arrays: Sequence[Any]) -> Any:
        return self.inner.pack_inputs(arrays)

    def unpack_inputs(self, inputs: Any) -> list[Any]:
        return self.inner.unpack_inputs(inputs)

    def integer_input_high(self, name: str) -> int:
        return self.inner.integer_input_high(name)

    def example_inputs(self, batch: int = 2, seed: int = 0, value_range: tuple[float, float] = (0.0, 1.0)) -> Any:
        """A random raw batch: raw inputs uniform in ``raw_range`` (``value_range`` applies to the
        wrapped model's inputs and is ignored here), the other inputs as the wrapped model draws them."""
        rng = np.random.default_rng(seed)
        arrays = self.inner.unpack_inputs(self.inner.example_inputs(batch=batch, seed=seed))
        low, high = (0.0, 255.0) if not np.isfinite(self.raw_range).all() else self.raw_range
        for i, (spec, raw) in enumerate(zip(self.input_specs(), self._raw())):
            if raw:
                arrays[i] = rng.uniform(low, high, size=np.shape(arrays[i])).astype(spec.dtype)
        return self.pack_inputs(arrays)

    def preprocess(self, inputs: Any) -> Any:
        """Raw inputs → what the wrapped model takes (the Rescaling on every raw input)."""
        arrays = self.inner.unpack_inputs(inputs)
        return self.inner.pack_inputs([self.rescale(a) if raw else a for a, raw in zip(arrays, self._raw())])

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.inner(self.preprocess(inputs), training=training)

    def check_inputs(self, inputs: Any) -> None:
        """Raw inputs must be finite and in ``raw_range`` (e.g. 0…255); the rest as the wrapped model checks."""
        owner = self.registry_name or type(self.inner).__name__
        for spec, raw, value in zip(self.input_specs(), self._raw(), self.inner.unpack_inputs(inputs)):
            if not raw or isinstance(value, keras.KerasTensor):
                continue
            arr = np.asarray(keras.ops.convert_to_numpy(value))
            if not arr.size or not np.issubdtype(arr.dtype, np.number):
                continue
            low_v, high_v = float(np.min(arr)), float(np.max(arr))
            low, high = self.raw_range
            if not (np.isfinite(low_v) and np.isfinite(high_v)) or low_v < low or high_v > high:
                raise InputSpecError(f"{owner} (preprocess=True): input {spec.name!r} takes raw values in "
                                     f"[{low:g}, {high:g}] (before the entry's preprocessing), got values in "
                                     f"[{low_v:.4g}, {high_v:.4g}]")
        self.inner.check_inputs(self._numpy_preprocess(inputs))

    def _numpy_preprocess(self, inputs: Any) -> Any:
        arrays = [keras.ops.convert_to_numpy(a) for a in self.inner.unpack_inputs(inputs)]
        return self.inner.pack_inputs([keras.ops.convert_to_numpy(self.rescale(a)) if raw else a
                                       for a, raw in zip(arrays, self._raw())])

    @property
    def num_steps(self) -> int:
        return self.inner.num_steps

    def step_outputs(self, inputs: Any, training: bool = False) -> list[Any]:
        return self.inner.step_outputs(self.preprocess(inputs), training=training)

    def features(self, inputs: Any, training: bool = False) -> dict[str, list[Any]]:
        return self.inner.features(self.preprocess(inputs), training=training)

    def plot_kinds(self) -> list[str]:
        return self.inner.plot_kinds()

    def interpret(self, inputs: Any, **options: Any) -> Prediction:
        self.check_inputs(inputs)
        return self.inner.interpret(self._numpy_preprocess(inputs), **options)

    def compile_default(self, optimizer: Any) -> None:
        self.inner.compile_default(optimizer)

    def with_config(self, **changes: Any) -> ZooModel | None:
        inner = self.inner.with_config(**changes)
        if inner is None:
            return None
        return preprocessed(inner, _arguments=(self.scale, self.offset, self.raw_dtype, self.raw_range))

    # -------------------------------------------------------------- serialization
    def get_config(self) -> dict[str, Any]:
        return {"model": keras.saving.serialize_keras_object(self.inner), "scale": self.scale, "offset": self.offset,
                "raw_dtype": self.raw_dtype, "raw_range": list(self.raw_range), "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Preprocessed:
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)


def _as_list(value: Any) -> list[float] | float:
    arr = np.asarray(value, dtype="float64")
    return float(arr) if arr.ndim == 0 else [float(v) for v in arr.reshape(-1)]


def preprocessed(model: ZooModel, _arguments: tuple[Any, ...] | None = None) -> Preprocessed:
    """``model`` behind its registry entry's per-pixel preprocessing (built, ready to call);
    :class:`ConfigError` when the model has no registry entry or its preprocessing is not a
    per-pixel affine map (see :func:`affine_map`)."""
    if isinstance(model, Preprocessed):
        return model
    if _arguments is None:
        from topdown_zoo.registry import all_specs

        spec = all_specs().get(model.registry_name or "")
        if spec is None:
            raise ConfigError(f"preprocess=True reads the preprocessing of a registry entry; this "
                              f"{type(model).__name__} was built by hand (no registry_name)")
        _arguments = affine_map(spec.name, spec.preprocessing)
    scale, offset, raw_dtype, raw_range = _arguments
    wrapper = Preprocessed(model, scale, offset, raw_dtype, raw_range)
    wrapper(wrapper.example_inputs(batch=1), training=False)
    return wrapper

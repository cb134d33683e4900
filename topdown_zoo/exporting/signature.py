"""The artifact's inputs and outputs, from the model contract alone.

Input names, per-example shapes and dtypes come from ``model.input_specs()``; sample inputs from
``model.example_inputs`` (in the registry entry's input range); tensors become what ``model(...)``
takes through ``model.pack_inputs``. The exported function returns ``output`` (``model(x)``) and,
with ``outputs="steps"``, ``steps``: ``model.step_outputs(x)`` stacked on axis 1.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from topdown_zoo.errors import ExportError, TopdownZooError


class InputSignature:
    """Names, per-example shapes and dtypes of a zoo model's inputs, and how to call the model."""

    def __init__(self, model: Any, names: Sequence[str], shapes: Sequence[tuple[int | None, ...]], dtypes: Sequence[str]) -> None:
        self.model = model
        self.names, self.shapes, self.dtypes = list(names), [tuple(s) for s in shapes], list(dtypes)

    @classmethod
    def infer(cls, model: Any) -> InputSignature:
        """The signature of ``model.input_specs()`` (batch axis left out, dynamic in the artifact)."""
        try:
            specs = model.input_specs()
        except TopdownZooError as err:
            raise ExportError(f"cannot tell the inputs of {type(model).__name__}: {err}") from err
        return cls(model, [s.name for s in specs], [s.shape for s in specs], [s.dtype for s in specs])

    def normalise(self, sample_inputs: Any) -> list[np.ndarray]:
        """Sample inputs (an array, a tuple/list in ``input_specs`` order or a dict name → array)
        as a list of arrays in signature order, cast to the specs' dtypes."""
        if isinstance(sample_inputs, Mapping):
            missing = [n for n in self.names if n not in sample_inputs]
            if missing:
                raise ExportError(f"sample_inputs lacks {', '.join(missing)}; the model takes {', '.join(self.names)}")
            arrays = [sample_inputs[n] for n in self.names]
        elif isinstance(sample_inputs, (tuple, list)):
            arrays = list(sample_inputs)
        else:
            arrays = [sample_inputs]
        if len(arrays) != len(self.names):
            raise ExportError(f"the model takes {len(self.names)} input(s) ({', '.join(self.names)}); "
                              f"sample_inputs has {len(arrays)}")
        out = []
        for name, array, shape, dtype in zip(self.names, arrays, self.shapes, self.dtypes):
            array = np.asarray(array)
            if array.dtype.kind not in "fiub":
                raise ExportError(f"sample input {name!r} has dtype {array.dtype}; the model takes {dtype}")
            array = array.astype(dtype)
            per_example = tuple(array.shape[1:])
            if len(per_example) != len(shape) or any(s is not None and s != d for s, d in zip(shape, per_example)):
                raise ExportError(f"sample input {name!r} has shape {array.shape}; the model takes (batch, *{shape})")
            out.append(array)
        return out

    def feed(self, arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """``{input name: array}``: what an artifact is run on."""
        return dict(zip(self.names, arrays))

    def model_input(self, tensors: Sequence[Any]) -> Any:
        """Tensors in signature order → the structure ``model(...)`` takes."""
        return self.model.pack_inputs(list(tensors))

    def random_inputs(self, model: Any = None, batch: int = 3, seed: int = 0) -> list[np.ndarray]:
        """``model.example_inputs`` in the registry entry's input range ([0, 1] when none is recorded),
        as a list of arrays in signature order."""
        from topdown_zoo.exporting.prepare import registry_spec

        model = self.model if model is None else model
        spec = registry_spec(model)
        value_range = tuple(spec.input_range) if spec is not None and spec.input_range else (0.0, 1.0)
        packed = model.example_inputs(batch=batch, seed=seed, value_range=value_range)
        return self.normalise(model.unpack_inputs(packed))

    def tensor_specs(self) -> list[Any]:
        """``tf.TensorSpec`` per input with a dynamic batch axis (imports TensorFlow)."""
        import tensorflow as tf

        return [tf.TensorSpec((None, *shape), dtype, name=name)
                for name, shape, dtype in zip(self.names, self.shapes, self.dtypes)]

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": n, "shape": [None, *s], "dtype": d} for n, s, d in zip(self.names, self.shapes, self.dtypes)]


def forward_fn(model: Any, signature: InputSignature, outputs: str, loops: str = "loop",
               ) -> Callable[..., dict[str, Any]]:
    """The function an artifact computes: input tensors (signature order) → ``{"output": model(x)}``,
    plus ``"steps"``: every step of ``model.step_outputs(x)`` stacked on axis 1 (a one-pass model
    gives its single step). ``loops="unrolled"``: ``model(x)`` is traced with its fixed-count
    loops unrolled (:mod:`topdown_zoo.models.loops`)."""
    from keras import ops

    from topdown_zoo.models.loops import unrolled_loops

    def forward(*tensors: Any) -> dict[str, Any]:
        x = signature.model_input(tensors)
        with unrolled_loops(loops == "unrolled"):
            final = model(x, training=False)
        result = {"output": ops.cast(final, "float32")}
        if outputs == "steps":
            steps = model.step_outputs(x, training=False)
            result["steps"] = ops.stack([ops.cast(s, "float32") for s in steps], axis=1)
        return result

    return forward

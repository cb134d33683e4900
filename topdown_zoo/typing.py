"""Type aliases shared by the zoo's annotations.

Keras 3 ships no type information and a tensor is a different class on every backend
(``tf.Tensor``, ``jax.Array``, ``torch.Tensor``, ``keras.KerasTensor`` while tracing), so the
aliases below are :data:`typing.Any` with a name that says what a value is. They document; they
do not check.
"""
from __future__ import annotations

from typing import Any, TypeAlias

#: a tensor of the active Keras backend (or a symbolic ``keras.KerasTensor``)
Tensor: TypeAlias = Any
#: anything ``np.asarray`` turns into a batch: a NumPy array, a backend tensor, nested lists
ArrayLike: TypeAlias = Any
#: a ``tf.data.Dataset`` (typed loosely so that annotating never imports TensorFlow)
Dataset: TypeAlias = Any

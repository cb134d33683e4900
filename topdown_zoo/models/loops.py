"""The iterative families' inference loops, as graph loops or unrolled.

Settling (GNCN, Conv-NGC) and refinement (CBL) run a fixed number of steps as
``keras.ops.fori_loop`` / ``while_loop``: one copy of the step in the graph, whatever T is. An
exported artifact may rather hold one copy per step (``topdown_zoo.export(..., loops="unrolled")``):
ONNX Runtime runs a straight graph without the per-iteration cost of its ``Loop`` operator and can
fuse across steps. Inside :func:`unrolled_loops` the models' fixed-count loops are Python loops,
so tracing records every step; the arithmetic is the same.
"""
from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from keras import ops

_UNROLLED = contextvars.ContextVar("topdown_zoo_unrolled_loops", default=False)


@contextmanager
def unrolled_loops(enabled: bool = True) -> Iterator[None]:
    """Within this block the zoo's fixed-count inference loops are unrolled (see the module)."""
    token = _UNROLLED.set(bool(enabled))
    try:
        yield
    finally:
        _UNROLLED.reset(token)


def unrolling() -> bool:
    """Whether the current code runs inside :func:`unrolled_loops`."""
    return _UNROLLED.get()


def while_loop(cond: Callable[..., Any], body: Callable[..., Any], carry: tuple[Any, ...],
               fixed_steps: int | None = None) -> tuple[Any, ...]:
    """``keras.ops.while_loop(cond, body, carry)``; inside :func:`unrolled_loops`, when the loop is
    known to run exactly ``fixed_steps`` times (``cond`` cannot exit earlier), that many Python steps."""
    if not unrolling() or fixed_steps is None:
        return ops.while_loop(cond, body, carry)
    for _ in range(fixed_steps):
        carry = body(*carry)
    return carry


def fori_loop(lower: int, upper: int, body: Callable[[Any, Any], Any], carry: Any) -> Any:
    """``keras.ops.fori_loop(lower, upper, body, carry)``, or a Python loop inside :func:`unrolled_loops`."""
    if not unrolling():
        return ops.fori_loop(lower, upper, body, carry)
    for i in range(lower, upper):
        carry = body(i, carry)
    return carry

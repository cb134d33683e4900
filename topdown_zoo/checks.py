"""Argument checks shared by every family: each raises :class:`~topdown_zoo.errors.ConfigError`
naming the argument, the value and what is allowed, so every bad input ends as one line
``error: …`` (exit 2) in the CLI and a zoo error in the API."""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from topdown_zoo.errors import ConfigError

#: the largest step count (T, K) a config may ask for; a config past it is refused before any
#: memory is allocated (an untrusted config with 10⁹ steps would otherwise exhaust memory)
MAX_ITERATIONS = 10_000


def check_int(name: str, value: Any, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (an integral float is accepted)."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise ConfigError(f"{name}={value!r} is not allowed; it must be an integer >= {low}"
                          + (f" and <= {high}" if high is not None else ""))
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(f"{name}={value} is not allowed; it must be an integer {bound}")
    return value


def check_steps(name: str, value: Any, low: int = 0) -> int:
    """A step count (iterations, settling steps): an integer in ``[low, MAX_ITERATIONS]``."""
    return check_int(name, value, low, MAX_ITERATIONS)


def check_float(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float in ``[low, high]`` (NaN and infinities are refused)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not allowed; it must be a number in [{low}, {high}]") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise ConfigError(f"{name}={value!r} is not allowed; it must be a finite number in [{low}, {high}]")
    return number


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not allowed; use one of: {', '.join(map(repr, allowed))}")
    return value


def check_int_list(name: str, values: Any, low: int = 1) -> list[int]:
    """A non-empty list of integers ``>= low`` (layer sizes, channel counts)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{name}={values!r} is not allowed; it must be a non-empty list of integers >= {low}")
    return [check_int(f"{name}[{i}]", v, low) for i, v in enumerate(values)]

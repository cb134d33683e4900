"""Argument checks shared by every family: each raises :class:`~topdown_zoo.errors.ConfigError`
naming the argument, the value and what is allowed, so every bad input ends as one line
``error: …`` (exit 2) in the CLI and a zoo error in the API."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from topdown_zoo.errors import ConfigError, TopdownZooError

#: the largest step count (T, K) a config may ask for; a config past it is refused before any
#: memory is allocated (an untrusted config with 10⁹ steps would otherwise exhaust memory)
MAX_ITERATIONS = 10_000
#: the largest size one config integer may ask for (units, channels, classes, tasks, image sides)
MAX_SIZE = 16_384
#: the most entries a list in a config may hold (layers, widths)
MAX_LAYERS = 256
#: the most values one example of a ``*_shape`` config may hold (e.g. 2048 x 2048 x 4)
MAX_EXAMPLE_VALUES = 1 << 24
#: the largest batch size a recipe or a command may ask for
MAX_BATCH_SIZE = 65_536
#: config keys that hold a step count
STEP_KEYS = ("iterations", "steps")


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


def check_int_list(name: str, values: Any, low: int = 1, high: int | None = MAX_SIZE) -> list[int]:
    """A non-empty list of at most ``MAX_LAYERS`` integers in ``[low, high]`` (layer sizes, channel
    counts; ``high`` defaults to ``MAX_SIZE``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{name}={values!r} is not allowed; it must be a non-empty list of integers >= {low}")
    if len(values) > MAX_LAYERS:
        raise ConfigError(f"{name} has {len(values)} entries; at most {MAX_LAYERS} are allowed")
    return [check_int(f"{name}[{i}]", v, low, high) for i, v in enumerate(values)]


def check_size(name: str, value: Any, low: int = 1) -> int:
    """A size (units, channels, classes, an image side): an integer in ``[low, MAX_SIZE]``."""
    return check_int(name, value, low, MAX_SIZE)


def check_batch_size(name: str, value: Any) -> int:
    """A batch size: an integer in ``[1, MAX_BATCH_SIZE]``."""
    return check_int(name, value, 1, MAX_BATCH_SIZE)


def check_options(what: str, given: Mapping[str, Any], function: Callable[..., Any],
                  skip: Iterable[str] = (), error: type[TopdownZooError] = ConfigError) -> None:
    """Refuse keys of ``given`` that ``function`` does not take as named keyword arguments (a
    ``**_`` catch-all does not count: it would swallow typos). ``skip`` names the arguments the
    caller passes itself. A function that forwards ``**kwargs`` under another name is trusted.
    Raises ``error`` (a :class:`ConfigError` unless told)."""
    import inspect

    allowed, forwards = set(), False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            forwards = parameter.name != "_"
        elif parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            allowed.add(parameter.name)
    allowed -= set(skip)
    unknown = sorted(set(given) - allowed)
    if unknown and not forwards:
        raise error(f"{what}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed)) or 'none'}")


def check_config_limits(config: Mapping[str, Any], where: str = "") -> None:
    """Refuse config values that would exhaust memory or time before anything is built: a step
    count (``iterations``, ``steps``) past ``MAX_ITERATIONS``, any other integer past ``MAX_SIZE``
    (seeds excepted), a list longer than ``MAX_LAYERS``, a ``*_shape`` of more than
    ``MAX_EXAMPLE_VALUES`` values, and NaN or infinite numbers. Nested mappings are checked too."""
    for key, value in config.items():
        name = f"{where}{key}"
        if isinstance(value, Mapping):
            check_config_limits(value, f"{name}.")
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif key in STEP_KEYS and isinstance(value, (int, float)):
            check_steps(name, value)
        elif isinstance(value, float):
            check_float(name, value)
        elif isinstance(value, int):
            if not key.endswith("seed"):
                check_int(name, value, -MAX_SIZE, MAX_SIZE)
        elif isinstance(value, (list, tuple)):
            if len(value) > MAX_LAYERS:
                raise ConfigError(f"{name} has {len(value)} entries; at most {MAX_LAYERS} are allowed")
            check_config_limits({f"{key}[{i}]": v for i, v in enumerate(value)}, where)
            if key.endswith("_shape") and all(isinstance(v, int) and v > 0 for v in value):
                if math.prod(value) > MAX_EXAMPLE_VALUES:
                    raise ConfigError(f"{name}={list(value)} holds {math.prod(value)} values per example; "
                                      f"at most {MAX_EXAMPLE_VALUES} are allowed")

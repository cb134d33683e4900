"""Recipes: YAML files that say how a registry entry is trained, validated against a schema.

A recipe::

    model: cbl-cnn-mnist5k          # registry entry (required)
    overrides: {iterations: 2}      # architecture config passed to create(model, **overrides)
    data: {dataset: mnist5k, batch_size: 128, shuffle_buffer: 10000, options: {}}
    optimizer: {name: adam, learning_rate: 0.001}
    schedule: {name: step, every_epochs: 5, factor: 0.5}
    epochs: 50
    precision: float32              # or mixed_float16, mixed_bfloat16
    strategy: default               # or mirrored, multi_worker_mirrored, tpu
    seed: 0
    evaluate: {}                    # keyword arguments of the entry's evaluator
    init: {weights: null, skip_mismatch: false}  # fine-tuning: start from "pretrained" or a path
    smoke: {epochs: 1, batch_size: 16, steps_per_epoch: 2}   # what --smoke uses

``--set key=value`` overrides any key with a dotted path (``--set optimizer.learning_rate=0.01``);
the value is parsed as YAML. Unknown keys and bad values raise :class:`RecipeError` naming the
key and what is allowed.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import yaml

from topdown_zoo.checks import check_float
from topdown_zoo.errors import ConfigError, RecipeError, TopdownZooError, did_you_mean

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "step", "multistep", "exponential", "cosine")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")

DEFAULTS: dict[str, Any] = {
    "model": None,
    "overrides": {},
    "data": {"dataset": None, "batch_size": 128, "shuffle_buffer": 10000, "options": {}},
    "optimizer": {"name": "adam", "learning_rate": 1e-3, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0,
                  "clipnorm": None},
    "schedule": {"name": "constant", "every_epochs": 1, "factor": 1.0, "milestones": []},
    "epochs": 10,
    "precision": "float32",
    "strategy": "default",
    "seed": 0,
    "evaluate": {},
    "init": {"weights": None, "skip_mismatch": False},
    "smoke": {"epochs": 1, "batch_size": 16, "steps_per_epoch": 2},
    "description": "",
}
# Keys whose value is a free-form mapping (not checked key by key).
_FREE_FORM = {"overrides", "data.options", "evaluate"}


def _check_keys(given: dict, schema: dict, prefix: str = "") -> None:
    for key, value in given.items():
        path = f"{prefix}{key}"
        if key not in schema:
            raise RecipeError(
                f"unknown recipe key {path!r}.{did_you_mean(key, schema)} Allowed here: {', '.join(schema)}"
            )
        if path in _FREE_FORM:
            if not isinstance(value, dict):
                raise RecipeError(f"recipe key {path!r} must be a mapping, got {value!r}")
            continue
        if isinstance(schema[key], dict):
            if not isinstance(value, dict):
                raise RecipeError(f"recipe key {path!r} must be a mapping with keys {', '.join(schema[key])}, got {value!r}")
            _check_keys(value, schema[key], prefix=f"{path}.")


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "overrides":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _positive(path: str, value: Any, kind: type = float, allow_zero: bool = False) -> None:
    """A number (``kind`` int: integral) ``> 0`` (``>= 0`` with ``allow_zero``); floats must be
    finite (:func:`topdown_zoo.checks.check_float`): a NaN or infinite learning rate, momentum,
    factor ... would train to non-finite weights."""
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok_type = ok_type and float(value).is_integer()
    elif ok_type:
        try:
            check_float(f"recipe key {path!r}", value, low=0.0)
        except ConfigError as err:
            raise RecipeError(str(err)) from None
    if not ok_type or value < 0 or (value == 0 and not allow_zero):
        what = "an integer" if kind is int else "a number"
        raise RecipeError(f"recipe key {path!r} must be {what} {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _choice(path: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise RecipeError(f"recipe key {path!r} = {value!r} is not allowed; allowed: {', '.join(allowed)}")


def validate(recipe: dict) -> dict:
    """Fill defaults and check every key and value; returns the complete recipe."""
    if not isinstance(recipe, dict):
        raise RecipeError("a recipe must be a YAML mapping (key: value lines)")
    _check_keys(recipe, DEFAULTS)
    full = _merge(DEFAULTS, recipe)
    if not full["model"]:
        raise RecipeError("recipe key 'model' is required: the registry name to train (see `topdown-zoo list`)")
    from topdown_zoo.registry import get_spec

    spec = get_spec(full["model"])
    full["data"]["dataset"] = full["data"]["dataset"] or spec.dataset
    _positive("data.batch_size", full["data"]["batch_size"], int)
    _positive("data.shuffle_buffer", full["data"]["shuffle_buffer"], int, allow_zero=True)
    opt = full["optimizer"]
    _choice("optimizer.name", opt["name"], OPTIMIZERS)
    _positive("optimizer.learning_rate", opt["learning_rate"])
    _positive("optimizer.momentum", opt["momentum"], allow_zero=True)
    _positive("optimizer.weight_decay", opt["weight_decay"], allow_zero=True)
    if opt["clipnorm"] is not None:
        _positive("optimizer.clipnorm", opt["clipnorm"])
    sch = full["schedule"]
    _choice("schedule.name", sch["name"], SCHEDULES)
    _positive("schedule.every_epochs", sch["every_epochs"], int)
    _positive("schedule.factor", sch["factor"])
    if not isinstance(sch["milestones"], list) or any(not isinstance(m, int) or m <= 0 for m in sch["milestones"]):
        raise RecipeError(f"recipe key 'schedule.milestones' must be a list of positive epoch numbers, got {sch['milestones']!r}")
    _positive("epochs", full["epochs"], int)
    _choice("precision", full["precision"], PRECISIONS)
    _choice("strategy", full["strategy"], STRATEGIES)
    if not isinstance(full["seed"], int) or isinstance(full["seed"], bool):
        raise RecipeError(f"recipe key 'seed' must be an integer, got {full['seed']!r}")
    for key in ("epochs", "batch_size", "steps_per_epoch"):
        _positive(f"smoke.{key}", full["smoke"][key], int)
    init = full["init"]
    if init["weights"] is not None and (not isinstance(init["weights"], str) or not init["weights"].strip()):
        raise RecipeError(f"recipe key 'init.weights' must be null (random initialisation), 'pretrained' (the "
                          f"entry's trained weights) or the path of a hub folder, run directory or .weights.h5 "
                          f"file, got {init['weights']!r}")
    if not isinstance(init["skip_mismatch"], bool):
        raise RecipeError(f"recipe key 'init.skip_mismatch' must be true or false, got {init['skip_mismatch']!r}")
    _check_limits_and_free_form_keys(full, spec)
    return full


def _check_limits_and_free_form_keys(full: dict, spec: Any) -> None:
    """Batch sizes within :data:`~topdown_zoo.checks.MAX_BATCH_SIZE`, and the free-form mappings
    (``data.options``, ``evaluate``) holding only keys their dataset loader / evaluator takes."""
    from topdown_zoo.api import quiet_stderr
    from topdown_zoo.checks import check_batch_size, check_options
    from topdown_zoo.data import check_dataset_options

    try:
        check_batch_size("recipe key 'data.batch_size'", full["data"]["batch_size"])
        check_batch_size("recipe key 'smoke.batch_size'", full["smoke"]["batch_size"])
        for key in ("data.options", "evaluate"):
            section, _, sub = key.partition(".")
            value = full[section][sub] if sub else full[section]
            if not isinstance(value, dict):
                raise RecipeError(f"recipe key {key!r} must be a mapping (key: value), got {value!r}")
        check_dataset_options(full["data"]["dataset"], full["data"]["options"])
        with quiet_stderr():  # the evaluator's module may import TensorFlow
            evaluator = spec.evaluate_fn()
        check_options("recipe key 'evaluate'", full["evaluate"], evaluator,
                      skip=("model", "spec", "smoke", "data_options"), error=RecipeError)
    except RecipeError:
        raise
    except TopdownZooError as err:
        raise RecipeError(str(err)) from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"optimizer.learning_rate=0.01"`` -> ``("optimizer.learning_rate", 0.01)`` (value parsed as YAML)."""
    if "=" not in text:
        raise RecipeError(f"--set expects key=value (e.g. --set epochs=5), got {text!r}")
    key, _, raw = text.partition("=")
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def apply_assignments(recipe: dict, assignments: list[str]) -> dict:
    out = copy.deepcopy(recipe)
    for text in assignments:
        key, value = parse_assignment(text)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise RecipeError(f"--set {key}: {part!r} is not a mapping in this recipe")
        node[parts[-1]] = value
    return out


def load_recipe(path_or_name: str | Path, assignments: list[str] | None = None) -> dict:
    """Read a recipe by path, or by registry name (``recipes/<name>.yaml``), apply ``--set``s, validate."""
    path = Path(path_or_name)
    if not path.exists() and path.suffix not in (".yaml", ".yml"):
        from topdown_zoo.paths import recipes_dir

        path = recipes_dir() / f"{path_or_name}.yaml"
    if path.is_dir():
        raise RecipeError(f"recipe {path} is a directory; give a recipe file (recipes/<name>.yaml) or a registry name")
    if not path.exists():
        from topdown_zoo.paths import recipes_dir

        names = [p.stem for p in recipes_dir().glob("*.yaml")]
        raise RecipeError(f"no recipe {str(path_or_name)!r}.{did_you_mean(Path(str(path_or_name)).stem, names)} "
                          f"Recipes live in {recipes_dir()}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"recipe {path} is not valid YAML: {err}") from None
    return validate(apply_assignments(raw, assignments or []))

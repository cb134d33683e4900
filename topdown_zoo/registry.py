"""The model registry: one :class:`ModelSpec` per named model.

Families declare their entries in ``topdown_zoo/models/<family>/presets.py`` as a module-level
list ``PRESETS``; the registry discovers every such module on first use, so a new family adds
models without touching this file. Names follow timm's ``arch-variant-dataset`` convention.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from topdown_zoo.errors import TopdownZooError, UnknownModelError, did_you_mean

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


#: the Hugging Face Hub task of each registry ``task`` (https://huggingface.co/tasks)
HUB_TASKS = {"classification": "image-classification", "multitask": "image-classification",
             "generative": "image-to-image"}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the zoo knows about one named model.

    Attributes:
        name: registry name, ``arch-variant-dataset``.
        family: ``cbl``, ``ngc``, ``butd``, ``convrnn``, ``baselines``.
        builder: ``"module:function"``; called as ``builder(**config)`` it returns a built
            ``keras.Model``. Imported lazily so that listing models never imports TensorFlow.
        config: default architecture config, overridable in ``create(name, **overrides)``.
        input_shape: one example's shape, without the batch axis.
        input_dtype: dtype the model expects (after preprocessing).
        input_range: (low, high) of valid input values after preprocessing, or None.
        dataset: key of the dataset in :mod:`topdown_zoo.data` used to train and evaluate.
        task: ``classification``, ``generative``, ``multitask`` ...
        preprocessing: how raw data becomes model input (recorded so that load, evaluate,
            recipes and exports agree); free-form but JSON-serialisable.
        recipe: file name of the training recipe in ``recipes/``.
        evaluator: ``"module:function"``; ``evaluator(model, spec, **kw)`` returns a metrics dict.
        weights: ``"hub"`` when a trained folder ships in ``hub/<name>``; None when untrained.
        hf_repo_id: Hugging Face repo holding the published weights, if any.
        paper: citation key / title of the paper the model comes from.
        paper_results: the paper's own numbers for this setting (quoted as the paper's, never ours).
        description: one line for ``topdown-zoo list``.
        pipeline_tag: the Hugging Face Hub task, when ``task`` alone does not say it (audio).
        test_config: config overrides that make a small model of the same architecture, for the
            contract tests (``tests/test_contract.py``) — e.g. a narrower ResNet.
    """

    name: str
    family: str
    builder: str
    config: Mapping[str, Any]
    input_shape: tuple[int | None, ...]
    dataset: str
    recipe: str
    description: str
    task: str = "classification"
    input_dtype: str = "float32"
    input_range: tuple[float, float] | None = None
    preprocessing: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    evaluator: str = "topdown_zoo.evaluation:evaluate_classifier"
    weights: str | None = None
    hf_repo_id: str | None = None
    paper: str = ""
    paper_results: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    pipeline_tag: str | None = None
    test_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def hub_task(self) -> str:
        """The Hugging Face Hub task (``pipeline_tag``) of this entry: the explicit one, else the
        Hub task of the entry's ``task``."""
        return self.pipeline_tag or HUB_TASKS.get(self.task, "image-classification")

    def build_fn(self) -> Callable[..., Any]:
        return _import_object(self.builder)

    def evaluate_fn(self) -> Callable[..., Any]:
        return _import_object(self.evaluator)

    @property
    def recipe_path(self) -> Path:
        from topdown_zoo.paths import recipes_dir

        return recipes_dir() / self.recipe

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["input_shape"] = list(self.input_shape)
        out["config"] = dict(self.config)
        return out


def _import_object(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[str, ModelSpec] = {}
_DISCOVERED = False


def register(spec: ModelSpec, *, overwrite: bool = False) -> ModelSpec:
    """Add ``spec`` to the registry (families call this through their ``PRESETS`` list)."""
    if spec.name in _REGISTRY and not overwrite and _REGISTRY[spec.name] != spec:
        raise TopdownZooError(f"model name {spec.name!r} is registered twice; pick another name")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (for user-registered specs and tests)."""
    get_spec(name)  # an unknown name raises UnknownModelError with close matches
    del _REGISTRY[name]


def _discover() -> None:
    """Import ``topdown_zoo.models.<family>.presets`` for every family folder."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    import topdown_zoo.models as models_pkg
    from topdown_zoo.api import quiet_stderr

    for info in sorted(pkgutil.iter_modules(models_pkg.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        try:
            with quiet_stderr():  # a presets module should not import TensorFlow; if it does, no banners
                module = importlib.import_module(f"topdown_zoo.models.{info.name}.presets")
        except ModuleNotFoundError as err:
            if err.name == f"topdown_zoo.models.{info.name}.presets":
                continue  # a family folder without presets yet
            raise
        for spec in getattr(module, "PRESETS", []):
            register(spec)


def all_specs() -> dict[str, ModelSpec]:
    _discover()
    return dict(_REGISTRY)


def list_models(pattern: str = "*", *, family: str | None = None, pretrained: bool = False) -> list[str]:
    """Registered names matching a shell-style ``pattern`` (like ``timm.list_models``).

    Args:
        pattern: wildcard pattern, e.g. ``"cbl-*"`` or ``"*mnist5k"``.
        family: keep only this family (``cbl``, ``ngc``, ...).
        pretrained: keep only models whose trained weights ship with the zoo.
    """
    specs = all_specs()
    if family is not None and family not in families():
        raise TopdownZooError(f"unknown family {family!r}; known families: {', '.join(families())}")
    names = [n for n in sorted(specs) if fnmatch.fnmatchcase(n, pattern)]
    if family is not None:
        names = [n for n in names if specs[n].family == family]
    if pretrained:
        names = [n for n in names if specs[n].weights]
    return names


def families() -> list[str]:
    """The families that have registry entries, sorted (``baselines``, ``butd``, ``cbl`` ...)."""
    return sorted({spec.family for spec in all_specs().values()})


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``; an unknown name raises :class:`UnknownModelError` with close matches."""
    if not isinstance(name, str):
        raise UnknownModelError(f"a model name must be a string such as 'cbl-cnn-mnist5k', got {name!r}. "
                                "Run `topdown-zoo list` (or topdown_zoo.list_models()) to see every name.")
    specs = all_specs()
    if name not in specs:
        raise UnknownModelError(
            f"unknown model {name!r}.{did_you_mean(name, specs)} "
            "Run `topdown-zoo list` (or topdown_zoo.list_models()) to see every name."
        )
    return specs[name]

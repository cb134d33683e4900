"""Writing a hub folder: weights, ``config.json``, ``metadata.json``, ``metrics.json``,
``recipe.yaml``, the model card (:mod:`topdown_zoo.model_card`) and the ``SHA256SUMS`` manifest."""
from __future__ import annotations

import datetime as _dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topdown_zoo import atomic
from topdown_zoo.errors import HubError
from topdown_zoo.hub.layout import (
    CARD,
    CONFIG,
    CURVES,
    FORMAT,
    FORMAT_VERSION,
    HISTORY,
    METADATA,
    METRICS,
    RECIPE,
    WEIGHTS,
)
from topdown_zoo.hub.load import load_weights_file, read_config, rebuild
from topdown_zoo.hub.manifest import write_manifest

if TYPE_CHECKING:
    import keras


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _versions() -> dict[str, str]:
    """Versions and backend of the packaging run; TensorFlow's only when something imported it."""
    import keras

    import topdown_zoo

    out = {"keras_version": keras.__version__, "topdown_zoo_version": topdown_zoo.__version__,
           "backend": keras.backend.backend()}
    tf_version = getattr(sys.modules.get("tensorflow"), "__version__", None)
    if tf_version:
        out["tensorflow_version"] = tf_version
    return out


def _model_from_run_dir(run_dir: Path) -> tuple[keras.Model, dict[str, Any] | None, dict[str, Any] | None]:
    """The trained model, recipe and metrics of a training run directory."""
    import yaml

    recipe = metrics = None
    if (run_dir / RECIPE).is_file():
        recipe = yaml.safe_load((run_dir / RECIPE).read_text())
    if (run_dir / METRICS).is_file():
        metrics = json.loads((run_dir / METRICS).read_text())
    if (run_dir / "model.keras").is_file():
        import keras

        from topdown_zoo.api import register_keras_classes

        register_keras_classes()
        # Keras's own format; a zoo model's identity (registry_name / overrides) is in its config
        model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)
    elif (run_dir / WEIGHTS).is_file() and (run_dir / CONFIG).is_file():
        model = rebuild(read_config(run_dir), source=run_dir / CONFIG)
        load_weights_file(model, run_dir / WEIGHTS)
    else:
        raise HubError(f"{run_dir} holds neither model.keras nor {WEIGHTS} + {CONFIG}; "
                       "is it a training run directory (topdown-zoo train ... --out DIR)?")
    return model, recipe, metrics


def package(model_or_run_dir: keras.Model | str | Path, out_dir: str | Path, *,
            metrics: Mapping[str, Any] | None = None, recipe: Mapping[str, Any] | None = None,
            spec_name: str | None = None, overwrite: bool = False, plots: Any = None,
            history: str | Path | None = None) -> Path:
    """Write ``model_or_run_dir`` as a publishable hub folder at ``out_dir``; returns its path.

    Args:
        model_or_run_dir: a Keras model (a zoo model records its ``registry_name`` and
            ``registry_overrides``), or a training run directory (``model.keras`` or
            ``model.weights.h5`` + ``config.json``, with ``metrics.json`` and ``recipe.yaml``).
        out_dir: the folder to write; it must not exist yet (or be empty) unless ``overwrite``.
            Written in a temporary folder next to it, flushed to disk and renamed at the end
            (:func:`topdown_zoo.atomic.commit`), so a failure or a kill never leaves half a
            folder; what a killed packaging left beside ``out_dir`` is cleaned first.
        metrics: what training/evaluation measured (``metrics.json`` content); the card's
            results and model-index come only from here.
        recipe: the recipe dict that produced the weights.
        spec_name: the registry name, when the model does not record one.
        overwrite: replace an existing ``out_dir`` (atomically: the old folder stays whole
            until the new one is complete).
        plots: ``(x, y)`` test examples (:func:`topdown_zoo.plots.load_examples`): the model's
            pictures are drawn into ``plots/`` (listed in ``SHA256SUMS``) and shown in the card.
        history: the training run's per-epoch ``history.csv``: copied into the folder, drawn as
            ``curves.png`` and shown in the card (default for a run directory: its own).
    """
    from topdown_zoo import model_card
    from topdown_zoo.data.class_names import spec_class_names
    from topdown_zoo.registry import get_spec

    if isinstance(model_or_run_dir, (str, Path)):
        model, run_recipe, run_metrics = _model_from_run_dir(Path(model_or_run_dir))
        own_history = Path(model_or_run_dir) / HISTORY
        history = history if history is not None or not own_history.is_file() else own_history
        recipe = recipe if recipe is not None else run_recipe
        metrics = metrics if metrics is not None else run_metrics
    else:
        model = model_or_run_dir
    metrics = dict(metrics or {})
    recorded = getattr(model, "registry_name", None)  # None: a Keras model not built by the registry
    spec_name = (spec_name or recorded or (recipe or {}).get("model")
                 or (metrics.get("_run") or {}).get("model"))
    spec = get_spec(spec_name) if spec_name else None
    overrides = dict(model.registry_overrides if recorded else (recipe or {}).get("overrides") or {})

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    atomic.clean_leftovers(out_dir)
    if not overwrite and out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise HubError(f"{out_dir} already exists and is not empty; remove it or pick another folder")
    tmp = atomic.sibling(out_dir)
    tmp.mkdir(mode=0o755)  # a shipped or mirrored folder must be readable by all
    try:
        import keras

        uncompiled = _weights_only(model)  # one copy (if compiled) serves the weights and the config
        uncompiled.save_weights(tmp / WEIGHTS)
        # config.json is Keras's own serialization, so keras.saving.load_model(folder or "hf://…") works
        # (after `import topdown_zoo`); what the zoo adds lives in metadata.json under "topdown_zoo".
        keras_config = keras.saving.serialize_keras_object(uncompiled)
        zoo = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "registry_name": spec.name if spec else None,
            "overrides": overrides,
            "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
            "registered_name": keras.saving.get_registered_name(type(model)),
            "input_shape": list(spec.input_shape) if spec else _input_shape_of(model),
            "input_dtype": spec.input_dtype if spec else "float32",
            "input_range": list(spec.input_range) if spec and spec.input_range else None,
            "preprocessing": dict(spec.preprocessing) if spec else {},
            "task": spec.task if spec else None,
            # names[label] of the outputs (None: unnamed, or a resized head); topdown_zoo.data.class_names
            "class_names": spec_class_names(spec, overrides) if spec else None,
        }
        _dump_json(tmp / CONFIG, keras_config)
        metadata = {
            "keras_version": keras.__version__,  # the two keys Keras itself writes
            "date_saved": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d@%H:%M:%S"),
            **_versions(),
            "parameter_count": int(model.count_params()),
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "registry_name": zoo["registry_name"],
            "dtype_policy": model.dtype_policy.name,
            "topdown_zoo": zoo,
        }
        _dump_json(tmp / METADATA, metadata)
        _dump_json(tmp / METRICS, metrics)
        if recipe is not None:
            import yaml

            (tmp / RECIPE).write_text(yaml.safe_dump(dict(recipe), sort_keys=False))
        pictures: list[str] = []
        if plots is not None:
            from topdown_zoo.plots import write_plots

            pictures = [p.relative_to(tmp).as_posix() for p in write_plots(model, plots, tmp / "plots")]
        curves = convergence = None
        if history is not None:
            from topdown_zoo.plots.curves import plot_history

            (tmp / HISTORY).write_bytes(Path(history).read_bytes())
            plot_history(tmp / HISTORY, tmp / CURVES)
            curves = CURVES
            convergence = _convergence_line(tmp / HISTORY)
        card = model_card.render(spec=spec, metrics=metrics, recipe=recipe, metadata=metadata,
                                 overrides=overrides, repo_id=spec.hf_repo_id if spec else None, pictures=pictures,
                                 curves=curves, convergence=convergence)
        (tmp / CARD).write_text(card)
        write_manifest(tmp)
        atomic.fault_point("package")
        atomic.commit(tmp, out_dir)
    finally:
        atomic.remove(tmp)
    return out_dir


def _convergence_line(history: Path) -> str | None:
    """The card's verdict on the validation curve (``topdown_zoo.convergence``), or None when the
    history has no validation column or too few epochs to judge."""
    from topdown_zoo.convergence import plateau

    try:
        return plateau(history).describe()
    except ValueError:
        return None


def _weights_only(model: keras.Model) -> keras.Model:
    """A compiled model's ``save_weights`` also writes its optimizer's slots, which an uncompiled
    model cannot load. Return an uncompiled copy with the same weights (or the model itself); its
    config, and so its registry identity, is the model's."""
    if getattr(model, "optimizer", None) is None:  # Keras sets it in compile()
        return model
    copy = type(model).from_config(model.get_config())
    copy.build_from_config(model.get_build_config())
    copy.set_weights(model.get_weights())
    return copy


def _input_shape_of(model: keras.Model) -> list[int | None] | None:
    try:
        shape = model.input_shape if not isinstance(model.input_shape, list) else model.input_shape[0]
        return list(shape[1:])
    except (AttributeError, ValueError, TypeError):
        shape = (model.get_build_config() or {}).get("input_shape")
        return list(shape[1:]) if shape else None

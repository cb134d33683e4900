"""Robustness of a classifier: accuracy at every refinement step against corruption level.

    topdown-zoo robustness NAME [--corruptions occlusion noise debris] [--levels noise=0,0.2,0.4]
                                [--examples 1000] [--out DIR] [--json]

The harness uses only the model contract (:mod:`topdown_zoo.models.base`): ``prediction_kind``
(``labels`` or ``task_labels``; reconstruction models are refused), ``input_specs`` /
``pack_inputs`` / ``unpack_inputs`` and ``step_outputs`` (the output after every step; one for a
single-pass model).

Data: the clean test split of the entry's dataset (:data:`CLEAN_DATA` maps a dataset that is
itself corrupted, digit debris, to its clean digits: mnist5k), ``examples`` of them drawn by a
fixed seed (all of them when there are fewer). Every float image input (rank-3 spec) is
corrupted by :mod:`topdown_zoo.data.corruptions` with a generator seeded by
``(seed, corruption, level)``, so two models with the same test digits see the very same
corrupted images. Integer inputs (a task id) are left alone; a model that takes one is scored on
every (image, task) example of its test split (both tasks of BU-TD's Multi-MNIST), and its
accuracy per task value is reported too (``per_input``).

Result (JSON): ``{"model", "examples", "data", "seed", "steps", "scoring", "levels": {corruption:
[...]}, "results": {corruption: [{"level", "steps": [accuracy after step 0, …], "final",
"per_input": {...}}]}}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from topdown_zoo.checks import check_float
from topdown_zoo.data import corruptions as _c
from topdown_zoo.errors import ConfigError, did_you_mean

#: corruption -> (function(images, level, rng), what a level means)
CORRUPTIONS: dict[str, tuple[Callable[..., np.ndarray], str]] = {
    "occlusion": (_c.occlude, "fraction of the image covered (erased to 0, 4×4 blocks)"),
    "noise": (_c.gaussian_noise, "sigma of additive Gaussian noise (clipped to [0, 1])"),
    "debris": (_c.debris, "digit-debris fragments (6×6 crops of other test digits)"),
}
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "occlusion": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    "noise": (0.0, 0.1, 0.2, 0.3, 0.4, 0.6),
    "debris": (0, 5, 10, 20, 40),
}
#: a dataset that is a corrupted version of another -> the clean one the harness corrupts itself
CLEAN_DATA = {"digit_debris_mnist5k": "mnist5k", "digit_debris_mnist": "mnist"}
_IDS = {name: i for i, name in enumerate(CORRUPTIONS)}


def check_corruptions(names: Sequence[str] | None) -> list[str]:
    """``names`` (default: every corruption), refusing unknown ones with the allowed list."""
    names = list(CORRUPTIONS) if not names else list(names)
    for name in names:
        if name not in CORRUPTIONS:
            raise ConfigError(f"unknown corruption {name!r}.{did_you_mean(name, CORRUPTIONS)} Allowed: "
                              f"{', '.join(CORRUPTIONS)}")
    return names


def check_classifier(model: Any) -> None:
    """Refuse a model whose outputs are not class logits (``prediction_kind`` reconstruction)."""
    kind = getattr(model, "prediction_kind", None)
    if kind not in ("labels", "task_labels"):
        name = getattr(model, "registry_name", None) or type(model).__name__
        raise ConfigError(f"{name} predicts {kind}, not class labels: the robustness harness measures classifiers "
                          "only; pick one from `topdown-zoo list` whose entry is a classifier (e.g. cbl-cnn-mnist5k)")


def corrupt(name: str, images: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    """``images`` with corruption ``name`` at ``level``, deterministic in ``(seed, name, level)``."""
    function, _ = CORRUPTIONS[check_corruptions([name])[0]]
    level = check_float(f"{name} level", level, low=0.0)
    rng = np.random.default_rng([int(seed), _IDS[name], int(round(float(level) * 1000))])
    return function(images, level, rng)


def clean_test_data(model: Any, examples: int = 1000, seed: int = 0,
              dataset: str | None = None) -> tuple[list[np.ndarray], np.ndarray, str]:
    """(input arrays in ``input_specs`` order, labels, dataset name) of ``examples`` clean test
    examples of the model's registry entry (or of ``dataset``)."""
    from topdown_zoo.data import load_dataset
    from topdown_zoo.registry import get_spec

    if dataset is None:
        if getattr(model, "registry_name", None) is None:
            raise ConfigError("a model built by hand has no registry entry: give dataset=NAME (or data=) explicitly")
        dataset = get_spec(model.registry_name).dataset
    dataset = CLEAN_DATA.get(dataset, dataset)
    xs: list[list[np.ndarray]] = []
    ys: list[np.ndarray] = []
    for x, y in load_dataset(dataset, "test").batch(4096).as_numpy_iterator():
        xs.append([np.asarray(a) for a in model.unpack_inputs(x)])
        ys.append(np.asarray(y))
    inputs = [np.concatenate(parts) for parts in zip(*xs)]
    labels = np.concatenate(ys)
    if examples < len(labels):
        keep = np.sort(np.random.default_rng(seed).choice(len(labels), size=examples, replace=False))
        inputs, labels = [a[keep] for a in inputs], labels[keep]
    return inputs, labels, dataset


def _image_inputs(model: Any) -> list[int]:
    return [i for i, spec in enumerate(model.input_specs())
            if not spec.dtype.startswith("int") and len(spec.shape) == 3]


def _step_hits(model: Any, inputs: list[np.ndarray], labels: np.ndarray, batch_size: int) -> np.ndarray:
    """(steps, N) booleans: example n correct after step k."""
    import keras

    rows = []
    for start in range(0, len(labels), batch_size):
        batch = model.pack_inputs([a[start:start + batch_size] for a in inputs])
        steps = model.step_outputs(batch, training=False)
        preds = np.stack([np.asarray(keras.ops.convert_to_numpy(s)).argmax(-1) for s in steps])
        rows.append(preds == labels[start:start + batch_size][None])
    return np.concatenate(rows, axis=1)


def measure(model: Any, corruptions: Sequence[str] | None = None,
            levels: Mapping[str, Sequence[float]] | None = None, *, examples: int = 1000, seed: int = 0,
            batch_size: int = 256, data: tuple[list[np.ndarray], np.ndarray] | None = None,
            dataset: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Accuracy after every step of ``model`` for every corruption and level (see the module)."""
    check_classifier(model)
    names = check_corruptions(corruptions)
    levels = {name: [float(v) for v in (levels or {}).get(name, DEFAULT_LEVELS[name])] for name in names}
    for name, values in levels.items():
        if not values:
            raise ConfigError(f"corruption {name!r} has no levels; give e.g. --levels {name}="
                              f"{','.join(f'{v:g}' for v in DEFAULT_LEVELS[name])}")
    probe = np.zeros((1, 8, 8, 1), dtype="float32")
    for name, values in levels.items():
        for value in values:  # a bad level (a fraction above 1, a negative sigma) fails before any work
            corrupt(name, probe, value, seed)
    if data is None:
        inputs, labels, dataset = clean_test_data(model, examples, seed, dataset)
    else:
        inputs, labels = [np.asarray(a) for a in data[0]], np.asarray(data[1])
    images = _image_inputs(model)
    if not images:
        raise ConfigError(f"{getattr(model, 'registry_name', None) or type(model).__name__} has no image input "
                          "(a float input shaped (H, W, C)) to corrupt")
    others = [i for i, spec in enumerate(model.input_specs()) if spec.dtype.startswith("int")]
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(sum(len(v) for v in levels.values()), unit_name="level")
    results: dict[str, list[dict[str, Any]]] = {}
    steps = 0
    for name in names:
        results[name] = []
        for level in levels[name]:
            corrupted = list(inputs)
            for i in images:
                corrupted[i] = corrupt(name, inputs[i], level, seed)
            hits = _step_hits(model, corrupted, labels, batch_size)
            steps = hits.shape[0]
            row: dict[str, Any] = {"level": level, "steps": [float(h.mean()) for h in hits],
                                   "final": float(hits[-1].mean())}
            for i in others:
                spec = model.input_specs()[i]
                row.setdefault("per_input", {})[spec.name] = {
                    str(int(v)): float(hits[-1][inputs[i] == v].mean()) for v in np.unique(inputs[i])}
            results[name].append(row)
            if bar is not None:
                bar.add(1)
    scoring = "top-1 accuracy of every step's output"
    if others:
        names_int = ", ".join(model.input_specs()[i].name for i in others)
        scoring += (f"; over every example of the test split, i.e. every value of the integer input(s) {names_int} "
                    "(per value in per_input)")
    return {"model": getattr(model, "registry_name", None) or type(model).__name__, "examples": int(len(labels)),
            "data": f"{dataset or 'given arrays'} test split", "seed": int(seed), "steps": int(steps),
            "scoring": scoring, "levels": levels,
            "level_meaning": {name: CORRUPTIONS[name][1] for name in names}, "results": results}


# -------------------------------------------------------------------------------- reports
def markdown(result: Mapping[str, Any]) -> str:
    """A markdown table per corruption: rows = step, columns = level (accuracy in %)."""
    lines = [f"# Robustness of {result['model']}", "",
             f"{result['examples']} examples of the {result['data']}, corruption seed {result['seed']}; "
             f"{result['scoring']}.", ""]
    for name, rows in result["results"].items():
        lines += [f"## {name} ({result['level_meaning'][name]})", "",
                  "| step | " + " | ".join(f"{r['level']:g}" for r in rows) + " |",
                  "|---|" + "---|" * len(rows)]
        for k in range(result["steps"]):
            lines.append(f"| {k} | " + " | ".join(f"{100 * r['steps'][k]:.1f}" for r in rows) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(result: Mapping[str, Any], path: str | Path) -> Path:
    """Accuracy against corruption level, one line per step, one panel per corruption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["results"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = result["results"][name]
        x = [r["level"] for r in rows]
        for k in range(result["steps"]):
            label = f"step {k}" if result["steps"] > 1 else "output"
            ax.plot(x, [100 * r["steps"][k] for r in rows], marker="o", label=label)
        ax.set_xlabel(result["level_meaning"][name].split(" (")[0])
        ax.set_ylabel("accuracy (%)")
        ax.set_title(name)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{result['model']}: accuracy per step against corruption ({result['examples']} examples)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(result: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """``robustness_<model>.json``, ``.md`` and ``.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"robustness_{result['model']}"
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    md_path.write_text(markdown(result))
    return [json_path, md_path, plot(result, stem.with_suffix(".png"))]


def parse_levels(items: Sequence[str], corruptions: Sequence[str]) -> dict[str, list[float]]:
    """``["noise=0,0.2", ...]`` → ``{"noise": [0.0, 0.2]}``; a bare ``0,0.2`` applies to the one
    corruption asked for."""
    levels: dict[str, list[float]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep:
            if len(corruptions) != 1:
                raise ConfigError(f"--levels {item!r}: say which corruption, e.g. --levels noise={item}")
            name, values = corruptions[0], item
        check_corruptions([name])
        try:
            levels[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"--levels {item!r}: levels must be numbers separated by commas, e.g. "
                              f"{name}={','.join(f'{v:g}' for v in DEFAULT_LEVELS[name])}") from None
    return levels

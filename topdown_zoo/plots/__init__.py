"""Pictures of what a model does, written by ``topdown-zoo evaluate NAME --plots DIR`` and
:func:`write_plots`.

A model names the pictures it supports with ``plot_kinds()`` (the contract,
:mod:`topdown_zoo.models.base`): by default they follow from its ``prediction_kind`` and
``step_key``; a family adds the kinds that need its own methods (the "needs" column). One module
per kind draws it with matplotlib's Agg canvas and writes ``DIR/<kind>.png``.

================  =============================================================  ======================
kind              picture                                                        needs
================  =============================================================  ======================
predictions       test examples with the predicted label and its confidence,     ``interpret``
                  then the mistakes
steps             accuracy and mean confidence per step; per example the class   ``step_outputs``
                  probabilities of every step (refinement / time steps)
reconstructions   input, reconstruction, absolute difference                     ``interpret``
settling          the reconstruction after k settling steps, error per step      ``step_outputs``
denoising         clean, noisy (N(0, 0.1) added), denoised, with PSNR            ``denoise(x)``
samples           decoded draws from a Gaussian mixture fitted on top latents    ``encode``, ``decode``
completions       the right half hidden and filled in (eq. 4 of the GNCN paper)  ``complete(x, mask)``
task_attention    per task: the answer, and where it depends on the image        an integer task input
                  (confidence drop when a patch is hidden)
================  =============================================================  ======================
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.checks import check_int
from topdown_zoo.errors import ConfigError, TopdownZooError

KINDS = ("predictions", "steps", "reconstructions", "settling", "denoising", "samples", "completions",
         "task_attention")
#: examples ``load_examples`` gives the pictures (the accuracy curves use all of them), in
#: ``BLOCKS`` runs of consecutive test examples, from the first ``POOL * EXAMPLES`` of the split
EXAMPLES, BLOCKS, POOL = 512, 16, 16


def write_plots(model: Any, data: Any, out_dir: str | Path) -> list[Path]:
    """Write every picture ``model.plot_kinds()`` names into ``out_dir`` (created if needed).

    Args:
        model: a zoo model (:class:`~topdown_zoo.models.base.ZooModel`).
        data: ``(x, y)``: a batch of test examples as ``model(x)`` takes it and its labels
            (``None`` when there are none), e.g. from :func:`load_examples`.
        out_dir: the folder of the PNG files (``<kind>.png``).

    Returns:
        The paths written, in ``plot_kinds()`` order (a kind that does not apply, such as
        ``steps`` for a model with a single step, writes nothing).
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TopdownZooError("data must be a pair (x, y): a batch as model(x) takes it and its labels (or None)")
    x, labels = data
    labels = None if labels is None else np.asarray(labels)
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in model.plot_kinds():
        if kind not in KINDS:
            raise ConfigError(f"{type(model).__name__}.plot_kinds() names {kind!r}; known kinds: {', '.join(KINDS)}")
        draw = importlib.import_module(f"topdown_zoo.plots.{kind}").plot
        path = draw(model, x, labels, out / f"{kind}.png")
        if path is not None:
            written.append(path)
    return written


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path; a :class:`TopdownZooError` when it names a file (checked before a
    long evaluation, by the CLI)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TopdownZooError(f"cannot write the pictures into {str(out)!r}: it is a file, not a folder")
    return out


def load_examples(spec: Any, *, count: int = EXAMPLES, smoke: bool = False,
                  recipe: dict[str, Any] | None = None) -> tuple[Any, np.ndarray | None]:
    """``count`` test examples of ``spec``'s dataset, preprocessed as its recipe says (``recipe``:
    a validated recipe, default the entry's own; a fine-tuning recipe brings its own data).

    Test splits are often ordered (by class, by debris level, each image once per task), so the
    examples are :data:`BLOCKS` runs of consecutive examples spread evenly over the split (at most
    ``POOL * count`` examples are read). Returns ``(x, y)`` for :func:`write_plots`."""
    from topdown_zoo.data import load_dataset

    count = check_int("count", count, 1)
    if recipe is None:
        from topdown_zoo.paths import recipes_dir
        from topdown_zoo.recipe import load_recipe

        recipe = load_recipe(recipes_dir() / spec.recipe)
    data = recipe["data"]
    ds = load_dataset(data["dataset"], "test", smoke=smoke, **(data["options"] or {}))
    batches = [_numpy(b) for b in ds.take(POOL * count).batch(1024)]
    if not batches:
        raise TopdownZooError(f"the test split of {data['dataset']} is empty: nothing to draw")
    pool = _concat(batches)
    x, y = (pool[0], pool[1]) if isinstance(pool, tuple) and len(pool) == 2 else (pool, None)
    total = len(y) if y is not None else len(_leaves(x)[0])
    block = max(1, count // BLOCKS)
    if total > count:
        starts = [block * b for b in np.linspace(0, total // block - 1, count // block).astype(int)]
        index = np.concatenate([np.arange(s, s + block) for s in starts])
        x, y = _take(x, index), None if y is None else y[index]
    return x, y


def _numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(_numpy(v) for v in value)
    return np.asarray(value)


def _concat(batches: list[Any]) -> Any:
    if isinstance(batches[0], tuple):
        return tuple(_concat([b[i] for b in batches]) for i in range(len(batches[0])))
    return np.concatenate(batches)


def _take(value: Any, index: np.ndarray) -> Any:
    if isinstance(value, tuple):
        return tuple(_take(v, index) for v in value)
    return value[index]


def _leaves(value: Any) -> list[np.ndarray]:
    return [leaf for v in value for leaf in _leaves(v)] if isinstance(value, tuple) else [value]

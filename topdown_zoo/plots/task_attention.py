"""``task_attention``: one image, one answer per task, and where each answer comes from.

For a model with an image input and an integer task input (BU-TD: the task enters the top-down
stream and gates the bottom-up units), every image is answered once per task. The map under each
answer is an occlusion test that needs nothing but the model's outputs: a black patch slides over
the image and the map shows how much the probability of the unoccluded answer drops when that
region is hidden (averaged over the patches that cover a pixel). A task that attends to one
region of the image depends on that region only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

EXAMPLES = 4
AVERAGED = 32  # images of the last row (the mean map per task)
MAX_TASKS = 4
BATCH = 256


def task_names(model: Any, count: int) -> list[str]:
    """The registry entry's task names (``preprocessing["tasks"]``) when known, else "task 0" …"""
    names = None
    if model.registry_name:
        from topdown_zoo.registry import get_spec

        names = get_spec(model.registry_name).preprocessing.get("tasks")
    if names and len(names) >= count:
        return [str(n) for n in names[:count]]
    return [f"task {t}" for t in range(count)]


def _answer(model: Any, images: np.ndarray, task: int) -> np.ndarray:
    """(N, C) class probabilities of ``images`` under ``task``."""
    out = []
    for i in range(0, len(images), BATCH):
        chunk = images[i:i + BATCH]
        logits = model(model.pack_inputs([chunk, np.full((len(chunk),), task, "int32")]), training=False)
        out.append(fg.probabilities(fg.to_numpy(logits)))
    return np.concatenate(out)


def occlusion_map(model: Any, image: np.ndarray, task: int, answer: int, patch: int, stride: int) -> np.ndarray:
    """(H, W): mean drop of p(answer) over the (black) patches that cover each pixel."""
    h, w = image.shape[:2]
    corners = [(r, c) for r in range(0, h - patch + 1, stride) for c in range(0, w - patch + 1, stride)]
    hidden = np.repeat(image[None], len(corners), axis=0)
    for i, (r, c) in enumerate(corners):
        hidden[i, r:r + patch, c:c + patch] = 0.0
    base = _answer(model, image[None], task)[0, answer]
    drops = base - _answer(model, hidden, task)[:, answer]
    total, cover = np.zeros((h, w)), np.zeros((h, w))
    for (r, c), d in zip(corners, drops):
        total[r:r + patch, c:c + patch] += d
        cover[r:r + patch, c:c + patch] += 1
    return np.asarray(total / np.maximum(cover, 1))


def _distinct(images: np.ndarray, limit: int) -> list[int]:
    """Indices of the first ``limit`` distinct images (a task dataset repeats each image per task)."""
    seen, out = set(), []
    for i, image in enumerate(images):
        key = image.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(i)
        if len(out) == limit:
            break
    return out


def _truth(images: np.ndarray, tasks: np.ndarray, labels: np.ndarray | None, k: int, task: int) -> int | None:
    """The label of image ``k`` for ``task`` when the data holds that (image, task) pair."""
    if labels is None:
        return None
    same = np.flatnonzero((tasks == task) & np.all(images.reshape(len(images), -1) == images[k].reshape(1, -1), axis=1))
    return int(labels[same[0]]) if len(same) else None


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path:
    images = fg.image_input(model, x)
    specs = model.input_specs()
    position = next(i for i, s in enumerate(specs) if s.dtype.startswith("int"))
    tasks = fg.to_numpy(model.unpack_inputs(x)[position]).reshape(-1)
    num_tasks = model.integer_input_high(specs[position].name)
    count = min(MAX_TASKS, num_tasks)
    names = task_names(model, count)
    distinct = _distinct(images, len(images))
    picked = [distinct[i] for i in fg.spread(EXAMPLES, len(distinct))]
    averaged = [distinct[i] for i in fg.spread(AVERAGED, len(distinct))]
    patch = max(2, images.shape[1] // 4)
    stride = max(1, patch // 3)
    shown = fg.displayable(images[picked])
    cells = []  # (row, task, title, colour, map)
    for r, k in enumerate(picked):
        for t in range(count):
            probs = _answer(model, images[k:k + 1], t)[0]
            answer = int(probs.argmax())
            truth = _truth(images, tasks, labels, k, t)
            title = f"{names[t]} → {answer} ({probs[answer]:.2f})"
            if truth is not None and truth != answer:
                title += f", true {truth}"
            color = None if truth is None else (fg.RIGHT if truth == answer else fg.WRONG)
            cells.append((r, t, title, color, occlusion_map(model, images[k], t, answer, patch, stride)))
    means = [np.mean([occlusion_map(model, images[k], t, int(_answer(model, images[k:k + 1], t)[0].argmax()),
                                    patch, stride) for k in averaged], axis=0) for t in range(count)]
    top = max(0.05, max(float(m.max()) for *_, m in cells))
    rows = len(picked) + 1
    fig = fg.figure(2.05 * (count + 1) + 0.8, 2.05 * rows + 0.8)
    axes = fig.subplots(rows, count + 1, squeeze=False)
    for r in range(len(picked)):
        fg.show(axes[r, 0], shown[r], "image" if r == 0 else None, fontsize=9)
    heat = None
    for r, t, title, color, drop in cells:
        ax = axes[r, t + 1]
        fg.show(ax, shown[r] if shown[r].ndim == 2 else shown[r].mean(-1), title, color, fontsize=8)
        heat = ax.imshow(np.clip(drop, 0, None), cmap="inferno", vmin=0.0, vmax=top, alpha=0.65,
                         interpolation="bilinear")
    axes[-1, 0].set_axis_off()
    axes[-1, 0].text(0.5, 0.5, f"mean map\nover {len(averaged)}\ntest images", ha="center", va="center",
                     fontsize=10, transform=axes[-1, 0].transAxes)
    for t, mean in enumerate(means):
        ax = axes[-1, t + 1]
        mean_image = np.zeros_like(shown[0] if shown[0].ndim == 2 else shown[0][..., 0])
        fg.show(ax, mean_image, f"{names[t]}: mean drop (max {float(mean.max()):.2f})", fontsize=8)
        ax.imshow(np.clip(mean, 0, None), cmap="inferno", vmin=0.0, vmax=max(0.01, float(mean.max())),
                  interpolation="bilinear")
    fig.colorbar(heat, ax=axes[:-1, 1:], shrink=0.8, label="drop in p(answer) when hidden")
    shown_tasks = "" if count == num_tasks else f" (the first {count} of {num_tasks} tasks)"
    fig.suptitle(f"{fg.model_name(model)}: one image, one answer per task{shown_tasks}\n"
                 f"map: how much p(answer) drops when a {patch}×{patch} patch there is blacked out", fontsize=10)
    return fg.save(fig, path)

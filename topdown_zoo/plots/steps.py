"""``steps``: what every refinement / time step predicts (:meth:`step_outputs`).

Left: accuracy and mean confidence of the answer after each step, over the examples given.
Right: for a few examples (those whose answer changes between steps first) the image and the
class probabilities of every step (a row per step), the true class framed. Nothing is drawn for
a model with a single step output."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from topdown_zoo.plots import figures as fg

EXAMPLES = 6
MAX_CLASSES = 10
BATCH = 128


def step_probabilities(model: Any, x: Any) -> np.ndarray:
    """(N, S, C) class probabilities after each of the S steps."""
    arrays = model.unpack_inputs(x)
    n = len(arrays[0])
    chunks = []
    for i in range(0, n, BATCH):
        batch = model.pack_inputs([a[i:i + BATCH] for a in arrays])
        chunks.append(np.stack([fg.probabilities(fg.to_numpy(s)) for s in model.step_outputs(batch)], axis=1))
    return np.concatenate(chunks)


def _picked(answers: np.ndarray, labels: np.ndarray | None) -> list[int]:
    """Examples whose answer changes between steps, then wrong ones, then the rest."""
    changes = np.flatnonzero((answers != answers[:, :1]).any(axis=1))
    wrong = np.flatnonzero(answers[:, -1] != labels) if labels is not None else np.array([], int)
    order = np.concatenate([changes, wrong, np.arange(len(answers))])
    return fg.first_unique(order.tolist(), EXAMPLES)


def plot(model: Any, x: Any, labels: np.ndarray | None, path: Path) -> Path | None:
    probs = step_probabilities(model, x)
    n, steps, classes = probs.shape
    if steps < 2:
        return None
    answers = probs.argmax(-1)
    confidence = probs.max(-1)
    images = fg.displayable(fg.image_input(model, x))
    picked = _picked(answers, labels)

    fig = fg.figure(11.5, max(1.05 * len(picked) + 1.4, 5.0))
    left, right = fig.subfigures(1, 2, width_ratios=[1.0, 1.6])
    top, bottom = left.subplots(2, 1, height_ratios=[1.6, 1.0], sharex=True)
    t = np.arange(steps)
    if labels is not None:
        top.plot(t, 100 * (answers == labels.reshape(-1, 1)).mean(0), "o-", label="accuracy")
    top.plot(t, 100 * confidence.mean(0), "s--", label="mean confidence")
    top.set(ylabel="%", title=f"over {n} test examples")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    changed = 100 * (answers[:, 1:] != answers[:, :-1]).mean(0)
    bars = bottom.bar(t[1:], changed, color="C2", width=0.5)
    bottom.bar_label(bars, fmt="%.1f", fontsize=7)
    bottom.set(xlabel="step", ylabel="% changed", xticks=t, ylim=(0, max(1.0, 1.25 * changed.max())),
               title="answers the step changed", xlim=(-0.5, steps - 0.5))
    bottom.title.set_fontsize(9)

    axes = right.subplots(len(picked), 2, width_ratios=[1, 3.2], squeeze=False)
    for r, k in enumerate(picked):
        truth = None if labels is None else int(labels[k])
        fg.show(axes[r, 0], images[k])
        if truth is not None:
            axes[r, 0].set_ylabel(f"true {truth}", fontsize=8)
        shown = np.arange(classes) if classes <= MAX_CLASSES else np.sort(np.argsort(-probs[k].max(0))[:MAX_CLASSES])
        heat = axes[r, 1].imshow(probs[k][:, shown], vmin=0, vmax=1, cmap="viridis", aspect="auto")
        axes[r, 1].set_yticks(range(steps), [f"step {s}: {answers[k, s]}" for s in range(steps)], fontsize=7)
        axes[r, 1].set_xticks(range(len(shown)), [str(c) for c in shown], fontsize=7)
        if truth is not None and truth in shown:
            col = int(np.flatnonzero(shown == truth)[0])
            axes[r, 1].add_patch(_frame(col, steps, fg.RIGHT))
    axes[-1, 1].set_xlabel("class", fontsize=8)
    right.colorbar(heat, ax=axes[:, 1], label="probability", shrink=0.8)
    right.suptitle("per example: probability of each class after each step (framed: the true class)", fontsize=9)
    fig.suptitle(f"{fg.model_name(model)}: predictions after each of {steps} steps", fontsize=11)
    return fg.save(fig, path)


def _frame(col: int, rows: int, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, -0.5), 1, rows, fill=False, edgecolor=color, linewidth=2)

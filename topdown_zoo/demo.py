"""The offline demo: a pretrained classifier refining its guesses, step by step, on held-out
mnist5k digits (the outputs of ``model.step_outputs``)."""
from __future__ import annotations

from typing import Any

import numpy as np

DEMO_DATASET = "mnist5k"


def run_demo(name: str = "cbl-cnn-mnist5k", examples: int = 8, out: Any = None) -> dict[str, float]:
    """Print per-step predictions for a few held-out digits and per-step test accuracy.

    Args:
        name: a registry entry trained on mnist5k whose outputs are class logits.
        examples: how many digits to show (at least 1).
        out: a text stream to print to (default: standard output).

    Returns:
        ``{"accuracy_step0": ..., ...}`` on the mnist5k test split.
    """
    import topdown_zoo as tz
    from topdown_zoo.checks import check_int
    from topdown_zoo.data.mnist5k import load_arrays

    examples = check_int("examples", examples, low=1)
    spec = tz.get_spec(name)
    if spec.dataset != DEMO_DATASET:
        raise tz.DatasetError(f"the demo runs on {DEMO_DATASET} models; {name} uses {spec.dataset}. "
                              "Try cbl-cnn-mnist5k")
    model = tz.load(name)
    if model.prediction_kind != "labels":
        raise tz.TopdownZooError(f"the demo shows class predictions; {name} predicts {model.prediction_kind}. "
                                 "Try cbl-cnn-mnist5k")
    import keras  # imported by tz.load (quietly)

    x, y = load_arrays("test")
    steps = [keras.ops.convert_to_numpy(s) for s in model.step_outputs(x)]

    def show(line: str = "") -> None:
        print(line, file=out)

    show(f"{name}: {len(steps) - 1} refinement step(s), {len(y)} held-out digits ({DEMO_DATASET} test split)\n")
    show("digit  " + "  ".join(f"step {k} (p)" for k in range(len(steps))))
    for i in _interesting_examples(steps, y, examples):
        cells = []
        for s in steps:
            p = np.exp(s[i] - s[i].max())
            p /= p.sum()
            cells.append(f"{int(s[i].argmax())} ({p.max():.2f})  ")
        show(f"  {int(y[i])}    " + "  ".join(cells))
    accuracy = {f"accuracy_step{k}": float((s.argmax(-1) == y).mean()) for k, s in enumerate(steps)}
    show()
    for key, value in accuracy.items():
        show(f"{key}: {value:.4f}")
    return accuracy


def _interesting_examples(steps: list[np.ndarray], y: np.ndarray, count: int) -> list[int]:
    """Digits whose prediction changed during refinement first, then one digit of each class."""
    changed = np.flatnonzero(steps[0].argmax(-1) != steps[-1].argmax(-1)).tolist()
    per_class = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)]
    chosen = list(dict.fromkeys(changed[: count // 2] + per_class))
    return chosen[:count]

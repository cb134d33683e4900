"""The offline demo: a pretrained CBL model refining its guesses on held-out MNIST digits."""
from __future__ import annotations

import numpy as np


def run_demo(name: str = "cbl-cnn-mnist5k", examples: int = 8) -> dict:
    """Print per-step predictions for a few held-out digits and per-step test accuracy."""
    import topdown_zoo as tz
    from topdown_zoo.data.mnist5k import load_arrays

    spec = tz.get_spec(name)
    if spec.dataset != "mnist5k":
        raise tz.TopdownZooError(f"the demo runs on mnist5k models; {name} uses {spec.dataset}. Try cbl-cnn-mnist5k")
    model = tz.load(name)
    x, y = load_arrays("test")
    steps = [np.asarray(s) for s in model.refine(x)]
    print(f"{name}: {len(steps) - 1} refinement step(s), {len(y)} held-out digits (mnist5k test split)\n")
    print("digit  " + "  ".join(f"step {k} (p)" for k in range(len(steps))))
    for i in _interesting_examples(steps, y, examples):
        cells = []
        for s in steps:
            p = np.exp(s[i] - s[i].max())
            p /= p.sum()
            cells.append(f"{int(s[i].argmax())} ({p.max():.2f})  ")
        print(f"  {int(y[i])}    " + "  ".join(cells))
    accuracy = {f"accuracy_step{k}": float((s.argmax(-1) == y).mean()) for k, s in enumerate(steps)}
    print()
    for key, value in accuracy.items():
        print(f"{key}: {value:.4f}")
    return accuracy


def _interesting_examples(steps, y, count: int) -> list[int]:
    """Digits whose prediction changed during refinement first, then one digit of each class."""
    changed = np.flatnonzero(steps[0].argmax(-1) != steps[-1].argmax(-1)).tolist()
    per_class = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)]
    chosen = list(dict.fromkeys(changed[: count // 2] + per_class))
    return chosen[:count]

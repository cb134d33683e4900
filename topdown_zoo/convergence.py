"""Is a training run's validation curve flat? One rule for every shipped model (issue 13, item 1).

The rule reads the run's per-epoch ``history.csv`` (what ``topdown_zoo.training.train`` writes and
``hub.package`` ships) and fits a least-squares line to the validation metric over the last
``window`` epochs (half the run when it is shorter). The line's slope, times ``horizon`` epochs, is
the change that training ``horizon`` more epochs at the same rate would bring:

- for an accuracy (``val_accuracy``, higher is better) the projected gain in points;
- for a loss (``val_loss``, lower is better) the projected fall relative to the window's mean.

A curve is *flat* when that projected improvement is below the tolerance (one accuracy point, or
3 % of the loss). A curve that is getting worse (over-fitting) counts as flat: more epochs at this
rate would not help. The rule is ours; no paper in the zoo defines convergence of training.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: Tolerances on the projected improvement over ``horizon`` more epochs.
ACCURACY_POINTS = 0.01
LOSS_RELATIVE = 0.03
WINDOW = 10
HORIZON = 10


@dataclass(frozen=True)
class Plateau:
    """The verdict on one validation curve."""

    metric: str  #: the history column judged (``val_accuracy`` or ``val_loss``)
    epochs: int  #: epochs in the run
    window: int  #: epochs the line was fitted to (the last ones)
    last: float  #: the metric at the last epoch
    projected_improvement: float  #: points (accuracy) or fraction of the loss, over ``HORIZON`` more epochs
    tolerance: float

    @property
    def flat(self) -> bool:
        return self.projected_improvement < self.tolerance

    @property
    def unit(self) -> str:
        """What ``projected_improvement`` × 100 and ``tolerance`` × 100 are in."""
        return "points" if self.metric.endswith("accuracy") else "% of the loss"

    def describe(self) -> str:
        """One line for a card or a table, e.g. ``flat: +0.2 points projected over 10 more epochs``."""
        verdict = "flat" if self.flat else "NOT flat"
        return (f"{verdict}: {self.projected_improvement * 100:+.2f} {self.unit} projected over {HORIZON} more epochs "
                f"(least-squares slope of `{self.metric}` over the last {self.window} of {self.epochs} epochs; "
                f"tolerance {self.tolerance * 100:g})")


def slope(values: list[float]) -> float:
    """The least-squares slope of ``values`` against 0, 1, 2, … (per epoch)."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a slope needs at least 2 epochs, got {n}")
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def read_history(path: str | Path) -> dict[str, list[float]]:
    """The columns of a ``history.csv`` as float lists (empty cells are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training history at {path}: train with topdown_zoo.training.train, "
                                "which writes history.csv into the run directory")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key and value not in ("", None):
                columns.setdefault(key, []).append(float(value))
    return columns


def plateau(history: str | Path, window: int = WINDOW) -> Plateau:
    """Judge the validation curve in ``history`` (a ``history.csv``); see the module docstring."""
    columns = read_history(history)
    metric = "val_accuracy" if "val_accuracy" in columns else "val_loss"
    if metric not in columns:
        raise ValueError(f"{history} has no val_accuracy or val_loss column (columns: {sorted(columns)}); "
                         "train with validation data so the curve can be judged")
    values = columns[metric]
    n = min(window, max(2, len(values) // 2))
    tail = values[-n:]
    per_epoch = slope(tail)
    if metric == "val_accuracy":
        improvement, tolerance = per_epoch * HORIZON, ACCURACY_POINTS
    else:
        mean = sum(tail) / len(tail)
        improvement, tolerance = -per_epoch * HORIZON / abs(mean), LOSS_RELATIVE
    return Plateau(metric=metric, epochs=len(values), window=n, last=values[-1],
                   projected_improvement=improvement, tolerance=tolerance)

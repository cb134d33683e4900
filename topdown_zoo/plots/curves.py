"""Training curves: loss and metrics per epoch, train beside validation, from a run's history.csv."""
from __future__ import annotations

from pathlib import Path

from topdown_zoo import atomic


def plot_history(csv_path: Path, out_path: Path) -> None:
    """Loss and metric curves (train and validation) from the CSV log."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [float(r[key]) for r in rows], label=f"train {key}")
        if f"val_{key}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    tmp = atomic.sibling(out_path)
    try:
        fig.savefig(tmp, dpi=100, format="png")
        atomic.commit(tmp, out_path)
    finally:
        plt.close(fig)
        atomic.remove(tmp)

"""Training curves: loss and metrics per epoch, train beside validation, from a run's history.csv."""
from __future__ import annotations

from pathlib import Path

from topdown_zoo import atomic

#: A panel whose positive values span more than this ratio is drawn on a log scale, so that the
#: plateau at the end stays visible beside the first epochs' large values.
LOG_SCALE_RATIO = 30.0


def wants_log_scale(values: list[float]) -> bool:
    """Whether a panel of these values (train and validation together) is drawn on a log scale."""
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > LOG_SCALE_RATIO


def plot_history(csv_path: Path, out_path: Path) -> None:
    """Loss and metric curves (train and validation) from the CSV log; a panel whose values span
    more than ``LOG_SCALE_RATIO`` is drawn on a log scale (its title says so)."""
    import matplotlib

    from topdown_zoo.convergence import read_history

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = read_history(csv_path)  # empty cells skipped
    if not columns.get("epoch"):
        return
    keys = [k for k in columns if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    epochs = [int(e) + 1 for e in columns["epoch"]]
    for ax, key in zip(axes[0], keys):
        drawn = list(columns[key])
        ax.plot(epochs[:len(drawn)], drawn, label=f"train {key}")
        if f"val_{key}" in columns:
            val = columns[f"val_{key}"]
            ax.plot(epochs[:len(val)], val, label=f"validation {key}")
            drawn += val
        log = wants_log_scale(drawn)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{key} (log scale)" if log else key)
        ax.legend()
    fig.tight_layout()
    tmp = atomic.sibling(out_path)
    try:
        fig.savefig(tmp, dpi=100, format="png")
        atomic.commit(tmp, out_path)
    finally:
        plt.close(fig)
        atomic.remove(tmp)

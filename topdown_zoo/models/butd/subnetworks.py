"""Sub-network analysis (BU-TD paper, appendix D).

A task's sub-network is the set of hidden units its TD pass leaves active (> 0): exactly the BU
units that GaLU lets through for that task. Per gated layer we report the fraction of active
units for each task and the overlap between tasks' sub-networks (intersection over union; mean
over task pairs when there are more than two tasks).

``python -m topdown_zoo.models.butd.subnetworks RUN_DIR`` reads the run's per-epoch checkpoints
(``RUN_DIR/checkpoints/epoch*.weights.h5``, written by ``topdown-zoo train``) and writes
``subnetworks.json`` and ``subnetworks.png`` (fraction active and IoU per layer over training)
into ``RUN_DIR`` (and into ``RUN_DIR/hub`` when it exists).
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from topdown_zoo.errors import TopdownZooError


def masks(model: Any, tasks: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """{layer name: bool array (num_tasks, units)} of each task's active units (inference mode)."""
    from keras import ops

    tasks = list(range(model.num_tasks)) if tasks is None else list(tasks)
    ctx = model.task_pass(ops.convert_to_tensor(np.asarray(tasks, dtype="int32")), training=False)
    out = {}
    for node in model.relu_nodes():
        act = ops.convert_to_numpy(ctx.task_acts[id(node)])
        out[node.name] = act.reshape(len(tasks), -1) > 0
    if not isinstance(model.nodes[-1], type(model.relu_nodes()[-1])):  # top hidden layer is not a ReLU output
        out["top"] = ops.convert_to_numpy(ctx.top_task).reshape(len(tasks), -1) > 0
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def stats(model: Any, task_names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """{layer: {"active_<task>": fraction, "active_mean": ..., "iou": mean pairwise IoU}}."""
    names = list(task_names or [str(t) for t in range(model.num_tasks)])
    out = {}
    for layer, m in masks(model).items():
        row = {f"active_{n}": float(m[i].mean()) for i, n in enumerate(names)}
        row["active_mean"] = float(m.mean())
        pairs = list(itertools.combinations(range(len(names)), 2))
        row["iou"] = float(np.mean([iou(m[i], m[j]) for i, j in pairs])) if pairs else 1.0
        out[layer] = row
    return out


def flat_metrics(model: Any, task_names: Sequence[str] | None = None) -> dict[str, float]:
    """``subnet_<layer>_active_<task>`` and ``subnet_<layer>_iou`` as one flat dict of floats."""
    return {f"subnet_{layer}_{k}": v for layer, row in stats(model, task_names).items() for k, v in row.items()}


def plot(history: list[dict[str, Any]], out_path: Path, title: str = "") -> None:
    """Rows: fraction active (per task, solid/dashed), IoU between tasks; one line per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    layers_ = list(history[0]["stats"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for li, layer in enumerate(layers_):
        color = f"C{li % 10}"
        keys = [k for k in history[0]["stats"][layer] if k.startswith("active_") and k != "active_mean"]
        for ki, k in enumerate(keys):
            axes[0].plot(epochs, [h["stats"][layer][k] for h in history], color=color, ls=["-", "--", ":"][ki % 3],
                         label=f"{layer} {k[7:]}")
        axes[1].plot(epochs, [h["stats"][layer]["iou"] for h in history], color=color, label=layer)
    axes[0].set(xlabel="epoch", ylabel="fraction of active units", title="sub-network size")
    axes[1].set(xlabel="epoch", ylabel="IoU between tasks", title="sub-network overlap", ylim=(0, 1.02))
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def analyse_run(run_dir: str | Path, model_name: str | None = None) -> list[dict[str, Any]]:
    import yaml

    from topdown_zoo.api import create

    run_dir = Path(run_dir)
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    name = model_name or recipe["model"]
    model = create(name, **(recipe.get("overrides") or {}))
    from topdown_zoo.registry import get_spec

    task_names = get_spec(name).preprocessing.get("tasks")
    history = []
    for ckpt in sorted((run_dir / "checkpoints").glob("epoch*.weights.h5")):
        model.load_weights(ckpt)
        history.append({"epoch": int(ckpt.stem.split(".")[0][5:]), "stats": stats(model, task_names)})
    if not history:
        raise TopdownZooError(f"no checkpoints in {run_dir / 'checkpoints'}; train with `topdown-zoo train` first")
    targets = [run_dir] + ([run_dir / "hub"] if (run_dir / "hub").is_dir() else [])
    for target in targets:
        (target / "subnetworks.json").write_text(json.dumps(history, indent=1))
        plot(history, target / "subnetworks.png", title=f"{name}: task sub-networks over training")
    return history


if __name__ == "__main__":  # pragma: no cover
    for arg in sys.argv[1:]:
        h = analyse_run(arg)
        print(json.dumps(h[-1], indent=1))

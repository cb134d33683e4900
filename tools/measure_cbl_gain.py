"""Measure the CBL gain against its feed-forward twin (standard-cnn) on one task, over seeds.

    python tools/measure_cbl_gain.py --task digit_debris [--seeds 0 1 2] [--out runs/cbl-gain]

Tasks (each pair trains with the same recipe, data, seeds and budget; only the feedback differs):

* ``mnist5k``: cbl-cnn-mnist5k vs standard-cnn-mnist5k, trained and tested on clean mnist5k.
* ``digit_debris``: cbl-cnn-digitdebris-mnist5k vs standard-cnn-mnist5k with
  ``data.dataset=digit_debris_mnist5k`` (both recipes: Adam 1e-3 halved every 5 epochs, batch
  128, 10 epochs), tested on digit debris (every test digit at 0, 5, 10, 20 and 40 fragments).
* ``occluded`` / ``noisy``: the *clean-trained* mnist5k runs (the ``mnist5k`` task's, reused),
  tested on the mnist5k test digits occluded / with Gaussian noise at every level of
  :mod:`topdown_zoo.robustness` (no train-time corruption: this measures whether feedback
  learnt on clean digits helps on corrupted ones).

For every seed it reports test accuracy per model and per refinement step, the paired gain
(CBL − FF) with mean ± std over seeds, and writes ``<out>/<task>/summary.json`` and
``docs/data/cbl_gain_<task>.json`` (``--doc-json``); ``--table`` rewrites the table between
the markers in ``docs/cbl.md`` from every ``docs/data/cbl_gain_*.json``. Finished runs
(``metrics.json`` present) are reused; a run directory may hold a ``SOURCE.txt`` saying where
its weights come from (e.g. seed 0 of mnist5k: the shipped folders, copied), recorded in the JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FF, CBL = "standard-cnn-mnist5k", "cbl-cnn-mnist5k"
#: task -> (the task whose trained runs it uses, {role: (entry, recipe overrides)}, corruption or None)
TASKS = {
    "mnist5k": ("mnist5k", {"ff": (FF, []), "cbl": (CBL, [])}, None),
    "digit_debris": ("digit_debris", {"ff": (FF, ["data.dataset=digit_debris_mnist5k"]),
                                      "cbl": ("cbl-cnn-digitdebris-mnist5k", [])}, None),
    "occluded": ("mnist5k", {"ff": (FF, []), "cbl": (CBL, [])}, "occlusion"),
    "noisy": ("mnist5k", {"ff": (FF, []), "cbl": (CBL, [])}, "noise"),
}
MARKERS = ("<!-- cbl-gain-table:start -->", "<!-- cbl-gain-table:end -->")


def train_run(name: str, overrides: list[str], seed: int, run_dir: Path) -> dict:
    """The metrics of the run of ``name`` with ``seed`` (trained now unless it finished before)."""
    metrics_file = run_dir / "metrics.json"
    if metrics_file.exists():
        return json.loads(metrics_file.read_text())
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    return train(load_recipe(name, [f"seed={seed}", *overrides]), run_dir, verbose=2)


def step_accuracies(metrics: dict) -> list[float]:
    """Per-step accuracies of a training run's metrics (one value for a one-pass model)."""
    steps = sorted((int(k[len("accuracy_step"):]), v) for k, v in metrics.items() if k.startswith("accuracy_step"))
    return [v for _, v in steps] or [metrics["accuracy"]]


def corrupted_steps(run_dir: Path, name: str, corruption: str, seed: int,
                    levels: tuple[float, ...] | None = None) -> dict[str, list[float]]:
    """{level: per-step accuracy} of a run's model on the corrupted mnist5k test digits (``levels``:
    the harness's default levels when None)."""
    import topdown_zoo as tz
    from topdown_zoo.robustness import DEFAULT_LEVELS, measure

    model = tz.load(name, weights=str(run_dir / "hub"))
    result = measure(model, corruptions=[corruption], levels={corruption: levels or DEFAULT_LEVELS[corruption]},
                     seed=0, progress=False)
    return {str(level): row["steps"] for level, row in zip(result["levels"][corruption],
                                                           result["results"][corruption])}


def debris_level_steps(run_dir: Path, name: str, levels: tuple[int, ...]) -> dict[str, list[float]]:
    """{fragments: per-step accuracy} of a run's model on each level of the digit-debris test split."""
    import keras
    import numpy as np

    import topdown_zoo as tz
    from topdown_zoo.data.digit_debris import load_arrays

    model = tz.load(name, weights=str(run_dir / "hub"))
    out = {}
    for level in levels:
        x, y, _ = load_arrays("test", level=level)
        hits = None
        for start in range(0, len(y), 250):
            steps = model.step_outputs(x[start:start + 250], training=False)
            h = [int((np.asarray(keras.ops.convert_to_numpy(s)).argmax(-1) == y[start:start + 250]).sum())
                 for s in steps]
            hits = h if hits is None else [a + b for a, b in zip(hits, h)]
        out[str(level)] = [v / len(y) for v in hits]
    return out


def _mean_std(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def summarise(per_seed: dict[str, dict[str, list[float]]], seeds: list[int]) -> dict:
    """Mean ± std per model and step, and the paired gain of the final steps, for one condition."""
    ff = [per_seed["ff"][s][-1] for s in map(str, seeds)]
    cbl = [per_seed["cbl"][s][-1] for s in map(str, seeds)]
    diffs = [c - f for f, c in zip(ff, cbl)]
    gain = _mean_std(diffs)
    gain["paired_t"] = (gain["mean"] / (gain["std"] / math.sqrt(len(diffs)))) if gain["std"] > 0 else None
    n_steps = len(per_seed["cbl"][str(seeds[0])])
    return {"ff": _mean_std(ff), "cbl": _mean_std(cbl), "gain": gain,
            "cbl_steps": [_mean_std([per_seed["cbl"][str(s)][k] for s in seeds]) for k in range(n_steps)]}


def measure_task(task: str, seeds: list[int], out: Path) -> dict:
    train_task, roles, corruption = TASKS[task]
    runs: dict[str, dict[str, Path]] = {"ff": {}, "cbl": {}}
    metrics: dict[str, dict[str, dict]] = {"ff": {}, "cbl": {}}
    for seed in seeds:
        for role, (name, overrides) in roles.items():
            run_dir = out / train_task / f"{name}-seed{seed}"
            metrics[role][str(seed)] = train_run(name, overrides, seed, run_dir)
            runs[role][str(seed)] = run_dir
            print(f"{task}: {name} seed {seed}: clean-test accuracy {metrics[role][str(seed)]['accuracy']:.4f}",
                  flush=True)
    doc = {"task": task, "seeds": seeds, "trained_on": train_task,
           "models": {role: {"entry": name, "recipe_overrides": overrides} for role, (name, overrides) in roles.items()},
           "command": f"python tools/measure_cbl_gain.py --task {task} --seeds {' '.join(map(str, seeds))}",
           "train_seconds": {role: {s: m["_run"]["train_seconds"] for s, m in metrics[role].items()}
                             for role in metrics}}
    notes = sorted({(d / "SOURCE.txt").read_text().strip() for r in runs.values() for d in r.values()
                    if (d / "SOURCE.txt").is_file()})
    if notes:
        doc["notes"] = notes
    if corruption is None:
        per_seed = {role: {s: step_accuracies(m) for s, m in metrics[role].items()} for role in metrics}
        doc["conditions"] = {"all levels" if task == "digit_debris" else "clean test": summarise(per_seed, seeds)}
        doc["tested_on"] = "the task's own test split" + (" (every digit at 0, 5, 10, 20, 40 fragments)"
                                                          if task == "digit_debris" else "")
        if task == "digit_debris":
            from topdown_zoo.data.digit_debris import LEVELS

            by_level: dict[str, dict[str, dict[str, list[float]]]] = {}
            for role, (name, _) in roles.items():
                for seed in seeds:
                    for level, steps in debris_level_steps(runs[role][str(seed)], name, LEVELS).items():
                        by_level.setdefault(level, {"ff": {}, "cbl": {}})[role][str(seed)] = steps
            doc["conditions"].update({f"fragments={level}": summarise(per_seed, seeds)
                                      for level, per_seed in by_level.items()})
    else:
        by_level: dict[str, dict[str, dict[str, list[float]]]] = {}
        for role, (name, _) in roles.items():
            for seed in seeds:
                for level, steps in corrupted_steps(runs[role][str(seed)], name, corruption, seed).items():
                    by_level.setdefault(level, {"ff": {}, "cbl": {}})[role][str(seed)] = steps
        doc["conditions"] = {f"{corruption}={level}": summarise(per_seed, seeds) for level, per_seed in by_level.items()}
        doc["tested_on"] = (f"the 1,000 mnist5k test digits with {corruption} at each level "
                            "(topdown_zoo.robustness, corruption seed 0); models trained on clean mnist5k")
    return doc


def _pm(stat: dict, scale: float = 100.0) -> str:
    return f"{scale * stat['mean']:.2f} ± {scale * stat['std']:.2f}"


def table_markdown(docs: list[dict]) -> str:
    """One markdown table of every measured task and condition."""
    lines = ["| task | condition | feed-forward (%) | CBL final (%) | CBL per step (%) | gain CBL − FF (points) |",
             "|---|---|---|---|---|---|"]
    for doc in docs:
        for condition, row in doc["conditions"].items():
            if condition.endswith("=0.0"):
                continue  # the clean test digits: the mnist5k row
            steps = " → ".join(f"{100 * s['mean']:.2f}" for s in row["cbl_steps"])
            lines.append(f"| {doc['task']} | {condition} | {_pm(row['ff'])} | {_pm(row['cbl'])} | {steps} | "
                         f"**{100 * row['gain']['mean']:+.2f} ± {100 * row['gain']['std']:.2f}** |")
    return "\n".join(lines)


def write_table(doc_path: Path, data_dir: Path) -> None:
    order = list(TASKS)
    docs = sorted((json.loads(p.read_text()) for p in data_dir.glob("cbl_gain_*.json")),
                  key=lambda d: order.index(d["task"]) if d["task"] in order else len(order))
    from topdown_zoo.atomic import write_marked_block

    write_marked_block(doc_path, *MARKERS, table_markdown(docs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(TASKS), default="mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/cbl-gain")
    parser.add_argument("--doc-json", action="store_true", help="also write docs/data/cbl_gain_<task>.json")
    parser.add_argument("--table", action="store_true", help="rewrite the table in docs/cbl.md from docs/data")
    parser.add_argument("--table-only", action="store_true", help="only rewrite the table (no measuring)")
    args = parser.parse_args(argv)

    if not args.table_only:
        doc = measure_task(args.task, args.seeds, Path(args.out))
        target = Path(args.out) / args.task / "summary.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, indent=2) + "\n")
        if args.doc_json:
            (REPO / "docs" / "data" / f"cbl_gain_{args.task}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(table_markdown([doc]))
    if args.table or args.table_only:
        write_table(REPO / "docs" / "cbl.md", REPO / "docs" / "data")
    return 0


if __name__ == "__main__":
    sys.exit(main())

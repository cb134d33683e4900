"""Measure the CBL gain on mnist5k over several seeds: train standard-cnn-mnist5k and
cbl-cnn-mnist5k with their recipes for each seed, then report test accuracy per run, mean ± std
and the paired difference (CBL − standard) with a paired t statistic.

    python tools/measure_cbl_gain.py --seeds 0 1 2 [--out runs/cbl-gain] [--set epochs=10]

Writes ``<out>/results.csv`` and ``<out>/summary.json``; the numbers in the README come from
this command. Runs that already finished (metrics.json present) are reused.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

MODELS = ("standard-cnn-mnist5k", "cbl-cnn-mnist5k")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/cbl-gain")
    parser.add_argument("--set", action="append", default=[], help="recipe override applied to both models")
    args = parser.parse_args(argv)

    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        for name in MODELS:
            run_dir = out / f"{name}-seed{seed}"
            metrics_file = run_dir / "metrics.json"
            if metrics_file.exists():
                metrics = json.loads(metrics_file.read_text())
            else:
                recipe = load_recipe(name, [f"seed={seed}", *args.set])
                metrics = train(recipe, run_dir, verbose=2)
            rows.append({"model": name, "seed": seed, "accuracy": metrics["accuracy"],
                         "train_seconds": metrics["_run"]["train_seconds"]})
            print(f"{name} seed {seed}: test accuracy {metrics['accuracy']:.4f}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    acc = {m: [r["accuracy"] for r in rows if r["model"] == m] for m in MODELS}
    diffs = [c - s for s, c in zip(acc[MODELS[0]], acc[MODELS[1]])]
    summary = {m: {"mean": statistics.mean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": v}
               for m, v in acc.items()}
    mean_diff = statistics.mean(diffs)
    sd_diff = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    summary["gain"] = {"mean": mean_diff, "std": sd_diff, "per_seed": diffs,
                       "paired_t": mean_diff / (sd_diff / math.sqrt(len(diffs))) if sd_diff > 0 else None,
                       "seeds": args.seeds}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for m in MODELS:
        print(f"{m}: {100 * summary[m]['mean']:.2f} ± {100 * summary[m]['std']:.2f} % over {len(args.seeds)} seeds")
    print(f"CBL gain: {100 * mean_diff:+.2f} ± {100 * sd_diff:.2f} points (paired t = {summary['gain']['paired_t']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

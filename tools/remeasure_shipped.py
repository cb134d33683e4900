"""Re-measure a shipped hub folder with the current code, keeping its weights.

    python tools/remeasure_shipped.py NAME [NAME ...] [--dry-run]

For each registry NAME: load ``hub/NAME`` (verifying its SHA-256 manifest), evaluate it exactly
as ``topdown-zoo evaluate NAME --json`` does (the entry's recipe ``evaluate`` and ``data``
options), and rewrite the folder with the same weights, the recorded recipe, the new numbers in
``metrics.json`` (the training run's ``_run`` record kept, ``_remeasured`` added), a regenerated
model card, pictures, training curves and manifest (other files of the folder are copied as they are).
The folder is rebuilt beside the old one and swapped in at the end; run ``tools/pin_hub.py`` after.

Use it when a change to inference (not to training) moves a shipped entry's numbers, e.g.
Conv-NGC's deterministic initial states (CHANGELOG, 0.1.0).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil

import yaml


def remeasure(name: str, dry_run: bool = False) -> dict:
    import topdown_zoo as tz
    from topdown_zoo import hub
    from topdown_zoo.evaluation import evaluate_entry
    from topdown_zoo.paths import shipped_hub_dir
    from topdown_zoo.registry import get_spec

    folder = shipped_hub_dir() / name
    old = json.loads((folder / "metrics.json").read_text())
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    spec = get_spec(name)
    model = tz.load(name, weights=folder)
    measured = evaluate_entry(model, spec, recipe=recipe)
    metrics = {**measured, **{k: v for k, v in old.items() if k.startswith("_")}}
    metrics["_remeasured"] = {"date": _dt.date.today().isoformat(), "command": f"python tools/remeasure_shipped.py {name}"}
    for key in sorted(measured):
        print(f"{name}  {key:>14}: {old.get(key, float('nan')):.6g} -> {measured[key]:.6g}")
    if dry_run:
        return metrics
    from topdown_zoo import atomic

    examples = None
    if (folder / "plots").is_dir():  # keep the folder's pictures, drawn anew
        from topdown_zoo.plots import load_examples

        examples = load_examples(spec, recipe=recipe)
    history = folder / "history.csv" if (folder / "history.csv").is_file() else None
    staged = atomic.sibling(folder, "remeasure")
    try:
        hub.package(model, staged, metrics=metrics, recipe=recipe, spec_name=name, plots=examples, history=history)
        made = {p.name for p in staged.iterdir()}
        for extra in sorted(p for p in folder.iterdir() if p.name not in made):  # e.g. BU-TD's subnetworks.*
            shutil.copy2(extra, staged / extra.name)
        hub.write_manifest(staged)
        atomic.commit(staged, folder)
    finally:
        atomic.remove(staged)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--dry-run", action="store_true", help="print the new numbers, write nothing")
    args = parser.parse_args()
    for name in args.names:
        remeasure(name, dry_run=args.dry_run)


if __name__ == "__main__":
    main()

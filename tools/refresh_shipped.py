"""Rewrite the shipped hub folders with the current packaging code, keeping their weights and numbers.

    python tools/refresh_shipped.py [NAME ...]          # default: every folder in hub/
    python tools/refresh_shipped.py --plots [NAME ...]   # also draw the entry's pictures into plots/
                                                         # (a folder that has plots/ always gets them redrawn)

For each folder: load it (sha256- and pin-verified), package the same model again with its recorded
``metrics.json`` and ``recipe.yaml`` (so the folder format, the model card and the manifest follow the
current code), carry over the folder's other files (e.g. BU-TD's ``subnetworks.*``), check that the
rewritten folder gives bit-identical outputs, and swap it in atomically. Then re-pin the package:
``python tools/pin_hub.py``. Use it after a change to the folder format or the model card; to change
numbers use ``tools/remeasure_shipped.py``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STANDARD = {"README.md", "SHA256SUMS", "config.json", "metadata.json", "metrics.json", "model.weights.h5", "recipe.yaml",
            "history.csv", "curves.png"}


def refresh(name: str, plots: bool = False) -> None:
    import keras
    import numpy as np

    import topdown_zoo as tz
    from topdown_zoo import atomic, hub
    from topdown_zoo.paths import shipped_hub_dir

    folder = shipped_hub_dir() / name
    model = tz.load(name, weights=folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    staged = atomic.sibling(folder, "refresh")
    examples = None
    if plots or (folder / "plots").is_dir():
        from topdown_zoo.plots import load_examples

        examples = load_examples(tz.get_spec(name), recipe=recipe)
    history = folder / "history.csv" if (folder / "history.csv").is_file() else None
    hub.package(model, staged, metrics=metrics, recipe=recipe, spec_name=name, plots=examples, history=history)
    try:
        for extra in sorted(p for p in folder.iterdir() if p.name not in STANDARD and p.name != "plots"):
            shutil.copy2(extra, staged / extra.name)
        hub.write_manifest(staged)
        x = model.example_inputs(batch=4, seed=1)
        again = hub.load_folder(staged, tz.get_spec(name))
        before = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
        after = keras.ops.convert_to_numpy(again.predict(x, verbose=0))
        if not np.array_equal(before, after):
            raise SystemExit(f"{name}: the rewritten folder's outputs differ; nothing replaced")
        atomic.commit(staged, folder)
    finally:
        atomic.remove(staged)
    print(f"{name}: rewritten ({', '.join(sorted(p.name for p in folder.iterdir()))})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--plots", action="store_true", help="draw the entry's pictures into plots/")
    args = parser.parse_args(argv)
    from topdown_zoo.paths import shipped_hub_dir

    names = args.names or sorted(p.name for p in shipped_hub_dir().iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in names:
        refresh(name, plots=args.plots)


if __name__ == "__main__":
    main()

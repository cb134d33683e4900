"""Measure fine-tuning from the zoo's weights vs the same budget from scratch.

    python tools/measure_finetune.py [--out runs/finetune]

Fine-tunes `cbl-cnn-mnist5k` (pretrained on MNIST digits) on scikit-learn's digits 0-4, a
different dataset (8x8 scans resized onto 28x28), with the recipe
`examples/finetune/cbl-sklearn-digits.yaml`, at two data budgets (5 training digits per class,
and all ~130 per class), each from the pretrained weights and from a random initialisation with
the same recipe. Prints the test accuracy table and writes `<out>/summary.json`.
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "finetune" / "cbl-sklearn-digits.yaml"
SETTINGS = [("5 per class", 5, ["epochs=3", "data.batch_size=8"]), ("all", None, [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/finetune"))
    args = parser.parse_args()

    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train, write_json

    spec = importlib.util.spec_from_file_location("npz_maker", ROOT / "examples" / "finetune" / "sklearn_digits_npz.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)

    rows = []
    for label, per_class, sets in SETTINGS:
        data = maker.write_npz(args.out / f"digits-0to4-{per_class or 'all'}.npz", (0, 1, 2, 3, 4),
                               train_per_class=per_class)
        result = {"train_digits": label}
        for init in ("pretrained", "null"):
            recipe = load_recipe(RECIPE, [f"data.options.path={data}", f"init.weights={init}", *sets])
            metrics = train(recipe, args.out / f"{per_class or 'all'}-{init}", verbose=0)
            result["from_" + ("pretrained" if init == "pretrained" else "scratch")] = metrics["accuracy"]
            result["epochs"] = recipe["epochs"]
            result["test_digits"] = int(metrics["examples"])
        rows.append(result)
        print(f"{label:<12} epochs {result['epochs']}: pretrained {result['from_pretrained']:.3f}  "
              f"scratch {result['from_scratch']:.3f}  ({result['test_digits']} test digits)", flush=True)
    write_json(args.out / "summary.json", {"recipe": str(RECIPE.relative_to(ROOT)), "rows": rows})


if __name__ == "__main__":
    main()

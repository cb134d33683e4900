"""Run the robustness harness (topdown_zoo.robustness) on every shipped classifier and compare them.

    python tools/robustness_all.py [--only NAME ...] [--examples 1000] [--seed 0]

For every entry whose weights ship (``topdown-zoo list --pretrained``) and whose model predicts
labels or task labels (the contract's ``prediction_kind``), it measures accuracy after every step
for occlusion, Gaussian noise and digit debris at the harness' default levels, on the same test
digits and the same corrupted images for every model with the same test data, and writes

* ``docs/data/robustness/<entry>.json`` (the harness' result) and ``docs/pictures/robustness_<entry>.png``
  (accuracy against level, one line per step);
* ``docs/pictures/robustness_final_step.png`` (final-step accuracy, one line per model);
* the tables between the markers of ``docs/robustness.md`` (one per corruption: rows = models,
  columns = levels, final-step accuracy; then the per-step gain, final − first step).

``--only NAME ...`` re-measures the entries named (``--only`` alone: none) and rebuilds the tables and the comparison picture
from every JSON in ``docs/data/robustness/``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "docs" / "data" / "robustness"
PICTURES = REPO / "docs" / "pictures"
DOC = REPO / "docs" / "robustness.md"
MARKERS = ("<!-- robustness-tables:start -->", "<!-- robustness-tables:end -->")


def classifiers() -> list[str]:
    import topdown_zoo as tz

    names = []
    for name in tz.list_models(pretrained=True):
        if tz.load(name).prediction_kind in ("labels", "task_labels"):
            names.append(name)
    return names


def measure_one(name: str, examples: int, seed: int) -> dict:
    import topdown_zoo as tz
    from topdown_zoo.registry import get_spec
    from topdown_zoo.robustness import measure, plot

    model = tz.load(name)
    print(f"{name}:", flush=True)
    result = measure(model, examples=examples, seed=seed)
    result["trained_on"] = get_spec(name).dataset
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, PICTURES / f"robustness_{name}.png")
    return result


def tables(results: list[dict]) -> str:
    out = [f"Command: `python tools/robustness_all.py` (harness: `topdown-zoo robustness NAME`); "
           f"{results[0]['examples']} test examples per model, corruption seed {results[0]['seed']}.", ""]
    iterative = [r for r in results if r["steps"] > 1]
    for corruption in results[0]["results"]:
        levels = [r["level"] for r in results[0]["results"][corruption]]
        head = " | ".join(f"{v:g}" for v in levels) + " |"
        out += [f"### {corruption} (level = {results[0]['level_meaning'][corruption]})", "",
                "Final-step accuracy (%):", "",
                "| model (trained on) | steps | " + head, "|---|---|" + "---|" * len(levels)]
        for res in results:
            rows = res["results"][corruption]
            out.append(f"| {res['model']} ({res['trained_on']}) | {res['steps']} | "
                       + " | ".join(f"{100 * r['final']:.1f}" for r in rows) + " |")
        out += ["", "Per-step gain, final − first step (points), models with several steps:", "",
                "| model | accuracy per step at the middle level | " + head, "|---|---|" + "---|" * len(levels)]
        for res in iterative:
            rows = res["results"][corruption]
            middle = rows[len(rows) // 2]
            path = " → ".join(f"{100 * a:.1f}" for a in middle["steps"])
            out.append(f"| {res['model']} | {middle['level']:g}: {path} | "
                       + " | ".join(f"{100 * (r['steps'][-1] - r['steps'][0]):+.1f}" for r in rows) + " |")
        out.append("")
    out.append("Per-step accuracies of every model at every level: `docs/data/robustness/<entry>.json`; "
               "pictures `docs/pictures/robustness_<entry>.png`.")
    return "\n".join(out)


def comparison_plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results[0]["results"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.0 * len(names), 4.0), squeeze=False)
    for ax, corruption in zip(axes[0], names):
        for res in results:
            rows = res["results"][corruption]
            style = "--" if res["steps"] == 1 else "-"
            ax.plot([r["level"] for r in rows], [100 * r["final"] for r in rows], style, marker="o",
                    label=f"{res['model']} ({res['steps']} step{'s' if res['steps'] > 1 else ''})")
        ax.set_title(corruption)
        ax.set_xlabel(results[0]["level_meaning"][corruption].split(" (")[0])
        ax.set_ylabel("final-step accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Shipped classifiers under corruption (dashed: one pass)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="re-measure only these entries (none: only rebuild the tables)")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    for name in classifiers() if args.only is None else args.only:
        measure_one(name, args.examples, args.seed)
    results = [json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))]
    results.sort(key=lambda r: (r["trained_on"], r["model"]))
    comparison_plot(results, PICTURES / "robustness_final_step.png")
    from topdown_zoo.atomic import write_marked_block

    write_marked_block(DOC, *MARKERS, tables(results))
    print(f"wrote {DOC} and {len(results) + 1} pictures in {PICTURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

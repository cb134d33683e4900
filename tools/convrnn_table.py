"""The digit-debris table of docs/convrnn.md, from the shipped folders' metrics.json.

    python tools/convrnn_table.py          # print the table
    python tools/convrnn_table.py --doc    # also write it into docs/convrnn.md

Each row is what ``topdown-zoo evaluate NAME --json`` measured when the model was packaged
(``hub/NAME/metrics.json``): test accuracy per debris level at the last step, with the per-step
accuracies t0 / t1 / … in brackets for the recurrent models, and the training time of the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("blt-digitdebris-mnist5k", "bl-digitdebris-mnist5k", "ff-digitdebris-mnist5k")
LEVELS = (0, 5, 10, 20, 40)
BEGIN, END = "<!-- convrnn-debris:begin -->", "<!-- convrnn-debris:end -->"
COMMAND = "python tools/convrnn_table.py --doc"


def _steps(metrics: dict, prefix: str) -> list[float]:
    """``metrics[prefix_t0]``, ``metrics[prefix_t1]``, … while they exist."""
    out, k = [], 0
    while f"{prefix}_t{k}" in metrics:
        out.append(float(metrics[f"{prefix}_t{k}"]))
        k += 1
    return out


def _cell(metrics: dict, prefix: str) -> str:
    steps = _steps(metrics, prefix)
    last = f"{float(metrics[prefix]):.3f}"
    return last if len(steps) < 2 else f"{last} ({' / '.join(f'{s:.2f}' for s in steps)})"


def table(hub_dir: Path) -> str:
    header = ("| model | epochs | train time | " + " | ".join(f"debris {n}" for n in LEVELS)
              + " | all levels | per step (all levels) |")
    rows = [f"Measured by `{COMMAND}` from each `hub/<name>/metrics.json` (written by `topdown-zoo evaluate`"
            " when the model was packaged).", "", header, "|" + "---|" * (len(LEVELS) + 5)]
    for name in MODELS:
        m = json.loads((hub_dir / name / "metrics.json").read_text())
        run = m.get("_run", {})
        per_step = _steps(m, "accuracy")
        rows.append(f"| {name} | {run.get('epochs', '?')} | {float(run.get('train_seconds', float('nan'))):.1f} s | "
                    + " | ".join(_cell(m, f"accuracy_debris{n}") for n in LEVELS)
                    + f" | {float(m['accuracy']):.3f} | "
                    + (" / ".join(f"{s:.3f}" for s in per_step) if per_step else f"{float(m['accuracy']):.3f}") + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from topdown_zoo.atomic import write_marked_block
    from topdown_zoo.paths import shipped_hub_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hub-dir", type=Path, default=None, help="folder of shipped models (default: hub/)")
    parser.add_argument("--doc", action="store_true", help="write the table into docs/convrnn.md")
    args = parser.parse_args(argv)
    body = table(args.hub_dir or shipped_hub_dir())
    print(body)
    if args.doc:
        write_marked_block(ROOT / "docs" / "convrnn.md", BEGIN, END, body)
        print("wrote docs/convrnn.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Is every shipped model trained until its validation curve is flat? (issue 13, item 1)

    python tools/check_convergence.py            # one line per shipped model; exit 1 if any is not flat
    python tools/check_convergence.py --doc      # also writes the table into docs/training.md

The rule (``topdown_zoo.convergence``): a least-squares line through the validation metric of the
last 10 epochs (half the run when shorter), projected 10 epochs ahead; flat when the projected
improvement is under one accuracy point or 3 % of the loss. It reads each shipped folder's
``history.csv`` (the run's own per-epoch log, drawn in its ``curves.png``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEGIN, END = "<!-- convergence:begin -->", "<!-- convergence:end -->"
COMMAND = "python tools/check_convergence.py --doc"


def shipped_histories(hub_dir: Path) -> dict[str, Path]:
    """``{name: history.csv}`` for every shipped folder that has one."""
    return {p.parent.name: p for p in sorted(hub_dir.glob("*/history.csv"))}


def table(hub_dir: Path) -> tuple[str, bool]:
    """The markdown table, and whether every curve is flat."""
    from topdown_zoo.convergence import HORIZON, plateau

    rows = [f"Measured by `{COMMAND}` on the shipped folders' `history.csv`.", "",
            f"| model | epochs | judged | last value | projected improvement over {HORIZON} more epochs | flat |",
            "|---|---|---|---|---|---|"]
    all_flat = True
    for name, history in shipped_histories(hub_dir).items():
        p = plateau(history)
        all_flat &= p.flat
        rows.append(f"| {name} | {p.epochs} | `{p.metric}`, last {p.window} epochs | {p.last:.4g} | "
                    f"{p.projected_improvement * 100:+.2f} {p.unit} (tolerance {p.tolerance * 100:g}) | "
                    f"{'yes' if p.flat else '**no**'} |")
    return "\n".join(rows), all_flat


def main(argv: list[str] | None = None) -> int:
    from topdown_zoo.atomic import write_marked_block
    from topdown_zoo.paths import shipped_hub_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hub-dir", type=Path, default=None, help="folder of shipped models (default: hub/)")
    parser.add_argument("--doc", action="store_true", help="write the table into docs/training.md")
    args = parser.parse_args(argv)
    hub_dir = args.hub_dir or shipped_hub_dir()
    body, all_flat = table(hub_dir)
    print(body)
    if args.doc:
        write_marked_block(ROOT / "docs" / "training.md", BEGIN, END, body)
        print("wrote docs/training.md")
    if not all_flat:
        print("some validation curves are not flat: train those models longer (their recipes)", file=sys.stderr)
    return 0 if all_flat else 1


if __name__ == "__main__":
    raise SystemExit(main())

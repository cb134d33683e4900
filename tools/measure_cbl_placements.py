"""CBL's accuracy and cost per tap placement (issue 12, item 2): which taps keep the gain, at what cost.

    python tools/measure_cbl_placements.py [--seeds 0 1 2] [--out runs/cbl-gain] [--doc]

The paper feeds context back into chosen layers; its framework allows any set of them. For every
suffix of ``cbl-cnn-mnist5k``'s taps (block1-4, block2-4, block3-4, block4) this trains CBL with
the entry's recipe and ``overrides.taps`` (seeds as given; the all-taps runs are those of
``tools/measure_cbl_gain.py --task mnist5k``, reused, as are its feed-forward twins) and reports:

* test accuracy on clean mnist5k and on the same digits with Gaussian noise σ = 0.3 (the one
  corruption where CBL gained over its twin, docs/cbl.md), mean ± std over seeds, and the gain
  over the feed-forward twin paired by seed;
* multiply-accumulates of T = 2 against the backbone, counted by ``benchmarks/cbl_flops.py`` for
  mnist5k (28×28) and for the paper's CIFAR-10 StandardCNN (32×32).

``--doc`` writes the table between the markers of docs/cbl.md and docs/data/cbl_placements.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "benchmarks"))

ALL_TAPS = ("block1", "block2", "block3", "block4")
NOISE = 0.3
BEGIN, END = "<!-- cbl-placements:begin -->", "<!-- cbl-placements:end -->"
COMMAND = "python tools/measure_cbl_placements.py --doc"


def run_dir(out: Path, taps: tuple[str, ...], name: str, seed: int) -> Path:
    """The run folder: the all-taps runs are measure_cbl_gain's own (reused)."""
    if taps == ALL_TAPS:
        return out / "mnist5k" / f"{name}-seed{seed}"
    return out / "placements" / f"{name}-from-{taps[0]}-seed{seed}"


def measure(taps: tuple[str, ...], name: str, seed: int, out: Path) -> dict[str, float]:
    """Clean and noisy (σ = NOISE) test accuracy of the final output of one trained run."""
    from measure_cbl_gain import corrupted_steps, train_run

    overrides = [] if taps == ALL_TAPS else [f"overrides.taps=[{', '.join(taps)}]"]
    folder = run_dir(out, taps, name, seed)
    metrics = train_run(name, overrides, seed, folder)
    noisy = corrupted_steps(folder, name, "noise", seed, levels=(NOISE,))
    return {"clean": float(metrics["accuracy"]), "noisy": float(noisy[str(NOISE)][-1])}


def _ms(values: list[float], signed: bool = False) -> str:
    mean = statistics.mean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{mean:+.2f} ± {std:.2f}" if signed else f"{mean:.2f} ± {std:.2f}"


def mac_ratios() -> dict[str, dict[str, float]]:
    """T = 2 MACs / backbone MACs per placement, at 28×28 (mnist5k) and 32×32 (CIFAR-10)."""
    from cbl_flops import placements

    out: dict[str, dict[str, float]] = {}
    for entry, size, key in (("cbl-cnn-mnist5k", 28, "mnist5k"), ("cbl-cnn-cifar10", 32, "cifar10")):
        for row in placements(entry, size, steps=(2,)):
            out.setdefault(row["taps"][0], {})[key] = row["T=2"]
    return out


def table(results: dict, seeds: list[int]) -> str:
    macs = results["macs_t2"]
    rows = [f"Measured by `{COMMAND}` (seeds {', '.join(map(str, seeds))}; CBL T = 2, the `cbl-cnn-mnist5k` recipe; "
            f"noise σ = {NOISE} on the mnist5k test digits, as in `topdown-zoo robustness`). Gain = CBL − the "
            "feed-forward twin (standard-cnn-mnist5k, same seeds), paired by seed; points.", "",
            "| taps (lowest first) | T=2 MACs / backbone, mnist5k | same, CIFAR-10 StandardCNN | clean accuracy % | "
            "gain, clean | σ = 0.3 accuracy % | gain, σ = 0.3 |", "|---|---|---|---|---|---|---|"]
    ff = results["ff"]
    for lowest, runs in results["cbl"].items():
        clean_gain = [c - f for c, f in zip(runs["clean"], ff["clean"])]
        noisy_gain = [c - f for c, f in zip(runs["noisy"], ff["noisy"])]
        rows.append(f"| {', '.join(ALL_TAPS[ALL_TAPS.index(lowest):])} | {macs[lowest]['mnist5k']:.2f}× | "
                    f"{macs[lowest]['cifar10']:.2f}× | {_ms(runs['clean'])} | {_ms(clean_gain, True)} | "
                    f"{_ms(runs['noisy'])} | {_ms(noisy_gain, True)} |")
    rows.append(f"| feed-forward twin | 1.00× | 1.00× | {_ms(ff['clean'])} | — | {_ms(ff['noisy'])} | — |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "cbl-gain")
    parser.add_argument("--doc", action="store_true", help="write docs/cbl.md's table and docs/data/cbl_placements.json")
    args = parser.parse_args(argv)
    results: dict = {"seeds": args.seeds, "noise": NOISE, "macs_t2": mac_ratios(), "cbl": {},
                     "ff": {"clean": [], "noisy": []}}
    for seed in args.seeds:
        ff = measure(ALL_TAPS, "standard-cnn-mnist5k", seed, args.out)
        for key in ("clean", "noisy"):
            results["ff"][key].append(ff[key])
    for k in range(len(ALL_TAPS)):
        taps = ALL_TAPS[k:]
        runs: dict[str, list[float]] = {"clean": [], "noisy": []}
        for seed in args.seeds:
            r = measure(taps, "cbl-cnn-mnist5k", seed, args.out)
            for key in ("clean", "noisy"):
                runs[key].append(r[key])
            print(f"taps from {taps[0]}, seed {seed}: {r}", flush=True)
        results["cbl"][taps[0]] = runs
    body = table(results, args.seeds)
    print(body)
    if args.doc:
        from topdown_zoo.atomic import write_marked_block, write_text

        write_text(REPO / "docs" / "data" / "cbl_placements.json", json.dumps(results, indent=2) + "\n")
        write_marked_block(REPO / "docs" / "cbl.md", BEGIN, END, body)
        print("wrote docs/cbl.md and docs/data/cbl_placements.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

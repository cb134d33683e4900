"""Scaling: time and peak memory of each family's training step against batch size and step count (T, K).

    python benchmarks/scaling.py [--families cbl convrnn gncn conv-ngc butd] [--call train|infer] [common options]

Per family two comparisons (``benchmarks/_harness.py``): a batch sweep at the registry's step
count and a step-count sweep (T of CBL and the ConvRNN, K of the GNCN and Conv-NGC; BU-TD has
none) at a fixed batch. Every point is its own worker process, so its peak RSS is the memory of
that point alone; the points of a sweep are timed in the same interleaved rounds and each is
reported as a ratio to the sweep's first (smallest) point. ``--call train`` (default) times
``model.train_on_batch`` after ``compile_default(Adam(1e-3))``; ``--call infer`` the compiled
``model(x, training=False)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "Scaling with batch size and step count"

#: family → registry entry, step option ("" = none), default batch, batch sweep, step sweep; quick: tiny versions
FAMILIES: dict[str, dict[str, Any]] = {
    "cbl": {"model": "cbl-cnn-cifar10", "step": "T", "batch": 128, "batches": [32, 64, 128, 256], "steps": [1, 2, 4, 8]},
    "convrnn": {"model": "blt-digitdebris-mnist5k", "step": "T", "batch": 64, "batches": [16, 32, 64, 128], "steps": [1, 2, 4, 8]},
    "gncn": {"model": "gncn-pdh-mnist5k", "step": "K", "batch": 512, "batches": [128, 256, 512, 1024], "steps": [10, 25, 50, 100]},
    "conv-ngc": {"model": "conv-ngc-natural32", "step": "K", "batch": 64, "batches": [16, 32, 64, 128], "steps": [15, 30, 60, 120]},
    "butd": {"model": "butd-multimnist5k", "step": "", "batch": 128, "batches": [32, 64, 128, 256], "steps": []},
}
QUICK = {"cbl": {"model": "cbl-cnn-mnist5k", "batch": 2, "batches": [2, 4], "steps": [1, 2]},
         "convrnn": {"batch": 2, "batches": [2, 4], "steps": [1, 2]},
         "gncn": {"batch": 4, "batches": [4, 8], "steps": [2, 4], "overrides": {"hidden": [36, 36, 36]}},
         "conv-ngc": {"batch": 2, "batches": [2, 4], "steps": [2, 4]},
         "butd": {"batch": 2, "batches": [2, 4], "steps": []}}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--call", choices=("train", "infer"), default="train")


def _sweep(family: str, axis: str, points: list[tuple[str, int, dict[str, Any]]], f: dict[str, Any], args: Any,
           settings: h.Settings) -> h.Comparison:
    sides = [h.Side(label, h.WorkerSpec(f"{family}-{label}".replace(" ", ""), settings.backend), "_backend:zoo_call",
                    {"model": f["model"], "kind": args.call, "batch": batch, "binary": family == "gncn",
                     "overrides": {**f.get("overrides", {}), **overrides} or None}, items=batch)
             for label, batch, overrides in points]
    call = ("`model.train_on_batch` (Adam; includes the update and reading the loss back)" if args.call == "train"
            else "compiled `model(x, training=False)` (NumPy out)")
    fixed = f"at batch {f['batch']}" if axis != "batch" else (f"at the registry's {f['step']}" if f["step"] else "")
    options = f" {f['overrides']}" if f.get("overrides") else ""
    what = f"{call} of `{f['model']}`{options}, {axis} sweep {fixed}, on {settings.backend}"
    return h.Comparison(f"{family}: {axis}", what, sides)


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    out = []
    for family in args.families:
        f = {**FAMILIES[family], **(QUICK[family] if settings.quick else {})}
        out.append(_sweep(family, "batch", [(f"batch {b}", b, {}) for b in f["batches"]], f, args, settings))
        if f["steps"]:
            out.append(_sweep(family, f["step"], [(f"{f['step']}={k}", f["batch"], {"iterations": k}) for k in f["steps"]],
                              f, args, settings))
    return out


def per_example(result: dict[str, Any]) -> None:
    """Note: time per example of each point (median time per call / batch)."""
    cells = [f"{s['label']} {1e3 * s['median_s'] / s['items']:.3g} ms" for s in result["sides"] if "median_s" in s]
    if cells:
        result["notes"].append("per example: " + ", ".join(cells))


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="scaling.py",
                         add_script_arguments=add_arguments, comparisons=comparisons, postprocess=per_example)


if __name__ == "__main__":
    main()

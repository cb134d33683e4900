"""ConvRNN family: training step and inference time of each recurrent model against its feed-forward control.

    python benchmarks/convrnn_step_time.py [--batch 64] [--small] [--pairs blt bl rgcell resnetlike convlstm] [common options]

Pairs: BLT / BL against the parameter-matched B control (digit debris, 28×28); the
reciprocal-gated and ResNet-like ConvRNNs and the ConvLSTM feedback network against themselves
at T = 1 (their first step *is* the feed-forward pass), at 32×32×3. Per pair the recurrent model
and the control each run in their own worker process (``benchmarks/_harness.py``), which holds
both its training step (``model.train_on_batch`` after ``compile_default(Adam(1e-3))``) and its
compiled inference (``model(x, training=False)``, as in ``benchmarks/_backend.py``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "ConvRNN models against their feed-forward controls"
CIFAR_SMALL = {"widths": [16, 32, 64]}
FB_SMALL = {"stem_width": 8, "widths": [8, 16, 32]}


def pairs(small: bool) -> dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]]:
    """name → (recurrent entry, its overrides, control entry, its overrides)."""
    cifar, fb = (CIFAR_SMALL, FB_SMALL) if small else ({}, {})
    return {
        "blt": ("blt-digitdebris-mnist5k", {}, "ff-digitdebris-mnist5k", {}),
        "bl": ("bl-digitdebris-mnist5k", {}, "ff-digitdebris-mnist5k", {}),
        "rgcell": ("convrnn-rgcell-cifar10", cifar, "convrnn-rgcell-cifar10", {**cifar, "iterations": 1}),
        "resnetlike": ("convrnn-resnetlike-cifar10", cifar, "convrnn-resnetlike-cifar10", {**cifar, "iterations": 1}),
        "convlstm": ("feedbacknet-convlstm-cifar10", fb, "feedbacknet-convlstm-cifar10", {**fb, "iterations": 1}),
    }


def add_arguments(parser: Any) -> None:
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--small", action="store_true", help="CIFAR models at 1/4 width")
    parser.add_argument("--pairs", nargs="+", choices=list(pairs(False)), default=list(pairs(False)))


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    batch = 4 if settings.quick else args.batch
    chosen = ["blt"] if settings.quick else args.pairs
    out = []
    for name in chosen:
        rec, rec_over, ctl, ctl_over = pairs(args.small or settings.quick)[name]
        workers = {"recurrent": h.WorkerSpec(f"{name}-recurrent", settings.backend),
                   "control": h.WorkerSpec(f"{name}-control", settings.backend)}
        ctl_label = ctl + (f" (T={ctl_over['iterations']})" if "iterations" in ctl_over else "")
        sides = []
        for kind in ("train", "infer"):
            sides.append(h.Side(f"{kind}: control", workers["control"], "_backend:zoo_call",
                                {"model": ctl, "overrides": ctl_over, "kind": kind, "batch": batch}, ctl_label, batch))
            sides.append(h.Side(f"{kind}: recurrent", workers["recurrent"], "_backend:zoo_call",
                                {"model": rec, "overrides": rec_over, "kind": kind, "batch": batch}, rec, batch))
        size = " (1/4 width)" if (args.small or settings.quick) and name not in ("blt", "bl") else ""
        what = (f"`{rec}`{size} against `{ctl_label}`, batch {batch} random inputs, on {settings.backend}: `train_on_batch` "
                "(Adam, includes the update and reading the loss back) and compiled `model(x, training=False)` (NumPy out)")
        out.append(h.Comparison(f"{name}: {rec} vs {ctl_label}", what, sides,
                                ratios=[("train: recurrent", "train: control"), ("infer: recurrent", "infer: control")]))
    return out


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="convrnn_step_time.py",
                         add_script_arguments=add_arguments, comparisons=comparisons)


if __name__ == "__main__":
    main()

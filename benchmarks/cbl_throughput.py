"""CBL: inference and training cost against its own feed-forward backbone.

    python benchmarks/cbl_throughput.py [--model cbl-cnn-cifar10] [--baseline standard-cnn-cifar10]
        [--batch 128] [--iterations 1 2 3 4] [--train-iterations 2] [--overrides JSON] [common options]

Two comparisons, each side in its own worker process (``benchmarks/_harness.py``): inference,
the backbone against CBL at each T of ``--iterations`` (``model(x, training=False)`` compiled as in
``benchmarks/_backend.py``: ``tf.function`` / ``jax.jit`` / eager PyTorch without gradients);
training, the backbone's ``train_on_batch`` against CBL's at T = ``--train-iterations`` (BPTT,
eq. 9; Adam). The ratios CBL / backbone are the issue's targets (≤ 1.5 at T = 2 on the paper's
CIFAR-10 StandardCNN). ``--overrides`` passes constructor options to the CBL model (e.g. the
tap placements the paper allows) and names them in the output.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "CBL against its backbone"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--model", default="cbl-cnn-cifar10", help="a CBL registry entry")
    parser.add_argument("--baseline", default=None, help="its feed-forward entry (default: the standard-* / resnet18-* twin)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--iterations", type=int, nargs="+", default=[1, 2, 3, 4], help="T of the inference sides")
    parser.add_argument("--train-iterations", type=int, default=2, help="T of the training side")
    parser.add_argument("--overrides", type=json.loads, default={}, help="JSON constructor options of the CBL model")


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    model = "cbl-cnn-mnist5k" if settings.quick else args.model
    baseline = args.baseline or model.replace("cbl-cnn", "standard-cnn").replace("cbl-resnet18", "resnet18")
    batch = 4 if settings.quick else args.batch
    steps = [1, 2] if settings.quick else args.iterations
    extra = f", CBL options {json.dumps(args.overrides)}" if args.overrides else ""

    def side(label: str, entry: str, kind: str, overrides: dict[str, Any] | None = None) -> h.Side:
        return h.Side(label, h.WorkerSpec(f"{kind}-{label}", settings.backend), "_backend:zoo_call",
                      {"model": entry, "kind": kind, "batch": batch, "overrides": overrides}, items=batch)

    infer = [side("backbone", baseline, "infer")]
    infer += [side(f"CBL T={t}", model, "infer", {**args.overrides, "iterations": t}) for t in steps]
    t_train = args.train_iterations
    train = [side("backbone", baseline, "train"), side(f"CBL T={t_train}", model, "train", {**args.overrides, "iterations": t_train})]
    return [
        h.Comparison(f"{TITLE}: inference", f"`model(x, training=False)` compiled (tf.function / jax.jit / torch.no_grad), "
                     f"`{baseline}` against `{model}` at T ∈ {steps}{extra}; x: {batch} random images of the entry's input "
                     f"shape, on {settings.backend}; includes converting the output to NumPy; excludes building and tracing",
                     infer),
        h.Comparison(f"{TITLE}: training", f"`model.train_on_batch(x, y)` after `compile_default(Adam(1e-3))`, `{baseline}` "
                     f"against `{model}` at T = {t_train} (BPTT through the steps, eq. 9){extra}; batch {batch}, random "
                     f"labels, on {settings.backend}; includes the optimizer update and reading the loss back", train),
    ]


def main(argv: Sequence[str] | None = None) -> h.Section:
    # a run with other CBL options writes its own docs section beside the default one
    def title(args: Any) -> str:
        return f"{TITLE}, CBL options {json.dumps(args.overrides)}" if args.overrides else TITLE

    return h.script_main(argv, title=title, description=__doc__ or "", script="cbl_throughput.py",
                         add_script_arguments=add_arguments, comparisons=comparisons)


if __name__ == "__main__":
    main()

"""Multiply-accumulates (MACs) of a CBL model per stage, and what T refinement steps cost.

    python benchmarks/cbl_flops.py [--size 224] [--iterations 2] [--json]

Counts the MACs of every Conv2D and Dense call (from the layers' real input/output shapes, one
example) for the zoo's ResNet-18 CBL (``cbl-resnet18-imagenet``) and for CBL on keras-hub's ResNet-18
(``cbl-resnet18-imagenet-feedback``, built from the architecture of the ``resnet_18_imagenet`` preset with
random weights: no download). Element-wise operations (batch norm, ReLU, adds, the blend of eq. 7)
are not counted. Per image:

* inference with T steps: the stages up to and including the lowest tap once (their input never
  changes), the stages above the lowest tap T+1 times (eqs. 5 and 8), plus T context heads and
  adapter sets (eqs. 6 and 7);
* training from scratch ≈ 3 × the inference MACs (forward, gradients of activations and of weights);
* training the feedback on a frozen body ≈ the inference MACs + one more pass for the activation
  gradients above the lowest tap (no weight gradients of the body, nothing below the lowest tap).

    python benchmarks/cbl_flops.py --placements [--entry cbl-cnn-cifar10] [--size 32]

prints, for each placement of the taps (every suffix of the entry's default taps), the MACs of CBL
at T = 1…4 against its feed-forward backbone: the cost depends on the lowest tap only.

Needs keras-hub for the second model (``pip install 'topdown_zoo[keras-hub]'``); it is skipped without.
"""
from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

import topdown_zoo as tz

#: keras-hub's resnet_18_imagenet architecture (its config.json), so that nothing is downloaded
KERAS_HUB_RESNET18 = {"class_name": "ResNetBackbone", "config": {
    "input_conv_filters": [64], "input_conv_kernel_sizes": [7], "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_blocks": [2, 2, 2, 2], "stackwise_num_strides": [1, 2, 2, 2], "block_type": "basic_block"}}
IMAGENET_TRAIN_IMAGES = 1_281_167


class MacCounter:
    """Records the MACs of every Conv2D / Dense call while active."""

    def __init__(self) -> None:
        self.macs = 0
        self._originals: dict[type, Any] = {}

    def __enter__(self) -> MacCounter:
        counter = self

        def wrap(cls: type, count: Any) -> None:
            original = cls.call
            self._originals[cls] = original

            def call(layer: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
                out = original(layer, inputs, *args, **kwargs)
                counter.macs += count(layer, tuple(inputs.shape), tuple(out.shape))
                return out

            cls.call = call

        wrap(keras.layers.Conv2D, lambda layer, i, o: math.prod(o[1:]) * math.prod(layer.kernel.shape[:-1]))
        wrap(keras.layers.Dense, lambda layer, i, o: math.prod(i[1:]) * int(o[-1]))
        return self

    def __exit__(self, *exc: Any) -> None:
        for cls, original in self._originals.items():
            cls.call = original


def count(fn: Any) -> tuple[int, Any]:
    with MacCounter() as counter:
        out = fn()
    return counter.macs, out


def profile(model: Any, size: int) -> dict[str, Any]:
    """MACs of each stage, of one context head + adapter set, and the parameter counts."""
    x = np.zeros((1, size, size, model.input_specs()[0].shape[-1]), "float32")
    stages, h, taps = [], x, {}
    for name, layer in zip(model.stage_names, model.stage_layers):
        macs, h = count(lambda layer=layer, h=h: layer(h, training=False))
        stages.append({"stage": name, "macs": macs, "params": layer.count_params(), "tapped": name in model.taps})
        taps[name] = h
    z_macs, z = count(lambda: model.context_vector(h))
    adapter_macs = sum(count(lambda a=a, t=t: a(taps[t], z))[0] for a, t in zip(model.adapters, model.taps))
    return {"stages": stages, "context_macs": z_macs, "adapter_macs": adapter_macs, "first_tap": model.first_tap,
            "params": model.count_params(),
            "trainable_params": sum(math.prod(v.shape) for v in model.trainable_weights)}


def costs(p: dict[str, Any], iterations: int) -> dict[str, float]:
    macs = [s["macs"] for s in p["stages"]]
    below, above = sum(macs[: p["first_tap"] + 1]), sum(macs[p["first_tap"] + 1:])
    feedback = p["context_macs"] + p["adapter_macs"]
    plain = below + above
    cbl = below + (iterations + 1) * above + iterations * feedback
    return {"feed_forward_gmacs": plain / 1e9, "cbl_gmacs": cbl / 1e9,
            "train_from_scratch_gflops": 2 * 3 * cbl / 1e9,
            "train_feedback_frozen_gflops": 2 * (cbl + (iterations + 1) * above) / 1e9}


def placements(entry: str, size: int, steps: Sequence[int] = (1, 2, 3, 4)) -> list[dict[str, Any]]:
    """CBL / feed-forward MAC ratio at each T for every suffix of ``entry``'s default taps."""
    default = list(tz.create(entry).taps)
    rows = []
    for k in range(len(default)):
        taps = default[k:]
        p = profile(tz.create(entry, taps=taps), size)
        plain = costs(p, 0)["feed_forward_gmacs"]
        rows.append({"taps": taps, **{f"T={t}": costs(p, t)["cbl_gmacs"] / plain for t in steps}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--placements", action="store_true", help="MAC ratio per tap placement (see above)")
    parser.add_argument("--entry", default="cbl-cnn-cifar10", help="the CBL entry of --placements")
    args = parser.parse_args()
    if args.placements:
        size = 32 if args.size == 224 and "cifar" in args.entry else args.size
        rows = placements(args.entry, size)
        if args.json:
            print(json.dumps(rows, indent=1))
            return
        steps = [key for key in rows[0] if key.startswith("T=")]
        print(f"{args.entry}, {size}x{size}: CBL MACs / feed-forward MACs (context and adapters included)")
        print("| taps | " + " | ".join(steps) + " |")
        print("|---|" + "---|" * len(steps))
        for row in rows:
            print(f"| {', '.join(row['taps'])} | " + " | ".join(f"{row[t]:.2f}×" for t in steps) + " |")
        return
    models = {"cbl-resnet18-imagenet (zoo ResNet-18)": lambda: tz.create("cbl-resnet18-imagenet",
                                                                           iterations=args.iterations)}
    try:
        import keras_hub  # noqa: F401

        models["cbl-resnet18-imagenet-feedback (keras-hub ResNet-18)"] = lambda: tz.create(
            "cbl-resnet18-imagenet-feedback", preset=None, architecture=KERAS_HUB_RESNET18, iterations=args.iterations)
    except ImportError:
        print("keras-hub is not installed: only the zoo's ResNet-18 is counted")
    report = {}
    for label, build in models.items():
        p = profile(build(), args.size)
        report[label] = {**p, **costs(p, args.iterations)}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for label, r in report.items():
        print(f"\n{label}: {r['params']:,} parameters ({r['trainable_params']:,} trainable), {args.size}x{args.size}")
        for s in r["stages"]:
            print(f"  {s['stage']:<20} {s['macs'] / 1e9:7.3f} GMACs {s['params']:>11,} params{'  tapped' if s['tapped'] else ''}")
        print(f"  context + adapters   {(r['context_macs'] + r['adapter_macs']) / 1e9:7.4f} GMACs per step")
        print(f"  feed-forward {r['feed_forward_gmacs']:.3f} GMACs; CBL T={args.iterations} {r['cbl_gmacs']:.3f} GMACs")
        for key in ("train_from_scratch_gflops", "train_feedback_frozen_gflops"):
            per_epoch = r[key] * 1e9 * IMAGENET_TRAIN_IMAGES / 1e15
            print(f"  {key}: {r[key]:.1f} GFLOPs/image, {per_epoch:,.0f} PFLOPs per ImageNet epoch")


if __name__ == "__main__":
    main()

"""JAX and PyTorch against TensorFlow on this CPU: time ratios of the same zoo workloads.

    python benchmarks/backends.py [--workloads gncn-train cbl-infer cbl-train butd-train]
        [--backends tensorflow jax torch] [common options: --rounds --calls --threads --quick --write-docs ...]

Each backend runs in its own worker process (``benchmarks/_harness.py``: its own
``KERAS_BACKEND``, the same pinned CPUs and threads; JAX, which has no thread-count setting, sizes
XLA's pool from the CPU affinity), one comparison per workload, TensorFlow the reference of the
ratios. Training steps are ``model.train_on_batch`` after ``model.compile_default(optimizer)``
(the contract's compile, as ``fit`` uses it) and inference is ``model.predict_on_batch``: Keras's
own compiled functions with ``jit_compile="auto"``, i.e. ``tf.function`` without XLA on
TensorFlow, ``jax.jit`` (XLA) on JAX, eager on PyTorch; each worker reports the
``model.jit_compile`` it got. Both return NumPy values, so a timed call includes the computation.
Weights are not seeded (``keras.utils.set_random_seed`` would import TensorFlow into every worker).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import _harness as h

TITLE = "Backends on this CPU"
LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}

#: name → registry entry, batch, call, optimizer learning rate (recipe), what one call is
WORKLOADS: dict[str, dict[str, Any]] = {
    "gncn-train": {
        "model": "gncn-pdh-mnist5k", "batch": 512, "call": "train", "lr": 1e-3,
        "what": "`model.train_on_batch(x)`: GNCN-PDH 784-360-360-360 (Σ, learned E, lateral V), K = 50 "
                "settling steps, the local updates (eqs. 17–19, 8), Adam, re-projection; x: 512 × 784 binary",
    },
    "cbl-infer": {
        "model": "cbl-cnn-cifar10", "batch": 128, "call": "predict",
        "what": "`model.predict_on_batch(x)`: CBL StandardCNN, T = 2 refinement steps; x: 128 × 32 × 32 × 3",
    },
    "cbl-train": {
        "model": "cbl-cnn-cifar10", "batch": 128, "call": "train", "lr": 1e-3,
        "what": "`model.train_on_batch(x, y)`: CBL StandardCNN, BPTT through T = 2 (eq. 9), Adam; x: 128 × 32 × 32 × 3",
    },
    "butd-train": {
        "model": "butd-multimnist5k", "batch": 128, "call": "train", "lr": 5e-4,
        "what": "`model.train_on_batch((image, task), y)`: BU-TD Counter-Hebb step (symmetric mode), Adam; "
                "image: 128 × 28 × 28 × 1, task ∈ {0, 1}",
    },
    "convrnn-train": {
        "model": "blt-digitdebris-mnist5k", "batch": 64, "call": "train", "lr": 1e-3,
        "what": "`model.train_on_batch(x, y)`: BLT, T = 4 time steps, loss over every step (BPTT), Adam; "
                "x: 64 × 28 × 28 × 1",
    },
    "conv-ngc-train": {
        "model": "conv-ngc-natural32", "batch": 50, "call": "train", "lr": 1e-3, "iterations": 30,
        "what": "`model.train_on_batch(x)`: Conv-NGC, T = 30 settling steps (the shipped recipe's), the local "
                "kernel updates, Adam, re-projection; x: 50 × 32 × 32 × 3",
    },
}
QUICK = {"gncn-train": {"batch": 8, "iterations": 3}, "cbl-infer": {"batch": 4}, "cbl-train": {"batch": 4},
         "butd-train": {"batch": 4}, "convrnn-train": {"batch": 4}, "conv-ngc-train": {"batch": 4, "iterations": 3}}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--backends", nargs="+", choices=h.BACKENDS, default=list(h.BACKENDS),
                        help="tensorflow is the reference of the ratios")
    parser.add_argument("--smoke", dest="quick", action="store_true", help="the same as --quick")


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    backends = [b for b in h.BACKENDS if b in args.backends]
    out = []
    for name in args.workloads:
        w = {**WORKLOADS[name], **(QUICK[name] if settings.quick else {})}
        kwargs = {"model": w["model"], "kind": w["call"], "batch": w["batch"], "binary": w["model"].startswith("gncn"),
                  "learning_rate": w.get("lr", 1e-3), "overrides": {"iterations": w["iterations"]} if "iterations" in w else None}
        sides = [h.Side(LABELS[b], h.WorkerSpec(f"{name}-{b}", b), "_backend:zoo_call", kwargs, items=w["batch"]) for b in backends]
        size = f" (--quick: {QUICK[name]})" if settings.quick else ""
        what = f"`tz.create(\"{w['model']}\")`; {WORKLOADS[name]['what']}{size}; excludes building and the first (tracing) calls"
        out.append(h.Comparison(name, what, sides))
    return out


def fastest(result: dict[str, Any]) -> None:
    """Note: the backend with the smallest median time of this workload, and each one's jit_compile."""
    timed = {s["label"]: s["median_s"] for s in result["sides"] if "median_s" in s}
    if timed:
        best = min(timed, key=timed.__getitem__)
        jit = ", ".join(f"{s['label']} {s['facts'].get('jit_compile')}" for s in result["sides"] if s["facts"])
        result["notes"].append(f"fastest: **{best}** ({1e3 * timed[best]:.1f} ms per call). `model.jit_compile`: {jit}.")


def main(argv: Sequence[str] | None = None) -> h.Section:
    return h.script_main(argv, title=TITLE, description=__doc__ or "", script="backends.py",
                         add_script_arguments=add_arguments, comparisons=comparisons, postprocess=fastest)


if __name__ == "__main__":
    main()

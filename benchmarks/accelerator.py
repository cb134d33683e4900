"""Training and inference speed of zoo models at realistic sizes on an accelerator, with Keras on
JAX (default) or PyTorch and without TensorFlow (it need not be installed; the script fails if
anything imports it).

    python benchmarks/accelerator.py                          # JAX, both workloads, mixed_bfloat16
    python benchmarks/accelerator.py --backend torch --workload cbl --steps 30
    python benchmarks/accelerator.py --smoke                  # tiny sizes: tests the script on a CPU

Workloads (``--batch`` overrides the batch size):

* ``cbl`` — ``tz.create("cbl-resnet18-imagenet")``: CBL on ResNet-18, T = 2, 224 × 224 × 3,
  batch 256, SGD with momentum 0.9 (its recipe's optimizer); BPTT through the T + 1 steps;
* ``gncn`` — ``tz.create("gncn-pdh-mnist5k")``: GNCN-PDH 784-360-360-360, K = 50 settling steps
  and the local updates, batch 4096 binary vectors, Adam.

Seeds: NumPy's generator for the data; the weights are not seeded (``keras.utils.set_random_seed``
imports TensorFlow when it is installed). The dtype policy is set before each model is created:
``--precision`` (default ``mixed_bfloat16``) for CBL, ``--gncn-precision`` (default ``float32``,
the GNCN paper's precision; ``mixed_bfloat16`` works too: settling runs in the compute dtype,
Σ⁻¹ and the sums in float32).

What is timed: one training step is ``model.train_on_batch(x, y)`` after
``model.compile_default(optimizer)`` — Keras's compiled train function as ``fit`` uses it
(``jit_compile="auto"``: ``jax.jit`` / XLA on JAX, eager on PyTorch; the script prints
``model.jit_compile``) — plus what ``train_on_batch`` adds to ``fit``'s step: the variables'
state is written back after every call on JAX, and the returned metrics are read back to the
host, which waits for the step to finish. Inference is ``model.predict_on_batch(x)`` (its output
is returned as NumPy). The batch is synthetic (uniform random images / binary vectors, random
labels) and is put on the device once, before timing, so no host-to-device copy is timed.
``--warmup`` calls (compilation) are not timed; the figures are the median of ``--steps``
individually timed calls, and images/s = batch / median step time.

``--smoke`` shrinks everything (ResNet-18 widths 8-8-16-16 on 64 × 64 images, batch 2; GNCN
batch 16 with K = 3; 2 steps) so the whole script runs in a minute or two on a CPU.
"""
from __future__ import annotations

import argparse
import importlib.abc
import json
import os
import statistics
import sys
import time
import traceback
from typing import Any

from _harness import peak_rss_mib, quartiles

WORKLOADS = ("cbl", "gncn")


class ImportWatch(importlib.abc.MetaPathFinder):
    """Records the stack of the first ``import tensorflow`` (and lets the import go on); a mere
    ``importlib.util.find_spec("tensorflow")`` (an availability check) is not an import."""

    def __init__(self) -> None:
        self.stack: list[str] | None = None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "tensorflow" and self.stack is None:
            frames = traceback.extract_stack()[:-1]
            if any(f.name == "_find_and_load" for f in frames):
                self.stack = [f"{f.filename}:{f.lineno} ({f.name})" for f in frames if "importlib" not in f.filename]
        return None


def settings(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Registry entry, overrides, batch, input shape, optimizer of a workload."""
    if name == "cbl":
        s = {"model": "cbl-resnet18-imagenet", "overrides": {}, "batch": 256, "shape": (224, 224, 3),
             "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}), "classes": 1000}
        if args.smoke:
            s.update(overrides={"backbone_config": {"num_classes": 10, "stem": "imagenet", "widths": [8, 8, 16, 16]}},
                     batch=2, shape=(64, 64, 3), classes=10)
    else:
        s = {"model": "gncn-pdh-mnist5k", "overrides": {}, "batch": 4096, "shape": (784,),
             "optimizer": ("Adam", {"learning_rate": 1e-3}), "classes": None}
        if args.smoke:
            s.update(overrides={"iterations": 3}, batch=16)
    if args.batch:
        s["batch"] = args.batch
    return s


def device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices())
    import torch

    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return "cpu (torch)"


def timed(call: Any, warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def run_workload(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import keras
    import numpy as np

    import topdown_zoo as tz

    s = settings(name, args)
    policy = args.precision if name == "cbl" else args.gncn_precision
    keras.config.set_dtype_policy(policy)
    model = tz.create(s["model"], **s["overrides"])
    rng = np.random.default_rng(0)
    x = rng.random((s["batch"],) + s["shape"], dtype=np.float32)
    if s["classes"] is None:  # GNCN: binary vectors, no labels
        x, y = (x > 0.5).astype("float32"), None
    else:
        y = keras.ops.convert_to_tensor(rng.integers(0, s["classes"], s["batch"]).astype("int32"))
    x = keras.ops.convert_to_tensor(x)  # on the device, once
    kind, kwargs = s["optimizer"]
    model.compile_default(getattr(keras.optimizers, kind)(**kwargs))
    train = timed(lambda: model.train_on_batch(x, y), args.warmup, args.steps)
    infer = timed(lambda: model.predict_on_batch(x), args.warmup, args.steps)
    t_train, t_infer = statistics.median(train), statistics.median(infer)
    (tq1, _, tq3), (iq1, _, iq3) = quartiles(train), quartiles(infer)
    return {"workload": name, "model": s["model"], "overrides": s["overrides"], "precision": policy,
            "batch": s["batch"],
            "input_shape": list(s["shape"]), "jit_compile": model.jit_compile,
            "train_step_ms": 1e3 * t_train, "train_step_iqr_ms": [1e3 * tq1, 1e3 * tq3], "train_images_per_s": s["batch"] / t_train,
            "infer_ms": 1e3 * t_infer, "infer_iqr_ms": [1e3 * iq1, 1e3 * iq3], "infer_images_per_s": s["batch"] / t_infer,
            "peak_rss_mib": peak_rss_mib(),
            "train_steps_ms": [round(1e3 * t, 2) for t in train]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("jax", "torch"), default="jax")
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all")
    parser.add_argument("--steps", type=int, default=20, help="timed calls (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (compilation)")
    parser.add_argument("--batch", type=int, default=None, help="override the workload's batch size")
    parser.add_argument("--precision", default="mixed_bfloat16", help="Keras dtype policy of cbl, e.g. float32")
    parser.add_argument("--gncn-precision", default="float32", help="Keras dtype policy of gncn")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to test the script on a CPU")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup = min(args.steps, 2), min(args.warmup, 1)
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != args.backend:
        parser.error(f"keras is already imported with another backend; run in a fresh process for {args.backend}")
    os.environ["KERAS_BACKEND"] = args.backend
    watch = ImportWatch()
    sys.meta_path.insert(0, watch)

    import keras

    names = WORKLOADS if args.workload == "all" else (args.workload,)
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, device {device_name()}, precision "
          f"{args.precision} (cbl), {args.gncn_precision} (gncn), median of {args.steps} steps after "
          f"{args.warmup} warm-up", flush=True)
    print("Timed: model.train_on_batch(x, y) (compiled train function, metrics read back) and model.predict_on_batch(x) "
          "(NumPy out) on a device-resident synthetic batch; median [IQR] of individually timed calls after warm-up; peak RSS of "
          "this process (host memory, not device memory)")
    print(f"{'workload':9s} {'precision':>15s} {'batch':>6s} {'train ms':>9s} {'[IQR]':>15s} {'train img/s':>12s} {'infer ms':>9s} "
          f"{'infer img/s':>12s} {'peak RSS':>9s}  jit")
    results = []
    for name in names:
        r = run_workload(name, args)
        results.append(r)
        iqr = f"[{r['train_step_iqr_ms'][0]:.1f}–{r['train_step_iqr_ms'][1]:.1f}]"
        print(f"{name:9s} {r['precision']:>15s} {r['batch']:6d} {r['train_step_ms']:9.1f} {iqr:>15s} "
              f"{r['train_images_per_s']:12.1f} {r['infer_ms']:9.1f} {r['infer_images_per_s']:12.1f} "
              f"{r['peak_rss_mib']:6.0f} MiB  {r['jit_compile']}", flush=True)
    print(json.dumps({"backend": args.backend, "device": device_name(),
                      "results": results}))
    sys.meta_path.remove(watch)
    if "tensorflow" in sys.modules:
        print("FAILED: tensorflow was imported; first import from:\n  " + "\n  ".join(watch.stack or ["?"]),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Inference throughput of the StandardCNN and its CBL version at T = 0…4, and the CPU's
measured matmul rate, in one run.

    python benchmarks/cbl_throughput.py [--model cbl-cnn-cifar10] [--batch 64] [--seconds 3]
        [--backend {tensorflow,jax,torch}]

Prints images/s for each T, the ratio to the feed-forward baseline, and the float32 matmul
GFLOP/s of this machine measured right before (so ratios and absolute numbers are comparable).
Expectation: a T-step CBL sweeps the stages above the lowest tap T+1 times, so the ratio should
be close to 1/(T+1) when every conv block is tapped. Inference is compiled as in
``benchmarks/_backend.py`` (``tf.function``, ``jax.jit``, or eager PyTorch without gradients).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from _backend import add_backend_argument, backend_version, compiled, model_forward, select_backend


def matmul_gflops(n: int = 2048, seconds: float = 2.0) -> float:
    import numpy as np
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    matmul = compiled(lambda u, v: ops.sum(ops.matmul(u, v)))
    matmul(a, b)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        matmul(a, b)
        runs += 1
    return 2 * n ** 3 * runs / (time.perf_counter() - start) / 1e9


def images_per_second(model, x, seconds: float) -> float:
    forward = model_forward(model)
    forward(x)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        forward(x)
        runs += 1
    return runs * int(x.shape[0]) / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cbl-cnn-cifar10", help="a CBL registry entry")
    parser.add_argument("--baseline", default=None, help="its feed-forward entry (default: standard-*)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--max-iterations", type=int, default=4)
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    backend = select_backend(argv)

    import numpy as np

    import topdown_zoo as tz

    spec = tz.get_spec(args.model)
    baseline = args.baseline or args.model.replace("cbl-cnn", "standard-cnn").replace("cbl-resnet18", "resnet18")
    x = np.random.default_rng(0).random((args.batch,) + tuple(spec.input_shape), dtype=np.float32)
    gflops = matmul_gflops()
    base = images_per_second(tz.create(baseline), x, args.seconds)
    rows = [{"model": baseline, "iterations": None, "images_per_s": base, "ratio_to_baseline": 1.0}]
    for t in range(args.max_iterations + 1):
        rate = images_per_second(tz.create(args.model, iterations=t), x, args.seconds)
        rows.append({"model": args.model, "iterations": t, "images_per_s": rate, "ratio_to_baseline": rate / base})
    print(f"{backend_version(backend)}; CPU float32 matmul (2048²): {gflops:.1f} GFLOP/s; batch {args.batch}; "
          f"{os.cpu_count()} cores")
    print(f"{'model':<24} {'T':>3} {'images/s':>10} {'ratio':>7}")
    for row in rows:
        t = "-" if row["iterations"] is None else row["iterations"]
        print(f"{row['model']:<24} {t:>3} {row['images_per_s']:>10.1f} {row['ratio_to_baseline']:>7.3f}")
    print(json.dumps({"backend": backend, "matmul_gflops": gflops, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

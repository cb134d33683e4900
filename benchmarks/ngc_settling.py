"""Settling throughput of the GNCN (and Conv-NGC) and its FLOP rate as a fraction of this
machine's measured float32 matmul peak, both measured in the same run.

    python benchmarks/ngc_settling.py [--batch 512] [--steps 50] [--repeats 3] [--conv]
        [--backend {tensorflow,jax,torch}]

Counts only the matrix products of settling: per example and step, the predictions
(2·Σ J_{ℓ+1}·J_ℓ FLOPs) and the bottom-up error messages through E = Wᵀ (the same again). The
peak is the best of ``--repeats`` 2048×2048 float32 matmuls on the same backend. Settling and
the matmul are compiled as in ``benchmarks/_backend.py`` (``tf.function``, ``jax.jit``, or eager
PyTorch without gradients).
"""
from __future__ import annotations

import argparse
import json
import time

from _backend import add_backend_argument, backend_version, compiled, model_forward, select_backend


def _best(fn, repeats):
    fn()  # warm-up / tracing
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _threads(backend: str) -> int:
    """The backend's intra-op thread setting (0 = its default; JAX has none: it uses every core)."""
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.threading.get_intra_op_parallelism_threads()
    if backend == "torch":
        import torch

        return torch.get_num_threads()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=2048, help="matmul size for the peak")
    ap.add_argument("--conv", action="store_true", help="also time Conv-NGC (T=60, batch 64)")
    add_backend_argument(ap)
    args = ap.parse_args(argv)
    backend = select_backend(argv)

    import numpy as np
    from keras import ops

    from topdown_zoo.models.ngc.conv_ngc import build_conv_ngc
    from topdown_zoo.models.ngc.gncn import build_gncn

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((args.n, args.n), dtype=np.float32))
    b = ops.convert_to_tensor(rng.standard_normal((args.n, args.n), dtype=np.float32))
    mm = compiled(ops.matmul)
    t_mm = _best(lambda: mm(a, b), args.repeats)
    peak = 2 * args.n ** 3 / t_mm

    model = build_gncn((784,), hidden=[360, 360, 360], iterations=args.steps)
    x = ops.convert_to_tensor((rng.random((args.batch, 784)) > 0.5).astype("float32"))
    settle = compiled(lambda v: model.settle(v)["predictions"][0], model.variables)
    t = _best(lambda: settle(x), args.repeats)
    dims = model.dims
    flops_step = 2 * 2 * sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))  # predictions + E·e messages
    rate = args.batch * args.steps / t
    out = {"matmul_peak_gflops": peak / 1e9, "gncn_sample_steps_per_s": rate,
           "gncn_gflops": rate * flops_step / 1e9, "gncn_fraction_of_peak": rate * flops_step / peak,
           "gncn_seconds_per_batch": t, "batch": args.batch, "steps": args.steps,
           "flops_per_sample_step": flops_step, "backend": backend, "versions": backend_version(backend),
           "threads": _threads(backend)}
    if args.conv:
        conv = build_conv_ngc((32, 32, 3), iterations=60)
        xi = rng.random((64, 32, 32, 3), dtype=np.float32)
        run = model_forward(conv)
        tc = _best(lambda: run(xi), args.repeats)
        out["conv_ngc_sample_steps_per_s"] = 64 * 60 / tc
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

"""Time per training step and per inference batch of each ConvRNN-family model vs its feed-forward
control, in one run (same process, same batch, same machine).

Pairs: BLT / BL vs the parameter-matched B control (digit debris, 28×28); the reciprocal-gated and
ResNet-like ConvRNNs and the ConvLSTM feedback network vs themselves at T=1 (their first step
*is* the feed-forward pass), at 32×32×3. Prints a table (median of ``--repeats`` timed steps
after ``--warmup``) with the ratio recurrent / control.

    python benchmarks/convrnn_step_time.py [--batch 64] [--repeats 10] [--small] [--backend {tensorflow,jax,torch}]

A training step is ``model.train_on_batch`` (Keras's compiled train function of the backend);
inference is compiled as in ``benchmarks/_backend.py`` (``tf.function``, ``jax.jit``, or eager
PyTorch without gradients).
"""
from __future__ import annotations

import argparse
import statistics
import time

from _backend import add_backend_argument, backend_version, model_forward, select_backend


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="CIFAR models at 1/4 width (quick CPU run)")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    backend = select_backend(argv)

    import keras
    import numpy as np

    import topdown_zoo as tz

    def timed(fn):
        for _ in range(args.warmup):
            fn()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def measure(name, **overrides):
        model = tz.create(name, **overrides)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        from topdown_zoo.registry import get_spec

        shape = get_spec(name).input_shape
        x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((args.batch,) + tuple(shape)), "float32")
        y = keras.ops.convert_to_tensor(np.arange(args.batch) % 10, "int32")
        model.make_train_function()
        train = lambda: model.train_on_batch(x, y)  # noqa: E731
        infer_fn = model_forward(model)
        infer = lambda: infer_fn(x)  # noqa: E731
        return timed(train), timed(infer), model.count_params()

    cifar_small = {"widths": [16, 32, 64]} if args.small else {}
    fb_small = {"stem_width": 8, "widths": [8, 16, 32]} if args.small else {}
    pairs = [
        ("blt-digitdebris-mnist5k", {}, "ff-digitdebris-mnist5k", {}),
        ("bl-digitdebris-mnist5k", {}, "ff-digitdebris-mnist5k", {}),
        ("convrnn-rgcell-cifar10", cifar_small, "convrnn-rgcell-cifar10", {**cifar_small, "iterations": 1}),
        ("convrnn-resnetlike-cifar10", cifar_small, "convrnn-resnetlike-cifar10", {**cifar_small, "iterations": 1}),
        ("feedbacknet-convlstm-cifar10", fb_small, "feedbacknet-convlstm-cifar10", {**fb_small, "iterations": 1}),
    ]
    print(f"batch {args.batch}, median of {args.repeats} steps; {backend_version(backend)}")
    header = f"{'model':34s} {'params':>8s} {'train ms':>9s} {'infer ms':>9s} | {'control':36s} {'params':>8s} " \
             f"{'train ms':>9s} {'infer ms':>9s} | {'train x':>7s} {'infer x':>7s}"
    print(header)
    print("-" * len(header))
    cache = {}
    for rec, rec_over, ctl, ctl_over in pairs:
        r = measure(rec, **rec_over)
        key = (ctl, tuple(sorted((k, str(v)) for k, v in ctl_over.items())))
        if key not in cache:
            cache[key] = measure(ctl, **ctl_over)
        c = cache[key]
        ctl_label = ctl + (f" (T={ctl_over['iterations']})" if "iterations" in ctl_over else "")
        print(f"{rec:34s} {r[2]:8d} {1e3 * r[0]:9.1f} {1e3 * r[1]:9.1f} | {ctl_label:36s} {c[2]:8d} "
              f"{1e3 * c[0]:9.1f} {1e3 * c[1]:9.1f} | {r[0] / c[0]:7.2f} {r[1] / c[1]:7.2f}")


if __name__ == "__main__":
    main()

"""ONNX Runtime vs Keras: latency and throughput of exported zoo models, as ratios measured in one run.

    python benchmarks/export_latency.py                          # default models, registry input sizes
    python benchmarks/export_latency.py --models cbl-cnn-mnist5k --iterations 8 --repeats 50
    python benchmarks/export_latency.py --models all --batch 32
    python benchmarks/export_latency.py --backend jax            # Keras timed on JAX (export still via TensorFlow)

For each model: build it (``create``, random weights: latency does not depend on them), export to
ONNX with the parity check, then time, interleaving the two runtimes round by round so that
both see the same machine load:

* latency — one example per call (median over ``--repeats`` calls, after warm-up);
* throughput — examples per second at ``--batch`` examples per call.

Keras is timed at its fastest inference path here, ``model(x, training=False)`` compiled for
``--backend`` as in ``benchmarks/_backend.py`` (TensorFlow: inside a ``tf.function``, graph mode,
traced once; JAX: ``jax.jit``; PyTorch: eager without gradients); ONNX Runtime with the CPU
provider and default threads. The ONNX file is written by TensorFlow/tf2onnx whatever the
backend (on JAX and PyTorch in a TensorFlow subprocess). The ratios are Keras time / ONNX Runtime
time (latency; > 1: ONNX Runtime is faster) and ONNX Runtime throughput / Keras throughput.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _backend import add_backend_argument, backend_version, compiled, select_backend

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


DEFAULT_MODELS = ["standard-cnn-mnist5k", "cbl-cnn-mnist5k", "blt-digitdebris-mnist5k", "butd-multimnist5k"]


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_model(name: str, workdir: Path, batch: int, repeats: int, iterations: int | None) -> dict:
    import onnxruntime as ort
    from keras import ops

    import topdown_zoo as tz
    from topdown_zoo.exporting import InputSignature, compare, keras_outputs

    model = tz.create(name)
    path = tz.export(model, workdir / f"{name}.onnx", iterations=iterations)
    if iterations is not None:  # time the same architecture as the artifact
        model = tz.create(name, **{tz_iteration_key(model): iterations})
    sig = InputSignature.infer(model)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    keras_fn = compiled(lambda *t: model(sig.model_input(list(t)), training=False), model.variables)

    def runners(arrays):
        tensors = [ops.convert_to_tensor(a) for a in arrays]
        feed = sig.feed(arrays)
        return (lambda: keras_fn(*tensors)), (lambda: session.run(None, feed))

    one, many = sig.random_inputs(model, batch=1, seed=0), sig.random_inputs(model, batch=batch, seed=1)
    k1, o1 = runners(one)
    kb, ob = runners(many)
    if iterations is None:  # the artifact is the model we time
        compare(keras_outputs(model, sig, one), {"output": o1()[0]}, 1e-4, what=name)
    for fn in (k1, o1, kb, ob):  # warm-up (tracing, allocation)
        fn(), fn()
    k_lat, o_lat, k_thr, o_thr = [], [], [], []
    rounds = 5
    for _ in range(rounds):  # interleave the runtimes
        k_lat += _time(k1, max(1, repeats // rounds))
        o_lat += _time(o1, max(1, repeats // rounds))
        k_thr += _time(kb, max(1, repeats // (4 * rounds)))
        o_thr += _time(ob, max(1, repeats // (4 * rounds)))
    k_l, o_l = statistics.median(k_lat), statistics.median(o_lat)
    k_t, o_t = batch / statistics.median(k_thr), batch / statistics.median(o_thr)
    return {"model": name, "keras_ms": 1e3 * k_l, "ort_ms": 1e3 * o_l, "latency_ratio": k_l / o_l,
            "keras_eps": k_t, "ort_eps": o_t, "throughput_ratio": o_t / k_t}


def tz_iteration_key(model) -> str:
    from topdown_zoo.exporting import iteration_key

    key = iteration_key(model)
    if key is None:
        raise SystemExit(f"{type(model).__name__} has no iteration count to override")
    return key


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="registry names, or 'all'")
    parser.add_argument("--batch", type=int, default=64, help="examples per call for throughput")
    parser.add_argument("--repeats", type=int, default=40, help="timed calls per model for latency")
    parser.add_argument("--iterations", type=int, default=None, help="override the refinement steps")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    backend = select_backend(argv)

    import topdown_zoo as tz

    names = tz.list_models() if args.models == ["all"] else args.models
    print(f"{backend_version(backend)}, onnxruntime {__import__('onnxruntime').__version__}, "
          f"{os.cpu_count()} CPU cores; batch {args.batch}, {args.repeats} latency calls per model")
    header = (f"{'model':28s} {'keras ms':>9s} {'ort ms':>8s} {'lat ×':>6s} "
              f"{'keras ex/s':>11s} {'ort ex/s':>9s} {'thr ×':>6s}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            r = bench_model(name, Path(tmp), args.batch, args.repeats, args.iterations)
            print(f"{r['model']:28s} {r['keras_ms']:9.2f} {r['ort_ms']:8.2f} {r['latency_ratio']:6.2f} "
                  f"{r['keras_eps']:11.0f} {r['ort_eps']:9.0f} {r['throughput_ratio']:6.2f}", flush=True)
    print("lat × = Keras latency / ONNX Runtime latency; thr × = ONNX Runtime throughput / Keras throughput "
          "(> 1: ONNX Runtime is faster)")


if __name__ == "__main__":
    main()

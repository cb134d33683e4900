"""Where ONNX Runtime spends an export's inference time: kernel time per operator type.

    python benchmarks/onnx_profile.py [--models NAME ...] [--batch 64] [--threads 2] [--calls 30] [--loops unrolled|loop]

For each model: ``tz.create(name)`` (random weights: speed does not depend on them), ``tz.export``
to a temporary ONNX file, one ONNX Runtime session (CPU provider, ``--threads`` intra-op threads,
inter-op 1, sequential, ORT's default graph optimizations), ``--calls`` warm-up runs, then
``--calls`` runs on a batch of ``--batch`` random inputs with ONNX Runtime's profiler on. The table
gives each operator type's share of the summed kernel time (``*_kernel_time`` events; ``Reorder*``
are the layout conversions ONNX Runtime inserts for its blocked convolution kernels) and the
median wall time per run. A profile, not a comparison: the profiler's own cost is in the wall time,
so read ratios from ``export_latency.py``. Run it alone on a quiet machine, pinned like the
benchmarks (``taskset -c 0,1``).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODELS = ["blt-digitdebris-mnist5k", "butd-multimnist5k", "conv-ae-natural32"]


def profile(name: str, batch: int, threads: int, calls: int, loops: str) -> dict[str, Any]:
    """Kernel time per operator type of ``name``'s ONNX export: ``{"ops": {type: share}, "run_ms": …}``."""
    import onnxruntime as ort

    import topdown_zoo as tz
    from topdown_zoo.exporting import InputSignature

    model = tz.create(name)
    with tempfile.TemporaryDirectory(prefix="onnx_profile_") as tmp:
        path = tz.export(model, Path(tmp) / "model.onnx", loops=loops)
        signature = InputSignature.infer(model)
        feeds = signature.feed(signature.random_inputs(model, batch=batch, seed=0))
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(calls):
            session.run(None, feeds)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values()) or 1
    return {"ops": {op: dur / total for op, dur in per_op.most_common()}, "run_ms": 1e3 * statistics.median(times)}


def table(name: str, result: dict[str, Any], top: int = 8) -> str:
    rows = [f"| {op} | {100 * share:.1f} % |" for op, share in list(result["ops"].items())[:top]]
    return "\n".join([f"**{name}** — {result['run_ms']:.2f} ms per run with the profiler on", "",
                      "| operator | share of kernel time |", "|---|---|", *rows])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--loops", choices=("unrolled", "loop"), default="unrolled")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in args.models:
        print(table(name, profile(name, args.batch, args.threads, args.calls, args.loops)), end="\n\n", flush=True)


if __name__ == "__main__":
    main()

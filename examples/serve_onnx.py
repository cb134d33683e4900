"""Serve a zoo model with ONNX Runtime: export once, then infer with nothing but onnxruntime + NumPy.

    python examples/serve_onnx.py                       # cbl-cnn-mnist5k, trained weights
    python examples/serve_onnx.py --iterations 4 --limit 200
    KERAS_BACKEND=jax python examples/serve_onnx.py     # export from a model loaded on JAX

Step 1 (needs topdown_zoo): export the trained model with every refinement step exposed, and
write a few raw test digits (uint8, as a camera or a request would deliver them) to disk.
Step 2 (`serve`, needs only onnxruntime + NumPy): read the preprocessing recorded in the
artifact's metadata, apply it to the raw pixels, run the model, report accuracy per step.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def export_artifact(name: str, out_dir: Path, iterations: int | None, loops: str = "unrolled") -> tuple[Path, Path]:
    import topdown_zoo as tz
    from topdown_zoo.data import mnist5k

    out_dir.mkdir(parents=True, exist_ok=True)
    path = tz.export(name, out_dir / f"{name}.onnx", format="onnx", iterations=iterations, outputs="steps", loops=loops)
    images, labels = mnist5k._all_arrays()  # raw uint8 digits (N, 28, 28), before any preprocessing
    test = mnist5k.split_indices("test")
    raw = out_dir / "mnist5k-test-raw.npz"
    np.savez(raw, images=images[test], labels=labels[test])
    return path, raw


def preprocess(raw_uint8: np.ndarray, meta: dict) -> np.ndarray:
    """The model's recorded preprocessing: ``x / 255`` to [0, 1], NHWC with one channel."""
    prep = meta["preprocessing"]
    if prep.get("scale") != "x / 255":
        raise SystemExit(f"this example knows the 'x / 255' preprocessing only, the model records {prep}")
    x = raw_uint8.astype(np.float32) / 255.0
    shape = meta["inputs"][0]["shape"][1:]  # [28, 28, 1]
    return x.reshape((-1, *shape))


def session_options(threads: int | None = None, spinning: bool = True) -> Any:
    """ONNX Runtime session options for serving (measured: docs/benchmarks.md, "Exports"):
    ``threads`` intra-op threads (default: the CPUs this process may use), one inter-op thread,
    sequential execution. ``spinning=True`` (ONNX Runtime's default) lets idle worker threads spin:
    the fastest on a machine that serves only this model; ``spinning=False`` makes them sleep, a
    little slower, but it does not starve other processes that share the cores."""
    import os

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return options


def serve(onnx_path: Path, raw_path: Path, limit: int, batch_size: int = 64, threads: int | None = None,
          spinning: bool = True) -> dict:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), sess_options=session_options(threads, spinning),
                                   providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["topdown_zoo"])
    input_name = session.get_inputs()[0].name  # "input"
    data = np.load(raw_path)
    images, labels = data["images"][:limit], data["labels"][:limit]
    finals, steps = [], []
    for start in range(0, len(images), batch_size):  # any batch size: the batch axis is dynamic
        x = preprocess(images[start:start + batch_size], meta)
        out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {input_name: x})))
        finals.append(out["output"])
        steps.append(out["steps"])
    logits, steps = np.concatenate(finals), np.concatenate(steps)  # steps: (N, T + 1, classes)
    return {
        "model": meta["model"],
        "iterations": meta["iterations"],
        "examples": int(len(labels)),
        "accuracy": float(np.mean(logits.argmax(-1) == labels)),
        "accuracy_per_step": [float(np.mean(steps[:, t].argmax(-1) == labels)) for t in range(steps.shape[1])],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cbl-cnn-mnist5k", help="a registry entry with mnist5k inputs")
    parser.add_argument("--out", type=Path, default=Path("runs/export-example"))
    parser.add_argument("--iterations", type=int, default=None, help="override the refinement steps")
    parser.add_argument("--limit", type=int, default=1000, help="test digits to serve")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: the CPUs "
                        "this process may use)")
    parser.add_argument("--no-spin", action="store_true", help="idle ONNX Runtime threads sleep instead of spinning "
                        "(for cores shared with other work)")
    parser.add_argument("--loops", choices=["loop", "unrolled"], default="unrolled",
                        help="export the refinement loop as one ONNX Loop or unrolled (faster in ONNX Runtime)")
    args = parser.parse_args(argv)
    onnx_path, raw = export_artifact(args.model, args.out, args.iterations, args.loops)
    print(f"exported {onnx_path} (parity-checked against Keras)")
    print(json.dumps(serve(onnx_path, raw, args.limit, threads=args.threads, spinning=not args.no_spin), indent=2))


if __name__ == "__main__":
    main()

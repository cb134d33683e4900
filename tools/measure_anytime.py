"""Anytime inference of a CBL entry: mean refinement steps and accuracy at each tolerance (eq. 11),
in Keras and in the exported ONNX model.

    python tools/measure_anytime.py [--entry cbl-cnn-mnist5k] [--iterations 4]
        [--tolerances 0 0.001 0.01 0.1 0.5] [--onnx] [--out docs/data/cbl_anytime.json] [--quick]

For each tolerance the shipped weights are rebuilt with that ``tolerance`` (``model.with_config``)
and run on the entry's test split: ``refine_anytime`` gives each example's refinement-step count
(the step whose output change fell below the tolerance, else T) and the final output. ``--onnx``
also exports each tolerance's model (the ``while_loop`` becomes one ONNX ``Loop`` whose exit
condition carries the tolerance) and reports ONNX Runtime's accuracy and its agreement with Keras.
``--iterations`` refines for more steps than the entry was trained with (T of the shipped model by
default). Timings are not taken here (benchmarks/ time things); the step count is the cost.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _test_arrays(spec: Any, quick: bool) -> tuple[np.ndarray, np.ndarray]:
    from topdown_zoo.data import load_dataset

    xs, ys = [], []
    for x, y in load_dataset(spec.dataset, "test", smoke=quick).batch(256):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return np.concatenate(xs), np.concatenate(ys)


def _keras_side(model: Any, x: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    import keras

    finals, counts = [], []
    for start in range(0, len(x), 256):
        out, _, count = model.refine_anytime(x[start:start + 256])
        finals.append(keras.ops.convert_to_numpy(out))
        counts.append(keras.ops.convert_to_numpy(count))
    final, steps = np.concatenate(finals), np.concatenate(counts)
    row = {"accuracy": float((final.argmax(-1) == y).mean()), "mean_steps": float(steps.mean()),
           "max_steps": int(steps.max()), "stopped_early": float((steps < model.iterations).mean())}
    return row, final


def _onnx_side(model: Any, x: np.ndarray, y: np.ndarray, keras_final: np.ndarray) -> dict[str, float]:
    import onnxruntime as ort

    import topdown_zoo as tz

    with tempfile.TemporaryDirectory() as tmp:
        path = tz.export(model, Path(tmp) / "model.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        final = np.concatenate([session.run(None, {name: x[s:s + 256]})[0] for s in range(0, len(x), 256)])
    return {"onnx_accuracy": float((final.argmax(-1) == y).mean()),
            "onnx_agrees_with_keras": float((final.argmax(-1) == keras_final.argmax(-1)).mean()),
            "onnx_max_abs_diff": float(np.abs(final - keras_final).max())}


def measure(entry: str, tolerances: list[float], iterations: int | None, onnx: bool, quick: bool) -> dict[str, Any]:
    """One row per tolerance: accuracy, mean / max refinement steps, share stopped early (and ONNX)."""
    import topdown_zoo as tz
    from topdown_zoo.registry import get_spec

    spec = get_spec(entry)
    base = tz.load(entry)
    if not hasattr(base, "refine_anytime"):
        raise SystemExit(f"error: {entry} has no anytime inference (a CBL entry is needed, e.g. cbl-cnn-mnist5k)")
    x, y = _test_arrays(spec, quick)
    steps = base.iterations if iterations is None else iterations
    rows = []
    for tolerance in tolerances:
        model = base.with_config(tolerance=tolerance, iterations=steps)
        row, final = _keras_side(model, x, y)
        if onnx:
            row.update(_onnx_side(model, x, y, final))
        rows.append({"tolerance": tolerance, **row})
        print(json.dumps(rows[-1]), flush=True)
    return {"entry": entry, "iterations": steps, "trained_iterations": base.iterations, "examples": int(len(y)),
            "command": "python tools/measure_anytime.py " + " ".join(sys.argv[1:]), "rows": rows}


def markdown(result: dict[str, Any]) -> str:
    """The table docs/cbl.md shows."""
    onnx = "onnx_accuracy" in result["rows"][0]
    head = "| tolerance | accuracy | mean steps | stopped before T |" + (" ONNX accuracy | ONNX = Keras |" if onnx else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        line = (f"| {r['tolerance']:g} | {100 * r['accuracy']:.2f} % | {r['mean_steps']:.2f} of {result['iterations']} "
                f"| {100 * r['stopped_early']:.1f} % |")
        if onnx:
            line += f" {100 * r['onnx_accuracy']:.2f} % | {100 * r['onnx_agrees_with_keras']:.1f} % |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="cbl-cnn-mnist5k")
    parser.add_argument("--iterations", type=int, default=None, help="T to refine for (default: the entry's)")
    parser.add_argument("--tolerances", type=float, nargs="+", default=[0.0, 0.001, 0.01, 0.1, 0.5])
    parser.add_argument("--onnx", action="store_true", help="also export each tolerance and run ONNX Runtime")
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    parser.add_argument("--quick", action="store_true", help="smoke-sized test data (for tests)")
    args = parser.parse_args(argv)
    if args.onnx:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    result = measure(args.entry, args.tolerances, args.iterations, args.onnx, args.quick)
    print(markdown(result))
    if args.out:
        from topdown_zoo.atomic import write_text

        write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Serve a zoo model's SavedModel as TensorFlow Serving would: through its ``serving_default``
signature, with named inputs and named outputs, and nothing of Keras or topdown_zoo loaded.

    python examples/serve_saved_model.py                 # cbl-cnn-mnist5k, trained weights
    python examples/serve_saved_model.py --limit 200
    KERAS_BACKEND=torch python examples/serve_saved_model.py   # export from a model loaded on PyTorch

Step 1 (needs topdown_zoo) exports ``<out>/<model>/1`` — TensorFlow Serving's
``<model_base_path>/<version>`` layout — and writes raw test digits. Step 2 (`serve`) loads the
SavedModel with ``tf.saved_model.load`` in a process where ``keras`` and ``topdown_zoo`` are
made unimportable, applies the recorded preprocessing (``assets.extra/topdown_zoo.json``) and
calls ``signatures["serving_default"](input=...)``. It also writes the REST request body that
the same call takes on a TensorFlow Serving server::

    docker run -p 8501:8501 -v $PWD/<out>/<model>:/models/<model> -e MODEL_NAME=<model> tensorflow/serving
    curl -d @<out>/request.json http://localhost:8501/v1/models/<model>:predict
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def export_artifact(name: str, out_dir: Path, iterations: int | None) -> tuple[Path, Path]:
    import topdown_zoo as tz
    from topdown_zoo.data import mnist5k

    path = tz.export(name, out_dir / name / "1", format="saved_model", iterations=iterations, outputs="steps")
    images, labels = mnist5k._all_arrays()  # raw uint8 digits (N, 28, 28)
    test = mnist5k.split_indices("test")
    raw = out_dir / "mnist5k-test-raw.npz"
    np.savez(raw, images=images[test], labels=labels[test])
    return path, raw


def serve(saved_model: Path, raw_path: Path, limit: int, request_json: Path | None = None) -> dict:
    for blocked in ("keras", "topdown_zoo"):  # prove the artifact needs neither
        if sys.modules.get(blocked) is None:
            sys.modules[blocked] = None
    import tensorflow as tf

    meta = json.loads((saved_model / "assets.extra" / "topdown_zoo.json").read_text())
    if meta["preprocessing"].get("scale") != "x / 255":
        raise SystemExit("this example knows the 'x / 255' preprocessing only, the model records "
                         f"{meta['preprocessing']}")
    data = np.load(raw_path)
    images, labels = data["images"][:limit], data["labels"][:limit]
    x = (images.astype(np.float32) / 255.0).reshape((-1, *meta["inputs"][0]["shape"][1:]))

    fn = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    print("serving_default inputs:", {k: (v.shape, v.dtype.name) for k, v in fn.structured_input_signature[1].items()})
    print("serving_default outputs:", {k: v.shape for k, v in fn.structured_outputs.items()})
    out = fn(input=tf.constant(x))  # what TF Serving runs for {"signature_name": "serving_default", ...}
    logits, steps = out["output"].numpy(), out["steps"].numpy()
    if request_json is not None:
        request_json.write_text(json.dumps({"signature_name": "serving_default", "inputs": {"input": x[:2].tolist()}}))
    return {
        "model": meta["model"],
        "iterations": meta["iterations"],
        "examples": int(len(labels)),
        "accuracy": float(np.mean(logits.argmax(-1) == labels)),
        "accuracy_per_step": [float(np.mean(steps[:, t].argmax(-1) == labels)) for t in range(steps.shape[1])],
        "keras_imported": sys.modules.get("keras") is not None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cbl-cnn-mnist5k", help="a registry entry with mnist5k inputs")
    parser.add_argument("--out", type=Path, default=Path("runs/export-example"))
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--serve-only", nargs=2, type=Path, metavar=("SAVED_MODEL", "RAW_NPZ"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_only:
        print(json.dumps(serve(*args.serve_only, args.limit, args.out / "request.json"), indent=2))
        return
    path, raw = export_artifact(args.model, args.out, args.iterations)
    print(f"exported {path} (parity-checked against Keras)")
    # serve in a fresh process, as a server would: no Keras, no topdown_zoo
    subprocess.run([sys.executable, __file__, "--serve-only", str(path), str(raw), "--limit", str(args.limit),
                    "--out", str(args.out)], check=True)


if __name__ == "__main__":
    main()

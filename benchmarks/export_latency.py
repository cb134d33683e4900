"""Exports: ONNX Runtime against Keras, throughput at batch 64 and latency at batch 1, each runtime in its own process.

    python benchmarks/export_latency.py [--models shipped | NAME ...] [--batch 64] [--iterations T] [common options]

Per model four worker processes (``benchmarks/_harness.py``), all pinned to the same CPUs:
Keras (``model(x, training=False)`` compiled for the backend as in ``benchmarks/_backend.py``:
``tf.function`` / ``jax.jit`` / eager PyTorch without gradients) and three ONNX Runtime sessions:
default ``SessionOptions()``; *served*, the options ``examples/serve_onnx.py`` serves with
(``intra_op_num_threads = --threads``, ``inter_op_num_threads = 1``, sequential execution, idle
threads spinning); and *tuned*, the same with ``session.intra_op.allow_spinning = 0``. The Keras
worker builds the model (``tz.create``: random weights, speed does not depend on them), exports it
with ``tz.export`` (its parity check) and saves its inputs and outputs; each ONNX Runtime worker
loads the file and checks its own output against them (max |ORT − Keras| in the facts). ONNX Runtime throughput / Keras throughput is
1 / the time ratio (the issue's goal: ≥ 1.2, i.e. a time ratio ≤ 0.83).
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _harness as h

TITLE = "Exports: ONNX Runtime against Keras"
_MODELS: dict[tuple[str, int | None], Any] = {}
_TMP: list[tempfile.TemporaryDirectory[str]] = []


def _model(name: str, iterations: int | None) -> Any:
    """The worker's model (built once per name and step count)."""
    import topdown_zoo as tz

    if (name, iterations) not in _MODELS:
        model = tz.create(name)
        if iterations is not None:
            from topdown_zoo.exporting import iteration_key

            key = iteration_key(model)
            if key is None:
                raise ValueError(f"{name} has no step count to override")
            model = tz.create(name, **{key: iterations})
        _MODELS[name, iterations] = model
    return _MODELS[name, iterations]


def keras_call(model: str, batch: int, workdir: str, iterations: int | None = None,
               loops: str = "unrolled") -> tuple[Any, dict[str, Any]]:
    """Factory (Keras worker): exports the model once, saves inputs and outputs at ``batch``, times Keras."""
    import numpy as np
    from _backend import compiled, facts
    from keras import ops

    import topdown_zoo as tz
    from topdown_zoo.exporting import InputSignature, keras_outputs

    net = _model(model, iterations)
    path = Path(workdir) / "model.onnx"
    if not path.exists():
        tz.export(net, path, loops=loops)
    sig = InputSignature.infer(net)
    arrays = sig.random_inputs(net, batch=batch, seed=batch)
    forward = compiled(lambda *t: net(sig.model_input(list(t)), training=False), net.variables)
    tensors = [ops.convert_to_tensor(a) for a in arrays]
    np.savez(Path(workdir) / f"batch{batch}.npz", **sig.feed(arrays))
    np.save(Path(workdir) / f"keras{batch}.npy", keras_outputs(net, sig, arrays)["output"])
    return (lambda: forward(*tensors)), {**facts(net), "onnx_bytes": path.stat().st_size}


SESSIONS = {
    "default": "SessionOptions()",
    "served": "as examples/serve_onnx.py serves: {threads} intra-op threads, inter-op 1, sequential, spinning",
    "tuned": "{threads} intra-op threads, inter-op 1, no spinning",
}


def session_options(kind: str) -> Any:
    """ONNX Runtime session options of a side: ``default`` (``SessionOptions()``), ``served``
    (``examples/serve_onnx.py``'s own ``session_options``, loaded from its file) or ``tuned``
    (the same with idle threads sleeping instead of spinning)."""
    if kind == "default":
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location("serve_onnx", Path(__file__).resolve().parents[1] / "examples" / "serve_onnx.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("examples/serve_onnx.py not found")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    return serve.session_options(h.threads(), spinning=kind == "served")


def ort_call(workdir: str, batch: int, session: str = "default") -> tuple[Any, dict[str, Any]]:
    """Factory (ONNX Runtime worker): a session on the exported file with the options of ``session``
    (a key of :data:`SESSIONS`)."""
    import numpy as np
    import onnxruntime as ort

    options = session_options(session)
    session = ort.InferenceSession(str(Path(workdir) / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"])
    with np.load(Path(workdir) / f"batch{batch}.npz") as data:
        feed = {name: data[name] for name in data.files}
    expected = np.load(Path(workdir) / f"keras{batch}.npy")
    got = session.run(None, feed)[0]
    return (lambda: session.run(None, feed)), {"max_abs_diff_vs_keras": float(np.max(np.abs(got - expected))),
                                               "onnxruntime": ort.__version__}


def model_names(models: list[str]) -> list[str]:
    """``shipped`` (the models whose trained weights ship with the zoo), ``all`` (the registry) or names."""
    from topdown_zoo.registry import list_models  # imports no Keras: the parent stays light

    if models in (["shipped"], ["all"]):
        return list_models(pretrained=models == ["shipped"])
    return models


def add_arguments(parser: Any) -> None:
    parser.add_argument("--models", nargs="+", default=["shipped"], help="registry names, 'shipped' (the 12 shipped models) or 'all'")
    parser.add_argument("--batch", type=int, default=64, help="examples per call of the throughput sides")
    parser.add_argument("--iterations", type=int, default=None, help="override the step count (exported and timed)")
    parser.add_argument("--loops", choices=["unrolled", "loop"], default="unrolled",
                        help="export fixed-count loops unrolled (tz.export's default) or as one ONNX Loop "
                             "(tz.export(loops='loop')); 'loop' writes its own docs section")


def comparisons(args: Any, settings: h.Settings) -> list[h.Comparison]:
    names = ["standard-cnn-mnist5k"] if settings.quick else model_names(args.models)
    batch = 4 if settings.quick else args.batch
    out = []
    for name in names:
        tmp = tempfile.TemporaryDirectory(prefix="bench-export-")
        _TMP.append(tmp)  # removed when this process exits
        keras_w = h.WorkerSpec(f"{name}-keras", settings.backend)
        sides = []
        for b in sorted({1, batch}):
            sides.append(h.Side(f"Keras b{b}", keras_w, "export_latency:keras_call",
                                {"model": name, "batch": b, "workdir": tmp.name, "iterations": args.iterations,
                                 "loops": args.loops}, items=b))
            sides += [h.Side(f"ORT {kind} b{b}", h.WorkerSpec(f"{name}-ort-{kind}", None), "export_latency:ort_call",
                             {"workdir": tmp.name, "batch": b, "session": kind},
                             SESSIONS[kind].format(threads=settings.threads), b) for kind in SESSIONS]
        ratios = [(f"ORT {kind} b{b}", f"Keras b{b}") for b in sorted({1, batch}, reverse=True) for kind in SESSIONS]
        steps = f" with {args.iterations} steps" if args.iterations is not None else ""
        steps += ", exported with `loops=\"loop\"` (one ONNX Loop)" if args.loops == "loop" else ""
        what = (f"`{name}`{steps}: one inference call on a batch of {batch} (throughput) and of 1 (latency) — Keras's compiled "
                f"`model(x, training=False)` on {settings.backend} (NumPy out) against `InferenceSession.run` on the exported "
                "ONNX file (CPU provider); inputs are prepared once, not timed; export and session creation not timed")
        out.append(h.Comparison(f"{name}", what, sides, ratios=ratios))
    return out


def throughput_notes(result: dict[str, Any]) -> None:
    """Notes: ONNX Runtime throughput / Keras throughput (1 / the time ratio) at the larger batch."""
    for r in result["ratios"]:
        if "median" in r and not r["numerator"].endswith("b1"):
            result["notes"].append(f"{r['numerator']}: throughput **{1 / r['median']:.2f}×** Keras's "
                                   f"[{1 / r['q3']:.2f}–{1 / r['q1']:.2f}] (goal ≥ 1.2×)")


def main(argv: Sequence[str] | None = None) -> h.Section:
    def title(args: Any) -> str:  # exports as loops get their own docs section
        return f"{TITLE}, loops kept as ONNX Loops" if args.loops == "loop" else TITLE

    return h.script_main(argv, title=title, description=__doc__ or "", script="export_latency.py",
                         add_script_arguments=add_arguments, comparisons=comparisons, postprocess=throughput_notes)


if __name__ == "__main__":
    main()

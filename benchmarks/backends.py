"""JAX and PyTorch against TensorFlow on this CPU: time ratios of the same zoo workloads.

    python benchmarks/backends.py [--rounds 12] [--calls 2] [--warmup 3] [--threads 2]
        [--workloads gncn-train cbl-infer cbl-train butd-train] [--write-docs] [--smoke]

Method. Every backend runs in its own worker process (started with ``spawn``: no shared thread
pools, each with its own ``KERAS_BACKEND``), with the same threads: the worker's CPU affinity is
set to ``--threads`` cores (``os.sched_setaffinity``); TensorFlow gets
``tf.config.threading.set_intra_op_parallelism_threads(n)`` and ``…inter_op…(n)``, PyTorch
``torch.set_num_threads(n)`` and ``torch.set_num_interop_threads(n)``, every worker
``OMP_NUM_THREADS = MKL_NUM_THREADS = OPENBLAS_NUM_THREADS = n`` and ``OMP_WAIT_POLICY=PASSIVE``
(``--omp-wait-policy``: PyTorch's OpenMP threads otherwise spin while they wait, and on a machine
whose cores are shared with other processes that made a CBL inference call ~50× slower with 2
threads than with 1), and JAX, which has no
thread-count setting, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=true`` (its default) with its
thread pool sized by XLA from the number of CPUs the process may run on, i.e. the affinity.
Each worker builds the workload's model, converts the batch to its backend's tensors once and
makes ``--warmup`` calls (compilation, allocation; not timed). Then the parent asks the workers
in turn, over pipes, to time ``--calls`` calls each: one round is TensorFlow, JAX, PyTorch (the
order reversed every other round, so that a drift of the machine's load hits every backend alike).
The per-round ratio is time(backend) / time(TensorFlow) of that round; the table gives the
median and the interquartile range of those ratios over ``--rounds`` rounds, and the median
time per call.

Workloads (what one timed call is): see ``WORKLOADS``. Training steps are
``model.train_on_batch`` after ``model.compile_default(optimizer)`` (the contract's compile, as
``fit`` uses it) and inference is ``model.predict_on_batch``: Keras's own compiled functions with
``jit_compile="auto"``, i.e. ``tf.function`` without XLA on TensorFlow (auto turns XLA off on a
CPU-only machine), ``jax.jit`` (XLA) on JAX, eager on PyTorch; each worker reports the
``model.jit_compile`` it got. Both return NumPy values, so a timed call includes the computation.

``--write-docs`` replaces the section "Backends on this CPU" of ``docs/benchmarks.md`` with the
table, the machine, the date, the versions, the load average and this command.
"""
from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _backend import BACKENDS, version

LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
SECTION = "Backends on this CPU"

#: name → (registry entry, batch, call, optimizer learning rate (recipe), what one call is)
WORKLOADS: dict[str, dict[str, Any]] = {
    "gncn-train": {
        "model": "gncn-pdh-mnist5k", "batch": 512, "call": "train", "lr": 1e-3,
        "what": "`model.train_on_batch(x)`: GNCN-PDH 784-360-360-360 (Σ, learned E, lateral V), K = 50 "
                "settling steps, the local updates (eqs. 17–19, 8), Adam, re-projection; x: 512 × 784 binary",
    },
    "cbl-infer": {
        "model": "cbl-cnn-cifar10", "batch": 128, "call": "predict",
        "what": "`model.predict_on_batch(x)`: CBL StandardCNN, T = 2 refinement steps; x: 128 × 32 × 32 × 3",
    },
    "cbl-train": {
        "model": "cbl-cnn-cifar10", "batch": 128, "call": "train", "lr": 1e-3,
        "what": "`model.train_on_batch(x, y)`: CBL StandardCNN, BPTT through T = 2 (eq. 9), Adam; "
                "x: 128 × 32 × 32 × 3",
    },
    "butd-train": {
        "model": "butd-multimnist5k", "batch": 128, "call": "train", "lr": 5e-4,
        "what": "`model.train_on_batch((image, task), y)`: BU-TD Counter-Hebb step (symmetric mode), Adam; "
                "image: 128 × 28 × 28 × 1, task ∈ {0, 1}",
    },
}
SMOKE = {"gncn-train": {"batch": 8, "iterations": 3}, "cbl-infer": {"batch": 4}, "cbl-train": {"batch": 4},
         "butd-train": {"batch": 4}}


# ---------------------------------------------------------------------------- worker process
def _pin(backend: str, threads: int, omp_wait_policy: str) -> dict[str, Any]:
    """Environment and thread settings of a worker, before its backend is imported."""
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    os.sched_setaffinity(0, cpus)
    os.environ["KERAS_BACKEND"] = backend
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = omp_wait_policy
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=true"
    settings: dict[str, Any] = {"cpus": cpus, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "unset")}
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        settings.update(intra_op=tf.config.threading.get_intra_op_parallelism_threads(),
                        inter_op=tf.config.threading.get_inter_op_parallelism_threads())
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
        settings.update(intra_op=torch.get_num_threads(), inter_op=torch.get_num_interop_threads())
    else:
        settings.update(XLA_FLAGS=os.environ["XLA_FLAGS"])
    return settings


def _make_call(name: str, smoke: bool) -> tuple[Any, dict[str, Any]]:
    """(the timed call, facts about it) for workload ``name`` in this worker's backend."""
    import keras
    import numpy as np

    import topdown_zoo as tz

    w = {**WORKLOADS[name], **(SMOKE[name] if smoke else {})}
    # weights unseeded: keras.utils.set_random_seed would import TensorFlow into every worker
    model = tz.create(w["model"], **({"iterations": w["iterations"]} if "iterations" in w else {}))
    rng = np.random.default_rng(0)
    arrays = keras.tree.flatten(model.example_inputs(w["batch"], seed=0))
    if w["model"].startswith("gncn"):
        arrays = [(a > 0.5).astype("float32") for a in arrays]  # binary images, as mnist5k_binary
    x = model.pack_inputs([keras.ops.convert_to_tensor(a) for a in arrays])
    y = keras.ops.convert_to_tensor(rng.integers(0, 10, w["batch"]).astype("int32"))
    if w["call"] == "predict":
        return (lambda: model.predict_on_batch(x)), {"jit_compile": model.jit_compile}
    model.compile_default(keras.optimizers.Adam(w["lr"]))
    target = None if model.prediction_kind == "reconstruction" else y
    return (lambda: model.train_on_batch(x, target)), {"jit_compile": model.jit_compile}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:160]


def worker(backend: str, threads: int, omp_wait_policy: str, smoke: bool, conn: Any) -> None:
    """Serve the parent's requests: ("info",), ("setup", name, warmup), ("time", name, calls), ("stop",)."""
    settings = _pin(backend, threads, omp_wait_policy)
    calls: dict[str, Any] = {}
    while True:
        request = conn.recv()
        try:
            if request[0] == "stop":
                return
            if request[0] == "info":
                import keras

                conn.send(("ok", {**settings, "backend": keras.backend.backend()}))
            elif request[0] == "setup":
                _, name, warmup = request
                call, facts = _make_call(name, smoke)
                start = time.perf_counter()
                for _ in range(warmup):
                    call()
                calls[name] = call
                conn.send(("ok", {**facts, "warmup_s": time.perf_counter() - start}))
            elif request[0] == "time":
                _, name, n = request
                call = calls[name]
                start = time.perf_counter()
                for _ in range(n):
                    call()
                conn.send(("ok", (time.perf_counter() - start) / n))
        except Exception as err:  # reported in the table, never fatal
            conn.send(("error", _first_line(err)))


# ---------------------------------------------------------------------------- parent process
class Worker:
    """One backend's worker process and its pipe."""

    def __init__(self, backend: str, threads: int, omp_wait_policy: str, smoke: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.backend = backend
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker, args=(backend, threads, omp_wait_policy, smoke, child), daemon=True)
        self.process.start()
        child.close()
        self.dead: str | None = None

    def ask(self, *request: Any) -> tuple[str, Any]:
        if self.dead:
            return "error", self.dead
        try:
            self.conn.send(request)
            return self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.process.join(5)
            self.dead = f"worker process exited (code {self.process.exitcode})"
            return "error", self.dead

    def stop(self) -> None:
        if not self.dead:
            try:
                self.conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
        self.process.join(30)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def measure(workers: dict[str, Worker], name: str, rounds: int, calls: int, warmup: int) -> dict[str, Any]:
    """Set the workload up in every worker, then interleaved rounds; per backend: times, ratios or error."""
    result: dict[str, Any] = {"name": name, "facts": {}, "error": {}, "times": {b: [] for b in workers}}
    for backend, w in workers.items():
        status, value = w.ask("setup", name, warmup)
        if status == "ok":
            result["facts"][backend] = value
        else:
            result["error"][backend] = value
        print(f"  {name} on {backend}: {'ready' if status == 'ok' else value}", file=sys.stderr, flush=True)
    order = [b for b in workers if b not in result["error"]]
    for r in range(rounds):
        for backend in (order if r % 2 == 0 else order[::-1]):
            if backend in result["error"]:
                continue
            status, value = workers[backend].ask("time", name, calls)
            if status == "ok":
                result["times"][backend].append(value)
            else:
                result["error"][backend] = value
    times = result["times"]
    result["ratios"] = {}
    if "tensorflow" not in result["error"]:
        for backend in workers:
            if backend != "tensorflow" and backend not in result["error"]:
                result["ratios"][backend] = [t / tf for t, tf in zip(times[backend], times["tensorflow"])]
    return result


def _ms(times: list[float]) -> str:
    return f"{1e3 * statistics.median(times):.1f} ms"


def cells(result: dict[str, Any], backends: list[str]) -> list[str]:
    """Table cells of one workload: TensorFlow time, then each other backend's ratio, the fastest."""
    row = []
    for backend in backends:
        if backend in result["error"]:
            row.append(f"fails: {result['error'][backend]}")
        elif backend == "tensorflow":
            row.append(_ms(result["times"][backend]))
        elif backend not in result["ratios"]:
            row.append(f"{_ms(result['times'][backend])} (no ratio: TensorFlow fails)")
        else:
            q1, q2, q3 = _quartiles(result["ratios"][backend])
            row.append(f"**{q2:.2f}** [{q1:.2f}–{q3:.2f}] ({_ms(result['times'][backend])})")
    medians = {b: statistics.median(result["ratios"][b]) for b in result["ratios"]}
    if "tensorflow" not in result["error"]:
        medians["tensorflow"] = 1.0
    row.append(LABELS[min(medians, key=medians.get)] if medians else "—")
    return row


def table(results: list[dict[str, Any]], backends: list[str]) -> str:
    header = ["workload"] + [f"{LABELS[b]} ms/call" if b == "tensorflow" else f"{LABELS[b]} ÷ TensorFlow"
                             for b in backends] + ["fastest"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        lines.append("| " + " | ".join([r["name"]] + cells(r, backends)) + " |")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    return f"{model}, {fields.get('CPU(s)', '?').strip()} CPU(s) (lscpu)"


def versions() -> str:
    tf = version("tensorflow") if version("tensorflow") != "absent" else version("tensorflow-cpu")
    return (f"keras {version('keras')}, tensorflow {tf}, jax {version('jax')} (jaxlib {version('jaxlib')}), "
            f"torch {version('torch')}, Python {sys.version.split()[0]}")


def report(results: list[dict[str, Any]], backends: list[str], args: argparse.Namespace, info: dict[str, Any],
           loads: tuple[tuple[float, ...], tuple[float, ...]], command: str) -> str:
    """The markdown of the section (without its heading)."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    start, end = loads
    lines = [
        table(results, backends), "",
        "Method: each backend in its own worker process (same threads, below); warm-up calls not timed; then "
        "rounds in which the parent asks each worker in turn to time its calls (order reversed every other round); "
        "the ratio is taken per round, so a change of the machine's load during the run hits both sides of it "
        "(details: the docstring of `benchmarks/backends.py`).", "",
        "Cells: median per-round ratio time(backend) / time(TensorFlow) in bold (< 1: faster than TensorFlow), "
        "its interquartile range in brackets, the median time per call in parentheses. "
        f"{args.rounds} rounds × {args.calls} calls per backend, after {args.warmup} warm-up calls.", "",
        "What one call is" + (" (--smoke: the batches and steps of `SMOKE` instead)" if args.smoke else "") + ":",
        "",
    ]
    for r in results:
        jit = ", ".join(f"{LABELS[b]} {f['jit_compile']}" for b, f in r["facts"].items())
        lines.append(f"* **{r['name']}** — `tz.create(\"{WORKLOADS[r['name']]['model']}\")`; "
                     f"{WORKLOADS[r['name']]['what']}. `model.jit_compile`: {jit or 'n/a'}.")
    threads = "; ".join(f"{LABELS[b]}: " + ", ".join(f"{k} {v}" for k, v in i.items() if k != "backend")
                        for b, i in info.items())
    lines += [
        "",
        f"* Machine: {cpu_model()}; load average (1, 5, 15 min) {start[0]:.2f}, {start[1]:.2f}, {start[2]:.2f} "
        f"at the start, {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f} at the end"
        + (" (the machine was busy: other processes shared the cores)" if max(start[0], end[0]) >= 2.5 else "")
        + ".",
        f"* Threads: each backend in its own process; {threads}.",
        f"* Date: {when}. Versions: {versions()}.",
        f"* Command: `{command}`",
    ]
    return "\n".join(lines)


def write_docs(body: str, path: Path = DOCS) -> None:
    """Replace (or add) the section "Backends on this CPU" of ``docs/benchmarks.md``."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {SECTION}\n\n{body}\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=2, help="timed calls per backend and round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls after building")
    parser.add_argument("--threads", type=int, default=2, help="cores and intra-op threads of every backend")
    parser.add_argument("--omp-wait-policy", choices=("PASSIVE", "ACTIVE", "default"), default="PASSIVE",
                        help="OMP_WAIT_POLICY of every worker ('default': left unset)")
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="tensorflow is the reference of the ratios")
    parser.add_argument("--write-docs", action="store_true", help=f"update the section '{SECTION}' of {DOCS}")
    parser.add_argument("--smoke", action="store_true", help="tiny batches, to test the machinery")
    args = parser.parse_args(argv)
    if args.smoke and args.write_docs:
        parser.error("--smoke results are not written to the docs")
    if args.threads > len(os.sched_getaffinity(0)):
        parser.error(f"--threads {args.threads}: only {len(os.sched_getaffinity(0))} CPUs are available")
    backends = [b for b in BACKENDS if b in args.backends]
    command = "python benchmarks/backends.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load_start = os.getloadavg()
    workers = {b: Worker(b, args.threads, args.omp_wait_policy, args.smoke) for b in backends}
    try:
        info = {}
        for b, w in workers.items():
            status, value = w.ask("info")
            info[b] = value if status == "ok" else {"error": value}
        results = [measure(workers, name, args.rounds, args.calls, args.warmup) for name in args.workloads]
    finally:
        for w in workers.values():
            w.stop()
    body = report(results, backends, args, info, (load_start, os.getloadavg()), command.strip())
    print(body)
    if args.write_docs:
        write_docs(body)
        print(f"\nwrote the section '{SECTION}' of {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The one way the scripts in ``benchmarks/`` measure: interleaved rounds of pinned worker processes.

A comparison (:class:`Comparison`) has sides (:class:`Side`); each side names the worker process
it runs in (:class:`WorkerSpec`) and a factory, ``"module:function"`` in ``benchmarks/``, that
builds the call to time inside that worker. :func:`compare` measures it:

1. **Workers.** Each worker is its own process (``python benchmarks/_harness.py --worker``), so
   two runtimes never share a process or fight over thread pools (Keras vs ONNX Runtime, our
   model vs a peer library). Every worker is pinned alike before it imports anything heavy: CPU
   affinity to the first ``--threads`` CPUs this process may use (``os.sched_setaffinity``);
   ``OMP_NUM_THREADS = MKL_NUM_THREADS = OPENBLAS_NUM_THREADS = threads`` and
   ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads sleep instead of spinning while they wait);
   TensorFlow ``tf.config.threading`` intra-op ``threads``, inter-op 1; PyTorch
   ``torch.set_num_threads(threads)``, ``torch.set_num_interop_threads(1)``; JAX has no thread
   setting: XLA sizes its pool from the affinity; ONNX Runtime sessions take
   ``intra_op_num_threads = threads()`` and ``inter_op_num_threads = 1`` from the factory. A worker may
   run another interpreter (``WorkerSpec.python``: a peer library in its own virtual environment).
2. **Setup.** Each side's factory is called with its kwargs in its worker; it returns the call
   (or ``(call, facts)``). The call must return only once its computation is done (NumPy out,
   or a value read back to the host). Nothing is timed here.
3. **Warm-up rounds** (``--warmup-rounds``): full interleaved rounds whose times are discarded
   (tracing, XLA compilation, allocation, caches).
4. **Timed rounds** (``--rounds``): the parent asks the sides in turn to time ``--calls``
   back-to-back calls: A, B, C … in even rounds, … C, B, A in odd rounds, with an idle ``--gap``
   before each side (a thread pool that spins after its last call, e.g. ONNX Runtime's default,
   does not take the cores of the next side).
5. **Statistics.** Per side: the median and interquartile range (IQR) of its per-round time per
   call. Per ratio B / A: the ratio t_B / t_A of the *same* round (a drift of the machine's load
   hits both), its median and IQR over the rounds. Per worker: its peak resident memory
   (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the last round, and how much of it came
   after start-up (the interpreter, and Keras with its backend in a Keras worker).

This module imports only the standard library, so a worker can run in any interpreter.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DOCS = ROOT / "docs" / "benchmarks.md"
BACKENDS = ("tensorflow", "jax", "torch")
PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "onnxruntime", "numpy", "fabricpc", "pcx")
SETUP_TIMEOUT_S = 3600.0
CALL_TIMEOUT_S = 3600.0
QUIET_LOAD = 0.5  # without /proc/stat: a load average per available CPU above this marks a busy machine
OTHERS_BUSY_SHARE = 0.10  # other processes' share of the machine's CPU time above this marks a busy machine


# ============================================================================ what is measured
@dataclass(frozen=True)
class WorkerSpec:
    """A worker process: ``backend`` is its Keras backend (None: Keras is not used in it, e.g. ONNX
    Runtime or a peer library), ``python`` its interpreter (default: this one)."""

    key: str
    backend: str | None = "tensorflow"
    python: str | None = None


@dataclass(frozen=True)
class Side:
    """One thing timed: ``factory(**kwargs)`` in worker ``worker`` builds the call; ``items``:
    examples per call (for examples/s); ``what``: what the call is, in a few words."""

    label: str
    worker: WorkerSpec
    factory: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    what: str = ""
    items: int | None = None


@dataclass(frozen=True)
class Comparison:
    """Sides timed in the same interleaved rounds. ``what``: one line saying exactly what is timed
    (the call, batch, sizes, what is included and excluded). ``ratios``: (B, A) label pairs whose
    per-round t_B / t_A is reported (default: every side against the first)."""

    title: str
    what: str
    sides: Sequence[Side]
    ratios: Sequence[tuple[str, str]] | None = None
    notes: Sequence[str] = ()


@dataclass
class Settings:
    threads: int = 2
    rounds: int = 12
    warmup_rounds: int = 2
    calls: int = 2
    gap: float = 0.05
    quick: bool = False
    backend: str = "tensorflow"

    @property
    def cpus(self) -> list[int]:
        return sorted(os.sched_getaffinity(0))[: self.threads]


# ============================================================================ worker process
def threads() -> int:
    """The thread count this worker is pinned to (for ONNX Runtime session options)."""
    return int(os.environ.get("BENCH_THREADS", "1"))


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (``ru_maxrss`` is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pin_backend(backend: str | None, n: int) -> dict[str, Any]:
    """Thread settings of the worker's Keras backend, applied before keras is imported."""
    settings: dict[str, Any] = {"cpus": sorted(os.sched_getaffinity(0)), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                                "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY")}
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        settings.update(intra_op=tf.config.threading.get_intra_op_parallelism_threads(),
                        inter_op=tf.config.threading.get_inter_op_parallelism_threads())
    elif backend == "torch":
        import torch

        torch.set_num_threads(n)
        torch.set_num_interop_threads(1)
        settings.update(intra_op=torch.get_num_threads(), inter_op=torch.get_num_interop_threads())
    elif backend == "jax":
        settings.update(xla="thread pool sized from the CPU affinity")
    if backend:
        import keras

        settings["keras_backend"] = keras.backend.backend()
    return settings


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:200]


def _serve(spec: dict[str, Any]) -> None:
    """The worker's loop: JSON requests on stdin, one JSON reply line each on the original stdout."""
    os.sched_setaffinity(0, spec["cpus"])
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to the worker's log, not into the protocol
    sys.stdout = sys.stderr

    def reply(**message: Any) -> None:
        out.write(json.dumps(message) + "\n")

    try:
        settings = _pin_backend(spec["backend"], int(spec["threads"]))
    except Exception as err:  # reported on the first request
        traceback.print_exc()
        settings = {"error": _first_line(err)}
    settings["rss_after_import_mib"] = round(peak_rss_mib(), 1)
    calls: dict[str, Callable[[], Any]] = {}
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "stop":
            return
        try:
            if "error" in settings:
                raise RuntimeError(f"worker setup failed: {settings['error']}")
            if op == "setup":
                module, _, name = request["factory"].partition(":")
                made = getattr(importlib.import_module(module), name)(**request["kwargs"])
                call, facts = made if isinstance(made, tuple) else (made, {})
                calls[request["side"]] = call
                reply(ok=True, facts=facts)
            elif op == "time":
                call, n = calls[request["side"]], int(request["calls"])
                start = time.perf_counter()
                for _ in range(n):
                    call()
                reply(ok=True, seconds=(time.perf_counter() - start) / n)
            elif op == "info":
                reply(ok=True, settings=settings, peak_rss_mib=peak_rss_mib(), versions=versions(),
                      python=sys.version.split()[0])
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as err:  # reported in the results, never fatal to the run
            traceback.print_exc()
            reply(ok=False, error=_first_line(err))


# ============================================================================ parent side
class WorkerError(RuntimeError):
    pass


class _Worker:
    """A started worker process and its pipes."""

    def __init__(self, spec: WorkerSpec, settings: Settings, log_dir: Path) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', spec.key)}.log"
        env = dict(os.environ)
        n = str(settings.threads)
        env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, OMP_WAIT_POLICY="PASSIVE",
                   BENCH_THREADS=n, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS=env.get("JAX_PLATFORMS", "cpu"),
                   PYTHONPATH=os.pathsep.join([str(BENCH_DIR), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])))
        if spec.backend:
            env["KERAS_BACKEND"] = spec.backend
        payload = json.dumps({"cpus": settings.cpus, "threads": settings.threads, "backend": spec.backend})
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([spec.python or sys.executable, str(Path(__file__).resolve()), "--worker", payload],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=env)
        self.buffer = b""
        self.dead: str | None = None

    def _log_tail(self) -> str:
        try:
            lines = [x for x in self.log_path.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            return ""
        return f" (log: {lines[-1][:200]})" if lines else ""

    def ask(self, timeout: float, **request: Any) -> dict[str, Any]:
        if self.dead:
            raise WorkerError(self.dead)
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            fd, deadline = self.process.stdout.fileno(), time.monotonic() + timeout
            while b"\n" not in self.buffer:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    self.process.kill()
                    raise TimeoutError(f"no answer in {timeout:.0f} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError(f"worker process exited (code {self.process.wait(10)})")
                self.buffer += chunk
        except (OSError, EOFError, TimeoutError) as err:
            self.dead = f"{err}{self._log_tail()}"
            raise WorkerError(self.dead) from err
        line, _, self.buffer = self.buffer.partition(b"\n")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise WorkerError(answer.get("error", "unknown error"))
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(b'{"op": "stop"}\n')
                self.process.stdin.close()
                self.process.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) (inclusive method; one value: itself thrice)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def compare(comparison: Comparison, settings: Settings, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure ``comparison`` (module docstring); returns a JSON-ready dict (see :func:`render`)."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    labels = [s.label for s in comparison.sides]
    if len(set(labels)) != len(labels):
        raise ValueError(f"side labels repeat in {comparison.title!r}: {labels}")
    errors: dict[str, str] = {}
    facts: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {s.label: [] for s in comparison.sides}
    schedule: list[list[str]] = []
    workers: dict[str, _Worker] = {}
    info: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as log_dir:
        try:
            for side in comparison.sides:  # all processes start (and import) at once
                if side.worker.key not in workers:
                    workers[side.worker.key] = _Worker(side.worker, settings, Path(log_dir))
            for side in comparison.sides:  # setups in side order: a side may use what an earlier one wrote
                try:
                    facts[side.label] = workers[side.worker.key].ask(SETUP_TIMEOUT_S, op="setup", side=side.label,
                                                                       factory=side.factory, kwargs=side.kwargs)["facts"]
                    log(f"  {comparison.title}: {side.label} ready")
                except WorkerError as err:
                    errors[side.label] = str(err)
                    log(f"  {comparison.title}: {side.label} skipped: {err}")
            live = [s for s in comparison.sides if s.label not in errors]
            for r in range(settings.warmup_rounds + settings.rounds):
                order = live if r % 2 == 0 else live[::-1]
                done = []
                for side in order:
                    if side.label in errors:
                        continue
                    time.sleep(settings.gap)
                    try:
                        seconds = workers[side.worker.key].ask(CALL_TIMEOUT_S, op="time", side=side.label,
                                                               calls=settings.calls)["seconds"]
                    except WorkerError as err:
                        errors[side.label] = str(err)
                        continue
                    done.append(side.label)
                    if r >= settings.warmup_rounds:
                        times[side.label].append(seconds)
                if r >= settings.warmup_rounds:
                    schedule.append(done)
            for key, worker in workers.items():
                try:
                    answer = worker.ask(60.0, op="info")
                    info[key] = {k: answer[k] for k in ("settings", "peak_rss_mib", "versions", "python")}
                except WorkerError as err:
                    info[key] = {"error": str(err)}
        finally:
            for worker in workers.values():
                worker.stop()
    return _summary(comparison, settings, times, errors, facts, schedule, info)


def _summary(comparison: Comparison, settings: Settings, times: dict[str, list[float]], errors: dict[str, str],
             facts: dict[str, dict[str, Any]], schedule: list[list[str]], info: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sides = []
    for side in comparison.sides:
        entry: dict[str, Any] = {"label": side.label, "worker": side.worker.key, "backend": side.worker.backend,
                                 "what": side.what, "items": side.items, "facts": facts.get(side.label, {}),
                                 "peak_rss_mib": info.get(side.worker.key, {}).get("peak_rss_mib"),
                                 "rss_after_import_mib": info.get(side.worker.key, {}).get("settings", {}).get("rss_after_import_mib")}
        if side.label in errors:
            entry["error"] = errors[side.label]
        if times[side.label] and side.label not in errors:
            q1, q2, q3 = quartiles(times[side.label])
            entry.update(times_s=times[side.label], median_s=q2, q1_s=q1, q3_s=q3)
        sides.append(entry)
    pairs = comparison.ratios or [(s.label, comparison.sides[0].label) for s in comparison.sides[1:]]
    ratios = []
    for b, a in pairs:
        entry = {"numerator": b, "denominator": a}
        missing = [x for x in (b, a) if x in errors or not times[x]]
        if missing:
            entry["error"] = ", ".join(f"{x} {'skipped' if x in errors else 'not timed'}" for x in missing)
        else:
            values = [tb / ta for tb, ta in zip(times[b], times[a])]
            q1, q2, q3 = quartiles(values)
            entry.update(values=values, median=q2, q1=q1, q3=q3)
        ratios.append(entry)
    return {"title": comparison.title, "what": comparison.what, "notes": list(comparison.notes), "sides": sides,
            "ratios": ratios, "workers": info, "schedule": schedule, "settings": asdict(settings)}


# ============================================================================ reporting
def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def render(result: dict[str, Any]) -> str:
    """Markdown of one comparison: what is timed, a table of sides, a table of ratios, notes."""
    lines = [f"### {result['title']}", "", f"Timed: {result['what']}", "",
             "| side | process · Keras backend | time per call: median [IQR] | examples/s | peak RSS of its process |",
             "|---|---|---|---|---|"]
    for s in result["sides"]:
        rss = f"{s['peak_rss_mib']:.0f} MiB" if s.get("peak_rss_mib") else "—"
        if s.get("peak_rss_mib") and s.get("rss_after_import_mib"):
            rss += f" (+{s['peak_rss_mib'] - s['rss_after_import_mib']:.0f} over start-up)"
        label = f"{s['label']}" + (f" — {s['what']}" if s["what"] else "")
        if "median_s" in s:
            cell = f"{_ms(s['median_s'])} [{_ms(s['q1_s'])}–{_ms(s['q3_s'])}]"
            rate = f"{s['items'] / s['median_s']:.4g}" if s.get("items") else "—"
        else:
            cell, rate = f"skipped: {s.get('error', 'not timed')}", "—"
        shared = sum(o["worker"] == s["worker"] for o in result["sides"]) > 1
        where = f"{s['worker'] if shared else 'own'} · {s['backend'] or 'no Keras'}"
        lines.append(f"| {label} | {where} | {cell} | {rate} | {rss} |")
    if result["ratios"]:
        lines += ["", "| time ratio (< 1: the first is faster) | median | IQR | rounds |", "|---|---|---|---|"]
        for r in result["ratios"]:
            name = f"{r['numerator']} / {r['denominator']}"
            if "error" in r:
                lines.append(f"| {name} | — | skipped: {r['error']} | 0 |")
            else:
                lines.append(f"| {name} | **{r['median']:.3f}** | {r['q1']:.3f}–{r['q3']:.3f} | {len(r['values'])} |")
    facts = [f"{s['label']}: " + ", ".join(f"{k} {v}" for k, v in s["facts"].items()) for s in result["sides"] if s.get("facts")]
    if result["notes"] or facts:
        lines += [""] + [f"* {note}" for note in result["notes"]]
    if facts:
        lines.append("* Facts the workers reported — " + "; ".join(facts) + ".")
    return "\n".join(lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def versions() -> dict[str, str]:
    """Installed versions of the packages benchmarks touch (importlib.metadata: nothing is imported)."""
    out = {}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def cpu_seconds() -> tuple[float | None, float]:
    """(busy CPU-seconds of the whole machine so far, from /proc/stat, or None where it cannot be
    read; CPU-seconds of this process and of its finished, reaped children, i.e. the benchmark's
    own workers)."""
    import resource

    own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
        busy: float | None = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = None
    return busy, own


def others_share(start: tuple[float | None, float], end: tuple[float | None, float], seconds: float) -> float | None:
    """The share of the machine's CPU time that processes other than this benchmark (and its
    workers) used between ``start`` and ``end`` (:func:`cpu_seconds`), or None without /proc/stat."""
    if start[0] is None or end[0] is None or seconds <= 0:
        return None
    others = max(0.0, (end[0] - start[0]) - (end[1] - start[1]))
    return others / (seconds * (os.cpu_count() or 1))


def machine(load_start: Sequence[float], load_end: Sequence[float], others: float | None = None) -> dict[str, Any]:
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "cpus_available": len(os.sched_getaffinity(0)),
            "load_start": list(load_start), "load_end": list(load_end), "others_cpu_share": others,
            "versions": versions(), "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def method_line(settings: Settings) -> str:
    return (f"Method (`benchmarks/_harness.py`): each worker its own process, pinned to {settings.threads} CPU(s) "
            f"and {settings.threads} intra-op thread(s), inter-op 1; {settings.warmup_rounds} warm-up round(s) discarded, then "
            f"{settings.rounds} rounds of {settings.calls} call(s) per side, the order reversed every other round; ratios are "
            "taken within a round; IQR = interquartile range over the rounds.")


def machine_line(m: dict[str, Any], command: str) -> str:
    a, b = m["load_start"], m["load_end"]
    share = m.get("others_cpu_share")
    if share is None:  # no /proc/stat: the load average (which also counts the benchmark's own workers)
        busy = max(a[0], b[0]) > QUIET_LOAD * m["cpus_available"]
        others = ""
    else:
        busy = share > OTHERS_BUSY_SHARE
        others = f"; other processes used {100 * share:.1f} % of the machine's CPU time during the run"
    v = ", ".join(f"{k} {x}" for k, x in m["versions"].items())
    return (f"Machine: {m['cpu']}, {m['cpus']} CPU(s) ({m['cpus_available']} available); load average (1, 5, 15 min) "
            f"{a[0]:.2f}, {a[1]:.2f}, {a[2]:.2f} at the start, {b[0]:.2f}, {b[1]:.2f}, {b[2]:.2f} at the end "
            f"(the benchmark's own workers included){others}"
            + (" — **a busy machine: other processes shared the cores**" if busy else "")
            + f". {m['date']}; Python {m['python']}; {v}. Command: `{command}`")


# ============================================================================ scripts
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark script takes."""
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 12; --quick: 2)")
    parser.add_argument("--warmup-rounds", type=int, default=None, help="discarded rounds first (default 2; --quick: 1)")
    parser.add_argument("--calls", type=int, default=None, help="back-to-back calls per side and round (default 2; --quick: 1)")
    parser.add_argument("--threads", type=int, default=2, help="CPUs and intra-op threads of every worker")
    parser.add_argument("--gap", type=float, default=0.05, help="idle seconds before each side's calls")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend of the Keras workers (default: $KERAS_BACKEND or tensorflow)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: tests the machinery, numbers mean nothing")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--write-docs", action="store_true", help=f"replace this script's section of {DOCS.relative_to(ROOT)}")


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Settings:
    if args.quick and args.write_docs:
        parser.error("--quick results are not written to the docs")
    if not 1 <= args.threads <= len(os.sched_getaffinity(0)):
        parser.error(f"--threads {args.threads}: 1 to {len(os.sched_getaffinity(0))} CPUs are available")
    quick = bool(args.quick)
    s = Settings(threads=args.threads, rounds=args.rounds or (2 if quick else 12),
                 warmup_rounds=args.warmup_rounds if args.warmup_rounds is not None else (1 if quick else 2),
                 calls=args.calls or (1 if quick else 2), gap=args.gap, quick=quick,
                 backend=args.backend or os.environ.get("KERAS_BACKEND") or "tensorflow")
    if s.rounds < 1 or s.calls < 1 or s.warmup_rounds < 0 or s.gap < 0:
        parser.error("--rounds and --calls must be ≥ 1, --warmup-rounds and --gap ≥ 0")
    return s


@dataclass
class Section:
    """What a script measured: the docs section ``title`` and its markdown, and the raw results."""

    title: str
    markdown: str
    results: list[dict[str, Any]]
    machine: dict[str, Any]


def script_main(argv: Sequence[str] | None, *, title: str | Callable[[argparse.Namespace], str], description: str,
                script: str,
                add_script_arguments: Callable[[argparse.ArgumentParser], None],
                comparisons: Callable[[argparse.Namespace, Settings], list[Comparison]],
                postprocess: Callable[[dict[str, Any]], None] | None = None) -> Section:
    """Parse the options, measure every comparison, print the section (and write it with --write-docs).
    ``title`` may be a function of the parsed options (a run with other options gets its own section)."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    add_arguments(parser)
    add_script_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    heading = title(args) if callable(title) else title
    settings = settings_from(args, parser)
    load_start, cpu_start, wall_start = os.getloadavg(), cpu_seconds(), time.monotonic()
    results = []
    for comparison in comparisons(args, settings):
        result = compare(comparison, settings)
        if postprocess:
            postprocess(result)
        results.append(result)
        print(render(result) + "\n", flush=True)
    m = machine(load_start, os.getloadavg(), others_share(cpu_start, cpu_seconds(), time.monotonic() - wall_start))
    command = " ".join(["python", f"benchmarks/{script}", *argv])
    summary = "\n".join(description.strip().splitlines()[1:]).strip()
    body = "\n\n".join([summary, *(render(r) for r in results), method_line(settings), machine_line(m, command)])
    section = Section(heading, body, results, m)
    print(method_line(settings) + "\n\n" + machine_line(m, command), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"title": heading, "results": results, "machine": m}, indent=1))
    if args.write_docs:
        write_section(heading, body)
        print(f"wrote the section '{heading}' of {DOCS}", file=sys.stderr)
    return section


def write_section(title: str, body: str, path: Path = DOCS) -> None:
    """Replace the section ``## title`` of ``path`` (up to the next ``## ``), or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _serve(json.loads(sys.argv[2]))
    else:
        raise SystemExit("usage: _harness.py --worker SPEC (started by benchmarks/_harness.py itself)")

"""The benchmark harness (benchmarks/_harness.py) and `run_all.py --quick`: structure, never timings."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _harness as h  # noqa: E402

FACTORIES = textwrap.dedent('''
    import os, time

    def spin(seconds):
        def call():
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
        return call, {"seconds": seconds}

    def broken():
        raise RuntimeError("this side cannot be built")

    def dies_on_third_call():
        calls = []
        def call():
            calls.append(1)
            if len(calls) == 3:
                os._exit(3)  # the worker process really dies mid-run
        return call
''')


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "bench_factories.py").write_text(FACTORIES)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the harness adds benchmarks/ and the repo root to it
    return "bench_factories"


def test_sides_interleave_in_alternating_order_with_ratio_statistics_and_peak_rss(factories):
    a, b = h.WorkerSpec("a", backend=None), h.WorkerSpec("b", backend=None)
    comparison = h.Comparison("spin", "a busy loop", [h.Side("A", a, f"{factories}:spin", {"seconds": 0.002}, items=1),
                                                      h.Side("B", b, f"{factories}:spin", {"seconds": 0.004})])
    result = h.compare(comparison, h.Settings(rounds=4, warmup_rounds=1, calls=2, gap=0.0), log=lambda _: None)
    assert result["schedule"] == [["B", "A"], ["A", "B"], ["B", "A"], ["A", "B"]]  # warm-up round 0 (A, B) discarded
    for side in result["sides"]:
        assert len(side["times_s"]) == 4 and side["q1_s"] <= side["median_s"] <= side["q3_s"]
        assert side["peak_rss_mib"] > 1 and side["rss_after_import_mib"] > 1
    (ratio,) = result["ratios"]
    assert (ratio["numerator"], ratio["denominator"]) == ("B", "A") and len(ratio["values"]) == 4
    assert ratio["q1"] <= ratio["median"] <= ratio["q3"]
    assert result["workers"]["a"]["settings"]["cpus"] == h.Settings().cpus
    text = h.render(result)
    assert "median [IQR]" in text and "peak RSS" in text and "Timed: a busy loop" in text


def test_a_side_that_fails_to_build_or_whose_worker_dies_is_reported_and_the_others_still_run(factories):
    ok, bad, dying = (h.WorkerSpec(k, backend=None) for k in ("ok", "bad", "dying"))
    comparison = h.Comparison("faults", "faults", [h.Side("ok", ok, f"{factories}:spin", {"seconds": 0.001}),
                                                   h.Side("broken", bad, f"{factories}:broken"),
                                                   h.Side("dies", dying, f"{factories}:dies_on_third_call")])
    result = h.compare(comparison, h.Settings(rounds=3, warmup_rounds=1, calls=1, gap=0.0), log=lambda _: None)
    sides = {s["label"]: s for s in result["sides"]}
    assert len(sides["ok"]["times_s"]) == 3
    assert "cannot be built" in sides["broken"]["error"] and "times_s" not in sides["broken"]
    assert "exited (code 3)" in sides["dies"]["error"]
    assert [r.get("error") for r in result["ratios"]] == ["broken skipped", "dies skipped"]
    assert "skipped" in h.render(result)


def test_run_all_quick_measures_a_real_benchmark_and_reports_median_iqr_and_peak_rss(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--only", "butd_counter_hebb",
                           "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "median [IQR]" in proc.stdout and "peak RSS" in proc.stdout and "Machine: " in proc.stdout
    section = json.loads(out.read_text())["butd_counter_hebb"]
    (result,) = section["results"]
    assert "train_on_batch" in result["what"]
    assert {s["label"] for s in result["sides"]} == {"backprop", "Counter-Hebb"}
    for side in result["sides"]:
        assert side["median_s"] > 0 and side["q1_s"] <= side["median_s"] <= side["q3_s"] and side["peak_rss_mib"] > 100
        assert side["facts"]["backend"] == result["settings"]["backend"]
    (ratio,) = result["ratios"]
    assert ratio["numerator"] == "Counter-Hebb" and ratio["q1"] <= ratio["median"] <= ratio["q3"]
    assert len(section["machine"]["load_start"]) == 3 and section["machine"]["cpu"]


def test_others_share_is_the_machine_time_the_benchmark_did_not_use(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    # the machine was busy 60 CPU-s, the benchmark and its workers 30 of them, over 30 s on 2 CPUs
    assert h.others_share((100.0, 10.0), (160.0, 40.0), 30.0) == pytest.approx(0.5)
    assert h.others_share((100.0, 10.0), (120.0, 40.0), 30.0) == 0.0  # never negative
    assert h.others_share((None, 0.0), (None, 1.0), 30.0) is None


# others_share is None by design without /proc/stat (not Linux): nothing to measure there
@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")
def test_a_process_outside_the_benchmark_is_seen_as_another_process():
    # a real spinning process that is not reaped while measuring: its CPU time belongs to "others"
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        start, t0 = h.cpu_seconds(), time.monotonic()
        time.sleep(1.5)
        share = h.others_share(start, h.cpu_seconds(), time.monotonic() - t0)
    finally:
        spinner.kill()
        spinner.wait()
    # one busy CPU of os.cpu_count(): about 1 / cpus of the machine
    assert share is not None and share > 0.5 / (os.cpu_count() or 1)
    m = h.machine((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), others=share)
    assert "other processes used" in h.machine_line(m, "python x.py")


@pytest.mark.parametrize("precision", [False, True])
def test_products_alone_bound_does_every_counted_product_and_nothing_is_pruned(precision):
    """peers.py's lower bound: its states equal a NumPy hand unrolling of the same products, and
    its FLOP count is the predictions + error messages (+ PDH's Σ⁻¹e) of every step."""
    import numpy as np
    import peers

    batch, steps, hidden = 4, 3, [6, 5, 3]
    call, facts = peers.products_alone(batch, steps, hidden, precision=precision)
    got = call()
    dims = [784, *hidden]
    rng = np.random.default_rng(0)
    w = [rng.normal(0, 0.05, (dims[l + 1], dims[l])).astype("float32") for l in range(3)]
    x = peers._binary(batch).astype("float64")
    z = [np.zeros((batch, d)) for d in hidden]
    for _ in range(steps):  # Σ = I in the bound: Σ⁻¹e = e, the product is still done
        below = [x, *z]
        e = [below[l] - below[l + 1] @ w[l] for l in range(3)]
        z = [z[l] + 0.1 * (e[l] @ w[l].T - (e[l + 1] if l < 2 else 0.0)) for l in range(3)]
    for g, want in zip(got, z):
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-4, atol=1e-5)
    per_step = 4 * (784 * 6 + 6 * 5 + 5 * 3) + (2 * (36 + 25) if precision else 0)
    assert facts["flops"] == batch * steps * per_step


def test_onnx_profile_splits_kernel_time_by_operator_type():
    import onnx_profile

    result = onnx_profile.profile("standard-cnn-mnist5k", batch=2, threads=1, calls=2, loops="unrolled")
    assert "Conv" in result["ops"] and sum(result["ops"].values()) == pytest.approx(1.0)
    assert result["run_ms"] > 0
    assert "| Conv |" in onnx_profile.table("standard-cnn-mnist5k", result)


def test_export_latency_served_session_is_the_serve_examples_own(monkeypatch):
    """The "served" side times exactly what examples/serve_onnx.py serves with; "tuned" only stops spinning."""
    import export_latency

    monkeypatch.setenv("BENCH_THREADS", "2")
    assert export_latency.session_options("default") is None
    for kind, spinning in (("served", "1"), ("tuned", "0")):
        options = export_latency.session_options(kind)
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning

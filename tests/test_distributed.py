"""Several devices and machines (issue 15 item 5): the recipe runner trains with
``strategy=multi_worker_mirrored`` on two real worker processes on localhost (``TF_CONFIG``), and
with ``strategy=mirrored`` on JAX (``keras.distribution.DataParallel``) over two virtual CPU
devices, to the same weights as one worker / one device on the same global batch.

The recipe is GNCN (a local learning rule: the trainer, not autodiff, makes the updates) at its
registry test size, trained with plain SGD so that the size of every update shows in the weights
(Adam would normalise a wrongly scaled update away).

Tolerance: ``atol = 1e-5`` on the weights. Both runs see the same examples in every step; they
differ only by where the batch sum is split (per-replica partial sums, then an all-reduce), which
moves float32 results by ~1e-8 here. Faults this test was written against move them by ~1e-2:
each replica's batch-mean update applied once per replica (the all-reduce *sums*) doubled every
step, and a worker that trained on its own data alone would diverge from the other one.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ATOL = 1e-5
ENTRY = "gncn-t1-mnist5k"
#: the registry's test size, two smoke epochs of two steps, SGD
SETTINGS = ["overrides={hidden: [36, 36, 36], iterations: 3}", "smoke.epochs=2", "smoke.steps_per_epoch=2",
            "optimizer.name=sgd", "optimizer.learning_rate=0.1"]
PER_REPLICA_BATCH = 8

_TRAIN = textwrap.dedent("""
    import json, sys
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train
    entry, out, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    train(load_recipe(entry, settings), out, smoke=True, verbose=0)
""")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _launch(out: Path, settings: list[str], **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS")}
    environ.update({"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", **env})
    return subprocess.Popen([sys.executable, "-c", _TRAIN, ENTRY, str(out), json.dumps(settings)], cwd=ROOT,
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[str]:
    """Wait for every process; kill them all when one hangs (a lost worker blocks the others)."""
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail("a training process did not finish in time")
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    return outputs


def _weights(run: Path) -> dict[str, np.ndarray]:
    import keras

    import topdown_zoo.models.ngc.gncn  # noqa: F401  (registers the class for loading)

    model = keras.saving.load_model(run / "model.keras", compile=False)
    return _by_path(model)


def _by_path(model) -> dict[str, np.ndarray]:
    """Weights by path inside the model (without the model's own name, which a process numbers)."""
    import keras

    return {v.path.split("/", 1)[-1]: np.asarray(keras.ops.convert_to_numpy(v)) for v in model.weights}


def _losses(run: Path) -> np.ndarray:
    import csv

    with open(run / "history.csv") as handle:
        return np.array([float(row["loss"]) for row in csv.DictReader(handle)])


def test_two_workers_train_a_recipe_to_the_weights_of_one_worker_on_the_same_global_batch(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [tmp_path / "worker0", tmp_path / "worker1"]
    two = SETTINGS + ["strategy=multi_worker_mirrored", f"smoke.batch_size={PER_REPLICA_BATCH}"]
    procs = [_launch(run, two, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
             for i, run in enumerate(workers)]
    procs.append(_launch(tmp_path / "single", SETTINGS + [f"smoke.batch_size={2 * PER_REPLICA_BATCH}"]))
    _finish(procs, timeout=300)

    for run in workers:  # both workers trained to completion, as two replicas of one model
        assert json.loads((run / "metrics.json").read_text())["_run"]["replicas"] == 2
        assert (run / "hub" / "model.weights.h5").is_file()
    first, second, single = _weights(workers[0]), _weights(workers[1]), _weights(tmp_path / "single")
    assert first.keys() == single.keys()
    for path, value in first.items():
        np.testing.assert_array_equal(value, second[path], err_msg=f"{path}: the workers are out of sync")
        np.testing.assert_allclose(value, single[path], rtol=0, atol=ATOL, err_msg=path)
    init = _weights_at_init()
    moved = max(float(np.abs(single[p] - init[p]).max()) for p in single)
    assert moved > 100 * ATOL  # training moved the weights far more than the tolerance
    np.testing.assert_allclose(_losses(workers[0]), _losses(tmp_path / "single"), rtol=1e-5)


def _weights_at_init() -> dict[str, np.ndarray]:
    import keras

    import topdown_zoo as tz

    keras.utils.set_random_seed(0)
    return _by_path(tz.create(ENTRY, hidden=[36, 36, 36], iterations=3))


_JAX_DATA_PARALLEL = textwrap.dedent("""
    import json, sys
    import keras
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train
    entry, out, settings, batch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    devices = keras.distribution.list_devices()
    two = train(load_recipe(entry, settings + ["strategy=mirrored", f"smoke.batch_size={batch}"]), out + "/two",
                smoke=True, verbose=0)
    one = train(load_recipe(entry, settings + [f"smoke.batch_size={2 * batch}"]), out + "/one", smoke=True,
                verbose=0)
    print(json.dumps({"devices": len(devices), "replicas": [two["_run"]["replicas"], one["_run"]["replicas"]]}))
""")


def test_jax_data_parallel_over_two_cpu_devices_trains_like_one_device(tmp_path):
    """``strategy=mirrored`` on JAX: keras.distribution.DataParallel over two virtual CPU devices."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
                "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    out = subprocess.run([sys.executable, "-c", _JAX_DATA_PARALLEL, ENTRY, str(tmp_path), json.dumps(SETTINGS),
                          str(PER_REPLICA_BATCH)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {"devices": 2, "replicas": [2, 1]}
    two, one = _weights(tmp_path / "two"), _weights(tmp_path / "one")
    assert two.keys() == one.keys()
    for path, value in two.items():
        np.testing.assert_allclose(value, one[path], rtol=0, atol=ATOL, err_msg=path)
    np.testing.assert_allclose(_losses(tmp_path / "two"), _losses(tmp_path / "one"), rtol=1e-5)

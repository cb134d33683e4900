"""Reliability of what the zoo writes and trains (issue 15, items 1, 4 and the training half of 6).

Faults are injected for real: training subprocesses are killed with SIGKILL at chosen points
(mid-epoch, while the resumable checkpoint is written, while the hub folder is swapped in; the
``TOPDOWN_ZOO_PAUSE_AT`` hook makes the process wait there), the checkpoint is truncated, and a
NaN learning rate or NaN data are fed in. A killed-and-resumed run must end with exactly the
bytes of an uninterrupted run: weights, optimizer state and random-generator states alike.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from topdown_zoo import atomic
from topdown_zoo.cli import main
from topdown_zoo.errors import ExportError, RecipeError, TopdownZooError
from topdown_zoo.recipe import load_recipe, validate

# The smallest run that exercises everything a resume must restore: shuffled data, Adam's
# moments, and a model that samples in training (the VAE's reparameterisation SeedGenerator).
NAME = "gvae-mnist5k"
SETS = ["smoke.epochs=3", "smoke.steps_per_epoch=3", "smoke.batch_size=8"]


def _train_cmd(run: Path, *extra: str) -> list[str]:
    sets = [arg for s in SETS for arg in ("--set", s)]
    return [sys.executable, "-m", "topdown_zoo.cli", "train", NAME, "--smoke", *sets, "--out", str(run),
            "--verbose", "0", *extra]


def _env(pause: str | None = None, marker: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop(atomic.PAUSE_ENV, None)
    if pause is not None:
        env[atomic.PAUSE_ENV] = f"{pause}={marker}"
    return env


def _run_to_end(cmd: list[str], log: Path) -> None:
    with open(log, "w") as err:
        done = subprocess.run(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=err, timeout=600)
    assert done.returncode == 0, log.read_text()[-3000:]


def _start_paused(cmd: list[str], pause: str, tmp: Path) -> tuple[subprocess.Popen, Path]:
    """Start ``cmd`` and wait until it waits at fault point ``pause`` (its marker file appears)."""
    marker = tmp / f"paused-{pause.replace(' ', '-')}"
    log = tmp / f"{marker.name}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, env=_env(pause, marker), stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 600
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before reaching {pause!r}:\n"
                        + log.read_text()[-3000:])
        assert time.time() < deadline, f"never reached {pause!r}"
        time.sleep(0.1)
    return proc, log


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array in a Keras ``.weights.h5`` (weights, optimizer state, seed-generator states)."""
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, node: out.__setitem__(name, node[()]) if isinstance(node, h5py.Dataset) else None)
    return out


def _assert_same_bytes(a: Path, b: Path) -> None:
    left, right = _arrays(a), _arrays(b)
    assert left.keys() == right.keys() and left
    for key in left:
        assert left[key].dtype == right[key].dtype and left[key].tobytes() == right[key].tobytes(), key


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.name != ".lock")


# ------------------------------------------------------------------------------ kill and resume
@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run (in this process: resuming must not depend on the process either)."""
    from topdown_zoo.training import train

    run = tmp_path_factory.mktemp("reference") / "run"
    train(load_recipe(NAME, SETS), run, smoke=True, verbose=0)
    return run


def test_kills_at_every_stage_resume_to_the_weights_of_an_uninterrupted_run(tmp_path, capsys, reference):
    """Reference run, then one run killed three times (mid-epoch 2; while epoch 2's checkpoint is
    written; while the existing --hub-dir folder is being swapped for the new one) and, with its
    newest checkpoint truncated on top, rerun to the end: every weight, optimizer and
    random-generator array is bit-identical to the reference run's."""
    ref, run, hub = reference, tmp_path / "run", tmp_path / "hub"

    # a folder the user already has where --hub-dir will write: replaced only because of --force
    (hub / NAME).mkdir(parents=True)
    (hub / NAME / "notes.txt").write_text("an older model")
    cmd = _train_cmd(run, "--hub-dir", str(hub), "--force")

    proc, _ = _start_paused(cmd, "epoch 2 batch 2", tmp_path)  # epoch 1 done and checkpointed
    # while it runs, a second training into the same run directory is refused
    assert main(_train_cmd(run)[3:]) == 2
    assert f"error: run directory {run} is in use by pid {proc.pid}" in capsys.readouterr().err
    _kill(proc)

    proc, log = _start_paused(cmd, "checkpoint 2", tmp_path)  # resumed at epoch 2; state file half-committed
    assert f"taking over the lock of {run} left by pid" in log.read_text()
    _kill(proc)
    assert list((run / "backup").glob(".state.npz.*.tmp*")), "the kill should leave the uncommitted checkpoint"

    proc, _ = _start_paused(cmd, f"swap {NAME}", tmp_path)  # the user's folder moved aside, the new not yet in
    _kill(proc)
    assert not (hub / NAME).exists() and any(p.name.startswith(f".{NAME}.") for p in hub.iterdir())
    assert (run / "recipe.yaml").is_file()  # written with the run's outputs, before packaging

    # on top, the newest checkpoint is damaged: the previous one (epoch 2) is used instead
    state = run / "backup" / "state.npz"
    state.write_bytes(state.read_bytes()[:1000])
    _run_to_end(cmd, tmp_path / "last.log")
    assert "ignoring the unreadable checkpoint" in (tmp_path / "last.log").read_text()
    assert "resuming gvae-mnist5k after epoch 2" in (tmp_path / "last.log").read_text()

    for epoch in (1, 2, 3):
        _assert_same_bytes(run / "checkpoints" / f"epoch00{epoch}.weights.h5",
                           ref / "checkpoints" / f"epoch00{epoch}.weights.h5")
    _assert_same_bytes(run / "hub" / "model.weights.h5", ref / "hub" / "model.weights.h5")
    _assert_same_bytes(hub / NAME / "model.weights.h5", ref / "hub" / "model.weights.h5")
    from topdown_zoo.hub import verify

    verify(hub / NAME)
    assert not (hub / NAME / "notes.txt").exists()
    rows = (run / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    assert rows == (ref / "history.csv").read_text().splitlines()
    assert not (run / "backup").exists()
    assert _leftovers(run) == [] and _leftovers(hub) == []


# ------------------------------------------------------------------------------ overwriting
def test_hub_dir_onto_an_existing_folder_is_refused_before_training(tmp_path, capsys):
    target = tmp_path / "hub" / NAME
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("keep me")
    code = main(["train", NAME, "--smoke", "--out", str(tmp_path / "run"), "--hub-dir", str(tmp_path / "hub")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "already exists; pass --force" in err
    assert (target / "mine.txt").read_text() == "keep me"
    assert not (tmp_path / "run" / "recipe.yaml").exists() and not (tmp_path / "run" / "backup").exists()


def test_export_onto_a_folder_that_is_not_an_export_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    args = ["export", "standard-cnn-mnist5k", "--format", "saved_model", "--out", str(out), "--random-init",
            "--no-check"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a saved_model export of topdown_zoo" in err and "--force" in err
    assert (out / "thesis.tex").read_text() == "years of work"
    with pytest.raises(ExportError, match="is not a onnx export"):
        (tmp_path / "notes.onnx").write_text("not onnx")
        import topdown_zoo as tz

        tz.export("standard-cnn-mnist5k", tmp_path / "notes.onnx")
    assert (tmp_path / "notes.onnx").read_text() == "not onnx"

    # --force replaces it; an earlier export is then replaced without --force
    assert main(args + ["--force"]) == 0
    assert (out / "saved_model.pb").is_file() and not (out / "thesis.tex").exists()
    first = (out / "saved_model.pb").stat().st_ino
    assert main(args) == 0
    assert (out / "saved_model.pb").stat().st_ino != first
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ atomic writes
def test_leftovers_of_killed_writes_are_cleaned_and_a_half_swapped_folder_is_restored(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    target = tmp_path / "hub"
    (tmp_path / f".hub.{dead}-0123abcd.tmp").mkdir()                   # a killed packaging
    (tmp_path / "hub.abcdefgh").mkdir()                                 # not ours: kept
    (tmp_path / ".hub.k2j3h4x_.tmp").mkdir()                           # topdown_zoo <= 0.2 (mkdtemp)
    old = tmp_path / f".hub.{dead}-89abcdef.old"                        # killed between the renames
    old.mkdir()
    (old / "model.weights.h5").write_text("the user's weights")
    alive = tmp_path / f".hub.{os.getpid()}-fedcba98.tmp"              # a live writer's: kept
    alive.mkdir()
    atomic.clean_leftovers(target)
    assert (target / "model.weights.h5").read_text() == "the user's weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["hub", "hub.abcdefgh", alive.name])


def test_atomic_writes_replace_whole_files_and_folders(tmp_path):
    path = atomic.write_text(tmp_path / "a" / "f.json", "{}")
    atomic.write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    new = atomic.sibling(tmp_path / "dir")
    new.mkdir()
    (new / "x").write_text("1")
    atomic.commit(new, tmp_path / "dir")
    again = atomic.sibling(tmp_path / "dir")
    again.mkdir()
    (again / "y").write_text("2")
    atomic.commit(again, tmp_path / "dir")
    assert [p.name for p in (tmp_path / "dir").iterdir()] == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "dir"]


# ------------------------------------------------------------------------------ numerical faults
@pytest.mark.parametrize("key, value", [
    ("optimizer.learning_rate", float("nan")), ("optimizer.learning_rate", float("inf")),
    ("optimizer.momentum", float("nan")), ("optimizer.weight_decay", float("-inf")),
    ("optimizer.clipnorm", float("inf")), ("schedule.factor", float("nan")),
])
def test_non_finite_hyper_parameters_are_refused_at_validation(key, value):
    section, name = key.split(".")
    with pytest.raises(RecipeError, match=rf"{key}'={value!r} is not allowed; it must be a finite number"):
        validate({"model": NAME, section: {name: value}})


def test_cli_refuses_a_nan_learning_rate_in_one_line(capsys):
    assert main(["train", NAME, "--smoke", "--set", "optimizer.learning_rate=.nan"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: recipe key 'optimizer.learning_rate'=nan is not allowed") and err.count("\n") == 1


def test_a_non_finite_loss_stops_training_and_nothing_is_packaged(tmp_path):
    from topdown_zoo.training import train

    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    x[3, 5, 5, 0] = np.nan  # one bad pixel in the training data
    y = np.zeros(16, "int64")
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    recipe = load_recipe("standard-cnn-mnist5k", ["data.dataset=npz", f"data.options.path={tmp_path / 'd.npz'}",
                                                  "data.shuffle_buffer=0", *SETS])
    with pytest.raises(TopdownZooError, match=r"training standard-cnn-mnist5k stopped: the loss became nan in "
                                              r"epoch 1, batch 1; nothing was saved or packaged"):
        train(recipe, tmp_path / "run", smoke=True, hub_dir=tmp_path / "hub", verbose=0)
    run = tmp_path / "run"
    for name in ("model.keras", "metrics.json", "hub", "recipe.yaml", "checkpoints/epoch001.weights.h5"):
        assert not (run / name).exists(), name
    assert not (tmp_path / "hub").exists()


@pytest.mark.backends
def test_an_interrupted_run_resumes_exactly_and_is_not_discarded_by_another_recipe(tmp_path, capsys, monkeypatch,
                                                                                    reference):
    """In-process: a run interrupted in epoch 2 (Ctrl-C), then a rerun with another learning rate
    (refused: recipe.yaml and the checkpoint stay as they were), then the same command again: it
    resumes after epoch 1 and ends with the uninterrupted run's bytes."""
    from topdown_zoo.training import train

    recipe, run = load_recipe(NAME, SETS), tmp_path / "run"
    real_fault_point = atomic.fault_point

    def interrupt(point: str) -> None:
        if point == "epoch 2 batch 1":
            raise KeyboardInterrupt
        real_fault_point(point)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "fault_point", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(recipe, run, smoke=True, verbose=0)
    assert (run / "backup" / "state.npz").is_file() and not (run / "recipe.yaml").exists()
    (run / "recipe.yaml").write_text(f"model: {NAME}  # what the user had\n")

    sets = [a for s in SETS for a in ("--set", s)]
    code = main(["train", NAME, "--smoke", "--out", str(run), *sets, "--set", "optimizer.learning_rate=0.5"])
    err = capsys.readouterr().err
    assert code == 2 and "holds an interrupted run of another recipe" in err and "--force" in err
    assert (run / "recipe.yaml").read_text() == f"model: {NAME}  # what the user had\n"
    assert (run / "backup" / "state.npz").is_file()

    train(recipe, run, smoke=True, verbose=0)
    assert f"resuming {NAME} after epoch 1" in capsys.readouterr().err
    _assert_same_bytes(run / "checkpoints" / "epoch003.weights.h5", reference / "checkpoints" / "epoch003.weights.h5")
    assert (run / "history.csv").read_text() == (reference / "history.csv").read_text()
    assert (run / "recipe.yaml").read_text() == (reference / "recipe.yaml").read_text()

"""Reliability (issue 15): what is loaded, what a config may ask for, and what a model is given.

Each test injects the fault it names — weights edited and their ``SHA256SUMS`` regenerated, the
weights of two entries swapped, a ``.npy`` header claiming 10⁹ rows, a NaN batch, a task id out of
range — and checks that it ends as a zoo error (API) or one line ``error: ...`` with exit 2 (CLI).
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo import hub, paths
from topdown_zoo.checks import MAX_BATCH_SIZE, MAX_ITERATIONS, check_config_limits, check_options
from topdown_zoo.cli import main
from topdown_zoo.errors import (
    ConfigError,
    DatasetError,
    HubError,
    InputSpecError,
    UnknownModelError,
    UnpinnedWeightsWarning,
)
from topdown_zoo.hub.pins import compute_pins, load_pins
from topdown_zoo.registry import all_specs, get_spec

AE, DAE = "conv-ae-natural32", "conv-dae-natural32"  # same architecture, different weights


def shipped(name: str) -> Path:
    return paths.shipped_hub_dir() / name


def copy_of(name: str, dest: Path) -> Path:
    return Path(shutil.copytree(shipped(name), dest / name))


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------------------------ pins
def test_the_pins_match_the_shipped_folders():
    """Changing a shipped file (weights, card, metrics) without `python tools/pin_hub.py` fails here."""
    assert compute_pins(paths.shipped_hub_dir()) == load_pins()
    shipped_entries = {name for name, spec in all_specs().items() if spec.weights}
    assert set(load_pins()) == shipped_entries


def test_edited_weights_with_a_regenerated_manifest_are_refused(tmp_path, monkeypatch):
    folder = copy_of(AE, tmp_path)
    with open(folder / hub.WEIGHTS, "r+b") as handle:  # one byte of the weights flipped
        handle.seek(-100, 2)
        byte = handle.read(1)
        handle.seek(-100, 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    hub.write_manifest(folder)
    hub.verify(folder)  # the folder's own manifest now vouches for the edit
    with pytest.raises(HubError, match=r"claims to be its published folder.*model\.weights\.h5 has sha256"):
        tz.load(AE, weights=folder)
    monkeypatch.setenv(hub.MIRROR_ENV, str(tmp_path))
    with pytest.raises(HubError, match="where its published weights are expected"):
        tz.load(AE)


def test_weights_swapped_between_entries_are_refused(tmp_path, monkeypatch):
    folder = copy_of(AE, tmp_path)
    shutil.copyfile(shipped(DAE) / hub.WEIGHTS, folder / hub.WEIGHTS)
    hub.write_manifest(folder)
    for path in (folder, shipped(DAE) / hub.WEIGHTS):  # a folder, and a bare .weights.h5
        with pytest.raises(HubError, match=f"published weights of {DAE}, not of {AE}"):
            tz.load(AE, weights=path)
    monkeypatch.setenv(hub.MIRROR_ENV, str(tmp_path))
    with pytest.raises(HubError, match=f"published weights of {DAE}"):
        tz.load(AE)


def test_pinned_weights_load_quietly_and_unpinned_ones_warn_once(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnpinnedWeightsWarning)
        tz.load(AE)  # the shipped folder
        tz.load(AE, weights=shutil.copy(shipped(AE) / hub.WEIGHTS, tmp_path / "own-copy.weights.h5"))
    own = hub.package(tz.create(AE), tmp_path / "my-run", metrics={"mse": 1.0})  # a user's own run
    with pytest.warns(UnpinnedWeightsWarning, match="unpinned.*only its own SHA256SUMS was checked.*not the published"):
        tz.load(AE, weights=own)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnpinnedWeightsWarning)
        tz.load(AE, weights=own)  # once per folder


def test_a_mirror_entry_without_weights_does_not_fall_back_to_the_shipped_copy(tmp_path, monkeypatch):
    (tmp_path / AE).mkdir()
    shutil.copy(shipped(AE) / hub.CONFIG, tmp_path / AE)
    monkeypatch.setenv(hub.MIRROR_ENV, str(tmp_path))
    with pytest.raises(HubError, match=r"\$TOPDOWN_ZOO_HUB/conv-ae-natural32\) holds no model.weights.h5"):
        hub.resolve(get_spec(AE))


def test_publish_dry_run_passes_for_every_shipped_folder(capsys):
    for name in load_pins():
        listed = hub.publish(shipped(name), f"me/{name}", dry_run=True)
        assert {f["path"] for f in listed["files"]} == set(load_pins()[name]) | {hub.MANIFEST}
    capsys.readouterr()


@pytest.mark.parametrize("repo_id", ["../../x", "me/x y", "noslash", "a/b/c", "me/..", "me/x--y", "", "me/"])
def test_bad_repo_ids_are_refused_before_anything_is_read(repo_id, capsys):
    with pytest.raises(HubError, match="not a Hugging Face repo id"):
        hub.publish("no/such/folder", repo_id, dry_run=True)
    assert main(["publish", str(shipped(AE)), "--repo-id", repo_id, "--dry-run"]) == 2
    assert "not a Hugging Face repo id" in one_line_error(capsys)


@pytest.mark.parametrize("revision", ["../ref", "a..b", "/x", "x/", "x y", "-x", "x.lock", "a//b"])
def test_bad_revisions_are_refused(revision):
    with pytest.raises(HubError, match="is not a branch, tag or commit hash"):
        hub.resolve_hf_handle("hf://org/x", revision=revision)
    with pytest.raises(HubError, match="is not a branch, tag or commit hash"):
        tz.load(AE, revision=revision)
    with pytest.raises(HubError, match="'../ref' is not a branch, tag or commit hash"):
        hub.resolve_hf_handle("hf://org/x@../ref")  # checked before any network access
    for good in ("main", "v1.0", "refs/pr/1", "0123abcd" * 5):
        assert hub.check_revision(good) == good


# ------------------------------------------------------------------------------------ limits
def test_configs_cannot_ask_for_unbounded_steps_or_sizes():
    with pytest.raises(ConfigError, match=rf"iterations=1000000000 is not allowed.*{MAX_ITERATIONS}"):
        tz.create("cbl-cnn-mnist5k", iterations=10**9)
    with pytest.raises(ConfigError, match=r"widths\[0\]=1000000 is not allowed"):
        tz.create("cbl-cnn-mnist5k", backbone_config={"widths": [10**6] * 4})
    with pytest.raises(ConfigError, match="hidden has 1000 entries"):
        tz.create("gncn-t1-mnist5k", hidden=[8] * 1000)
    with pytest.raises(ConfigError, match="image_shape=.*values per example"):
        tz.create(AE, image_shape=[8192, 8192, 3])
    with pytest.raises(ConfigError, match="alpha=nan"):
        tz.create("cbl-cnn-mnist5k", alpha=float("nan"))
    with pytest.raises(UnknownModelError, match="must be a string"):
        tz.create(None)
    check_config_limits({"seed": 2**40, "td_seed": 2**31, "widths": [512, 512], "iterations": MAX_ITERATIONS})


def test_an_untrusted_config_json_cannot_ask_for_unbounded_steps():
    with pytest.raises(ConfigError, match="iterations=1000000000"):
        hub.rebuild({"registry_name": "gncn-t1-mnist5k", "overrides": {"iterations": 10**9}})
    keras_config = {"class_name": "Anything", "config": {"iterations": 10**9, "name": "m"}}
    with pytest.raises(ConfigError, match="iterations=1000000000"):  # refused before deserialisation
        hub.rebuild({"registry_name": None, "keras_config": keras_config})


def test_unknown_evaluate_and_data_options_are_named():
    """Every shipped recipe's evaluate: and data.options keys are taken by its evaluator / loader,
    so refusing unknown keys (recipe validation) breaks none of them."""
    from topdown_zoo.data import check_dataset_options
    from topdown_zoo.recipe import load_recipe

    skip = ("model", "spec", "smoke", "data_options")
    for path in sorted(paths.recipes_dir().glob("*.yaml")):
        recipe = load_recipe(path)
        evaluator = get_spec(recipe["model"]).evaluate_fn()
        check_options("evaluate", recipe["evaluate"], evaluator, skip=skip)
        check_dataset_options(recipe["data"]["dataset"], recipe["data"]["options"])
    with pytest.raises(ConfigError, match="evaluate: unknown key.*bach_size; allowed: batch_size"):
        check_options("evaluate", {"bach_size": 8}, get_spec("cbl-cnn-mnist5k").evaluate_fn(), skip=skip)
    with pytest.raises(DatasetError, match="data.options of dataset 'mnist5k': unknown key.*nosuch; allowed: none"):
        check_dataset_options("mnist5k", {"nosuch": 1})


# ------------------------------------------------------------------------------------ API inputs
@pytest.mark.backends
def test_nan_inputs_are_refused_by_predict_and_interpret():
    model = tz.load("cbl-cnn-mnist5k")
    x = np.full((2, 28, 28, 1), np.nan, "float32")
    for call in (lambda: model.predict(x, verbose=0), lambda: model.interpret(x)):
        with pytest.raises(InputSpecError, match="NaN or infinite"):
            call()


@pytest.mark.backends
@pytest.mark.parametrize("task", [5, -1])
def test_a_task_id_out_of_range_names_the_valid_range(task):
    model = tz.load("butd-multimnist5k")
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    tasks = np.full((2,), task, "int32")
    for call in (lambda: model.predict((x, tasks), verbose=0), lambda: model.interpret((x, tasks)),
                 lambda: model.interpret(x, task=task)):
        with pytest.raises(InputSpecError, match=r"\[0, 1\]"):
            call()


@pytest.mark.backends
def test_inputs_outside_the_entry_range_are_refused_before_settling():
    """GNCN settling on 1e6 would return energies of 1e16: the input range is checked first."""
    model = tz.load("gncn-t1-mnist5k")
    with pytest.raises(InputSpecError, match=r"values in \[0, 1\].*1e\+06"):
        model.predict(np.full((2, 784), 1e6, "float32"), verbose=0)


# ------------------------------------------------------------------------------------ CLI
def _npy_with_header(path: Path, shape: tuple[int, ...], rows_written: int) -> str:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
        handle.write(np.zeros((rows_written, *shape[1:]), "float32").tobytes())
    return str(path)


def test_predict_inputs_that_cannot_be_streamed_are_one_line_errors(tmp_path, capsys):
    cases = {
        _npy_with_header(tmp_path / "huge.npy", (10**9, 28, 28, 1), 2): "header says shape (1000000000, 28, 28, 1)",
        str(tmp_path): "is a directory",
        str((tmp_path / "zero.npy").open("w").name): "is empty",
    }
    np.save(tmp_path / "none.npy", np.zeros((0, 28, 28, 1), "float32"))
    cases[str(tmp_path / "none.npy")] = "empty batch"
    np.save(tmp_path / "nan.npy", np.full((3, 28, 28, 1), np.nan, "float32"))
    cases[str(tmp_path / "nan.npy")] = "NaN or infinite"
    for path, message in cases.items():
        assert main(["predict", "cbl-cnn-mnist5k", path]) == 2
        assert message in one_line_error(capsys)


@pytest.mark.parametrize("argv, message", [
    (["train", "recipes/cbl-cnn-mnist5k.yaml", "--smoke", "--set", "data.options.nosuch=1"],
     "data.options of dataset 'mnist5k': unknown key(s) nosuch"),
    (["train", "recipes/cbl-cnn-mnist5k.yaml", "--set", "data.batch_size=1e20"], "data.batch_size"),
    (["train", "recipes"], "is a directory; give a recipe file"),
    (["evaluate", "cbl-cnn-mnist5k", "--batch-size", str(10**9)], f"must be an integer in [1, {MAX_BATCH_SIZE}]"),
    (["export", "cbl-cnn-mnist5k", "--out", "/sys/x.onnx"], "the folder '/sys' is not writable"),
    (["export", "cbl-cnn-mnist5k", "--out", "README.md/x.onnx"], "README.md' is a file, not a folder"),
    (["train", "recipes/cbl-cnn-mnist5k.yaml", "--verbose", "7"], "--verbose: must be auto, 0, 1 or 2"),
    (["demo", "--examples", "-1"], "--examples: must be an integer >= 1"),
    (["list", "--family", "nosuch"], "unknown family 'nosuch'"),
    (["predict", "gncn-t1-mnist5k", "BIG"], r"expects values in [0.0, 1.0]"),
])
def test_bad_commands_are_one_line_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(paths.recipes_dir().parent)
    if "--smoke" in argv:
        argv = [*argv, "--out", str(tmp_path / "run")]
    if "BIG" in argv:
        np.save(tmp_path / "big.npy", np.full((2, 784), 1e6, "float32"))
        argv = [str(tmp_path / "big.npy") if a == "BIG" else a for a in argv]
    assert main(argv) == 2
    assert message in one_line_error(capsys)


def test_the_cli_says_once_that_a_folder_is_unpinned(tmp_path, capsys):
    own = hub.package(tz.create("standard-cnn-mnist5k"), tmp_path / "own", metrics={"accuracy": 0.1})
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28, 1), "float32"))
    assert main(["predict", "standard-cnn-mnist5k", str(tmp_path / "x.npy"), "--weights", str(own)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "is unpinned" in warning[0]


# ------------------------------------------------------------------------ recipes (validated before anything runs)
@pytest.mark.parametrize("assignment, message", [
    ("data.batch_size=100000000000000000000", "batch_size"),
    ("smoke.batch_size=100000000000000000000", "batch_size"),
    ("data.options.no_such_option=1", "no_such_option"),
    ("evaluate.no_such_key=1", "no_such_key"),
])
def test_recipe_limits_and_unknown_free_form_keys_are_refused(assignment, message):
    from topdown_zoo.errors import RecipeError
    from topdown_zoo.recipe import load_recipe

    with pytest.raises(RecipeError, match=message):
        load_recipe("cbl-cnn-mnist5k", [assignment])


def test_a_recipe_path_that_is_a_directory_is_refused(tmp_path):
    from topdown_zoo.errors import RecipeError
    from topdown_zoo.recipe import load_recipe

    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe(tmp_path)


@pytest.mark.parametrize("shape, hint", [((2, 1, 28, 28), "channels-first"), ((2, 28, 28), "channel axis"),
                                         ((28, 28, 1), "batch axis"), ((2, 32, 32, 1), "must have shape")])
def test_wrong_input_shapes_name_the_expected_layout_and_the_fix(shape, hint):
    import topdown_zoo as tz
    from topdown_zoo.errors import InputSpecError

    model = tz.create("standard-cnn-mnist5k")
    with pytest.raises(InputSpecError, match=hint):
        model.predict(np.zeros(shape, "float32"), verbose=0)


def test_raw_8bit_images_are_refused_with_the_preprocess_hint():
    import topdown_zoo as tz
    from topdown_zoo.errors import InputSpecError

    model = tz.create("standard-cnn-mnist5k")
    with pytest.raises(InputSpecError, match="raw 8-bit images.*preprocess=True"):
        model.predict(np.full((2, 28, 28, 1), 255, "uint8"), verbose=0)

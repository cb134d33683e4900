"""The hub module: package -> verify -> resolve -> load, model cards, publish, and every error.

Resolution runs the real ``huggingface_hub`` code (``hf_hub_download``) against a cache folder
seeded here in the Hub's real layout (``models--org--name/{refs,blobs,snapshots}``) with
``HF_HUB_OFFLINE``; only publish's network calls (``HfApi.create_repo`` / ``upload_folder``)
are replaced.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

import topdown_zoo as tz
from topdown_zoo import hub, model_card, paths
from topdown_zoo.api import build_from_spec
from topdown_zoo.errors import HubError, UnknownModelError, WeightsNotAvailableError
from topdown_zoo.registry import get_spec, register, unregister

REPO_ID = "testorg/cbl-tiny"
NAME = "test-hub-cbl-tiny"
SMALL = {"backbone_config": {"num_classes": 10, "widths": [4, 4, 8, 8], "dense_units": 8}, "context_dim": 8}
METRICS = {"accuracy": 0.8125, "accuracy_step0": 0.75, "examples": 16,
           "_run": {"model": NAME, "split": "test", "dataset": "mnist5k", "smoke": True, "epochs": 1}}
RECIPE = {"model": NAME, "epochs": 1, "overrides": {}}
X = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")


@pytest.fixture(scope="module", autouse=True)
def _forget_test_spec():
    """The test spec must not leak into other modules' view of the registry."""
    yield
    if NAME in tz.list_models(NAME):
        unregister(NAME)


def _spec():
    base = get_spec("cbl-cnn-mnist5k")
    return register(dataclasses.replace(base, name=NAME, config={**base.config, **SMALL}, weights=None,
                                        hf_repo_id=REPO_ID, recipe="cbl-cnn-mnist5k.yaml",
                                        paper_results={"accuracy": "80.65 % (CIFAR-10, Table 1)"}))


def _model(seed=0, **overrides):
    import keras

    keras.utils.set_random_seed(seed)
    return build_from_spec(_spec(), overrides)


def _out(model):
    import keras

    return keras.ops.convert_to_numpy(model(X, training=False))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """Three packaged folders of the same architecture with different weights (seeds 0, 1, 2)."""
    root = tmp_path_factory.mktemp("hub")
    folders, outputs = [], []
    for seed in range(3):
        model = _model(seed)
        folders.append(hub.package(model, root / f"seed{seed}" / NAME, metrics=METRICS, recipe=RECIPE))
        outputs.append(_out(model))
    return folders, outputs


def _copy(folder, dest):
    return Path(shutil.copytree(folder, Path(dest) / NAME))


# ------------------------------------------------------------------------ a seeded HF cache
def seed_hf_cache(cache: Path, repo_id: str, commits: dict[str, Path], refs: dict[str, str]) -> None:
    """Lay out ``cache`` as huggingface_hub does: blobs named by content hash, snapshot files as
    relative symlinks into blobs, ``refs/<branch or tag>`` holding a commit hash."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for commit, folder in commits.items():
        for src in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            blob_id = hashlib.sha256(src.read_bytes()).hexdigest()
            blob = repo / "blobs" / blob_id
            if not blob.exists():
                shutil.copyfile(src, blob)
            link = repo / "snapshots" / commit / src.relative_to(folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    for ref, commit in refs.items():
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)


COMMIT_MAIN, COMMIT_OLD = "a" * 40, "b" * 40


@pytest.fixture
def offline_cache(tmp_path, monkeypatch, packaged):
    import huggingface_hub

    folders, _ = packaged
    cache = tmp_path / "hf-cache"
    seed_hf_cache(cache, REPO_ID, {COMMIT_MAIN: folders[0], COMMIT_OLD: folders[1]},
                  {"main": COMMIT_MAIN, "v0.1": COMMIT_OLD})
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("TOPDOWN_ZOO_HUB", raising=False)
    monkeypatch.setattr(paths, "shipped_hub_dir", lambda: tmp_path / "no-shipped-hub")
    return cache


# ------------------------------------------------------------------------ package and load
def test_package_writes_the_hub_layout_and_round_trips(packaged):
    folders, outputs = packaged
    folder = folders[0]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["README.md", "config.json", "model.weights.h5", "metadata.json", "metrics.json", "recipe.yaml", "SHA256SUMS"])
    manifest = hub.verify(folder)
    assert set(manifest) == {"README.md", "config.json", "model.weights.h5", "metadata.json", "metrics.json",
                             "recipe.yaml"}
    config = json.loads((folder / "config.json").read_text())  # Keras's own serialization (format 2)
    assert config["class_name"] == "CBLModel" and config["config"]["registry_name"] == NAME
    assert hub.read_config(folder)["input_shape"] == [28, 28, 1]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["parameter_count"] == _model(0).count_params() and metadata["keras_version"]
    assert json.loads((folder / "metrics.json").read_text())["accuracy"] == METRICS["accuracy"]
    # registry path (api.load with weights=) and config-alone path give identical outputs
    np.testing.assert_array_equal(_out(tz.load(NAME, weights=folder)), outputs[0])
    np.testing.assert_array_equal(_out(hub.load_folder(folder)), outputs[0])
    assert not np.allclose(outputs[0], outputs[1])  # the seeds really differ


def test_a_run_history_ships_as_curves_shown_in_the_card(tmp_path):
    """package(history=...) copies the run's history.csv, draws curves.png from it, lists both in
    SHA256SUMS and shows the picture in the card (issue 13: each card's curve shows the plateau)."""
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss,val_loss\n0,2.0,2.1\n1,1.0,1.2\n2,0.9,1.1\n")
    folder = hub.package(_model(0), tmp_path / "folder", metrics=METRICS, history=history)
    manifest = hub.verify(folder)
    assert {"history.csv", "curves.png"} <= set(manifest)
    assert (folder / "history.csv").read_text() == history.read_text()
    assert (folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (folder / "README.md").read_text()
    assert "## Training curves" in card and "![training curves](curves.png)" in card
    plain = hub.package(_model(0), tmp_path / "plain", metrics=METRICS)
    assert not (plain / "curves.png").exists() and "## Training curves" not in (plain / "README.md").read_text()


def test_metadata_records_the_backend_and_imports_no_tensorflow(monkeypatch, packaged):
    import keras

    from topdown_zoo.hub.packaging import _versions

    metadata = json.loads((packaged[0][0] / "metadata.json").read_text())
    assert metadata["backend"] == keras.backend.backend() and metadata["topdown_zoo_version"]
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    versions = _versions()
    assert "tensorflow" not in sys.modules and "tensorflow_version" not in versions
    assert versions["backend"] == keras.backend.backend()


def test_package_records_overrides_and_keras_config_alone_rebuilds(tmp_path):
    model = _model(3, iterations=3)
    folder = hub.package(model, tmp_path / "it3", metrics=METRICS)
    assert hub.read_config(folder)["overrides"] == {"iterations": 3}
    assert folder.stat().st_mode & 0o755 == 0o755  # readable by all (mkdtemp makes 0700)
    loaded = hub.load_folder(folder)
    assert loaded.iterations == 3
    np.testing.assert_array_equal(_out(loaded), _out(model))
    # config alone (registry name unknown on this machine): the saved Keras config, safe mode
    config = hub.read_config(folder)
    alone = hub.rebuild({**config, "registry_name": None})
    hub.load_weights_file(alone, folder / "model.weights.h5")
    np.testing.assert_array_equal(_out(alone), _out(model))
    # the model's identity travels in its own Keras config
    assert (alone.registry_name, alone.registry_overrides) == (NAME, {"iterations": 3})
    assert (loaded.registry_name, loaded.registry_overrides) == (NAME, {"iterations": 3})
    with pytest.raises(HubError, match="unknown config key.*registry_name"):
        hub.rebuild({**config, "registry_name": None}, {"registry_name": "other"})


def test_package_accepts_a_training_run_dir(tmp_path):
    model = _model(4)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "metrics.json").write_text(json.dumps(METRICS))
    (run / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    folder = hub.package(run, tmp_path / "out")
    assert json.loads((folder / "metrics.json").read_text()) == METRICS
    assert yaml.safe_load((folder / "recipe.yaml").read_text())["model"] == NAME
    np.testing.assert_array_equal(_out(tz.load(NAME, weights=folder)), _out(model))
    # the runner's layout (run/hub): the run directory itself loads and publishes
    hub.package(run, run / "hub")
    np.testing.assert_array_equal(_out(tz.load(NAME, weights=run)), _out(model))
    listed = hub.publish(run, REPO_ID, dry_run=True)
    assert "model.weights.h5" in {f["path"] for f in listed["files"]}


def test_package_is_atomic_and_refuses_a_non_empty_target(tmp_path, packaged):
    with pytest.raises(HubError, match="not empty"):
        hub.package(_model(0), packaged[0][0].parent)
    with pytest.raises(Exception):
        hub.package(object(), tmp_path / "broken", spec_name=NAME)  # fails half-way
    assert not (tmp_path / "broken").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".broken")]


# ------------------------------------------------------------------------ model card
def test_card_front_matter_is_yaml_with_a_model_index_of_the_measured_metrics(packaged):
    text = (packaged[0][0] / "README.md").read_text()
    meta = model_card.parse_front_matter(text)
    assert meta["library_name"] == "keras" and meta["license"] == "apache-2.0"
    assert meta["pipeline_tag"] == "image-classification" and meta["datasets"] == ["ylecun/mnist"]
    assert {"keras", "topdown-zoo", "cbl"} <= set(meta["tags"])
    (entry,) = meta["model-index"]
    assert entry["name"] == NAME
    measured = {m["type"]: m["value"] for r in entry["results"] for m in r["metrics"]}
    assert measured == {"accuracy": 0.8125}  # per-step rows stay in the card body
    assert "| accuracy_step0 | 0.7500 |" in text
    assert entry["results"][0]["dataset"]["split"] == "test"
    body = text.split("\n---\n", 1)[1]
    for section in ("## Intended use", "## How to load", "## Training recipe", "## Results", "## Limitations",
                    "## Citation"):
        assert section in body
    assert "| accuracy | 0.8125 |" in body and "16 examples" in body
    # the paper's claim is beside ours, labelled as the paper's, and never in the model-index
    assert "the paper's claim" in body and "80.65 % (CIFAR-10, Table 1)" in body
    assert "80.65" not in yaml.safe_dump(meta)
    assert "Contextual Backpropagation Loops" in body.split("## Citation")[1]
    assert "Smoke run" in body


# ------------------------------------------------------------------------ resolution
def test_resolution_from_a_topdown_zoo_hub_mirror(tmp_path, monkeypatch, packaged):
    folders, outputs = packaged
    mirror = tmp_path / "mirror"
    _copy(folders[1], mirror)
    monkeypatch.setenv("TOPDOWN_ZOO_HUB", str(mirror))
    monkeypatch.setattr(paths, "shipped_hub_dir", lambda: tmp_path / "none")
    assert hub.resolve(_spec()) == mirror / NAME
    np.testing.assert_array_equal(_out(tz.load(NAME)), outputs[1])


def test_resolution_from_a_seeded_hf_cache_offline(offline_cache, packaged):
    _, outputs = packaged
    snapshot = hub.resolve(_spec())
    assert snapshot == offline_cache / "models--testorg--cbl-tiny" / "snapshots" / COMMIT_MAIN
    np.testing.assert_array_equal(_out(tz.load(NAME)), outputs[0])
    # pinned revisions: a commit hash and a tag give the older weights
    np.testing.assert_array_equal(_out(tz.load(NAME, revision=COMMIT_OLD)), outputs[1])
    np.testing.assert_array_equal(_out(tz.load(NAME, revision="v0.1")), outputs[1])
    # an hf:// handle: the architecture from config.json
    np.testing.assert_array_equal(_out(tz.load(f"hf://{REPO_ID}")), outputs[0])
    np.testing.assert_array_equal(_out(tz.load(f"hf://{REPO_ID}", revision="v0.1")), outputs[1])


def test_resolution_order_explicit_mirror_shipped_hf(tmp_path, monkeypatch, offline_cache, packaged):
    folders, _ = packaged
    spec = _spec()
    explicit, mirror, shipped = (_copy(folders[i], tmp_path / n)
                                 for i, n in ((0, "explicit"), (1, "mirror"), (2, "shipped")))
    monkeypatch.setenv("TOPDOWN_ZOO_HUB", str(mirror.parent))
    monkeypatch.setattr(paths, "shipped_hub_dir", lambda: shipped.parent)
    assert hub.resolve(spec, weights=explicit) == explicit
    assert hub.resolve(spec, weights=explicit / "model.weights.h5") == explicit / "model.weights.h5"
    assert hub.resolve(spec) == mirror
    monkeypatch.delenv("TOPDOWN_ZOO_HUB")
    assert hub.resolve(spec) == shipped
    monkeypatch.setattr(paths, "shipped_hub_dir", lambda: tmp_path / "empty")
    assert hub.resolve(spec) == offline_cache / "models--testorg--cbl-tiny" / "snapshots" / COMMIT_MAIN
    # a pinned revision skips the local copies, which carry no revision
    monkeypatch.setenv("TOPDOWN_ZOO_HUB", str(mirror.parent))
    assert hub.resolve(spec, revision="v0.1").name == COMMIT_OLD


def test_real_offline_subprocess_with_env_set_before_import(tmp_path, packaged):
    """HF_HUB_OFFLINE and HF_HUB_CACHE as a user sets them: before huggingface_hub is imported."""
    folders, outputs = packaged
    cache = tmp_path / "cache"
    seed_hf_cache(cache, REPO_ID, {COMMIT_MAIN: folders[0], COMMIT_OLD: folders[1]}, {"main": COMMIT_MAIN})
    np.save(tmp_path / "x.npy", X)
    script = textwrap.dedent(f"""
        import keras, numpy as np, topdown_zoo as tz
        x = np.load({str(tmp_path / 'x.npy')!r})
        out = lambda model: keras.ops.convert_to_numpy(model(x, training=False))
        np.save({str(tmp_path / 'main.npy')!r}, out(tz.load("hf://{REPO_ID}")))
        np.save({str(tmp_path / 'old.npy')!r}, out(tz.load("hf://{REPO_ID}", revision="{COMMIT_OLD}")))
        try:
            tz.load("hf://testorg/not-cached")
        except tz.HubError as err:
            print("ERR", err)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TOPDOWN_ZOO_HUB", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "main.npy"), outputs[0])
    np.testing.assert_array_equal(np.load(tmp_path / "old.npy"), outputs[1])
    assert "HF_HUB_OFFLINE is set" in done.stdout and "TOPDOWN_ZOO_HUB" in done.stdout


# ------------------------------------------------------------------------ errors
def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError, match="cbl-cnn-mnist5k"):
        tz.load("cbl-cnn-mnist")


def test_weights_not_published_names_the_recipe(tmp_path, monkeypatch):
    monkeypatch.delenv("TOPDOWN_ZOO_HUB", raising=False)
    monkeypatch.setattr(paths, "shipped_hub_dir", lambda: tmp_path)
    spec = get_spec("cbl-cnn-cifar10")
    assert spec.hf_repo_id is None and hub.resolve(spec) is None
    with pytest.raises(WeightsNotAvailableError, match=r"recipes/cbl-cnn-cifar10\.yaml"):
        tz.load("cbl-cnn-cifar10")


def test_offline_with_nothing_cached_says_how_to_mirror(offline_cache, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(offline_cache.parent / "empty-cache"))
    with pytest.raises(HubError) as err:
        tz.load(NAME)
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and f"TOPDOWN_ZOO_HUB/{NAME}" in message
    assert f"hf download {REPO_ID}" in message and "cache" in message
    with pytest.raises(HubError, match="revision v9"):
        tz.load(NAME, revision="v9")


def test_sha_mismatch_names_the_file_and_both_hashes(tmp_path, packaged):
    folder = _copy(packaged[0][0], tmp_path)
    expected = hub.read_manifest(folder)["metrics.json"]
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.99}))
    actual = hub.sha256_file(folder / "metrics.json")
    with pytest.raises(HubError) as err:
        tz.load(NAME, weights=folder)
    assert "metrics.json" in str(err.value) and expected in str(err.value) and actual in str(err.value)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_truncated_or_corrupt_weights(tmp_path, packaged, damage):
    folder = _copy(packaged[0][0], tmp_path)
    weights = folder / "model.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 100)
    with pytest.raises(HubError, match="sha256 mismatch .*model.weights.h5"):
        tz.load(NAME, weights=folder)  # caught by the manifest first
    hub.write_manifest(folder)  # a manifest that agrees: the file itself must still be refused
    with pytest.raises(HubError, match="truncated or corrupt"):
        tz.load(NAME, weights=folder)
    with pytest.raises(HubError, match="truncated or corrupt"):
        tz.load(NAME, weights=weights)  # a bare file


def test_weights_that_do_not_fit_name_the_layer(tmp_path, packaged):
    other = _model(0, context_dim=4)
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(HubError, match=r"do not fit .*layer 'context'.*shape \(10, 4\).*expects \(10, 8\)"):
        tz.load(NAME, weights=tmp_path / "other.weights.h5")
    with pytest.raises(HubError, match=r"layer 'context'"):
        tz.load(NAME, weights=packaged[0][0], context_dim=4)  # overrides that change the weights
    ff = build_from_spec(get_spec("standard-cnn-mnist5k"), {"backbone_config": SMALL["backbone_config"]})
    with pytest.raises(HubError, match="not in the model"):
        hub.load_weights_file(ff, packaged[0][0] / "model.weights.h5")  # extra weights are not ignored


def test_a_folder_of_another_model_is_refused(packaged):
    with pytest.raises(HubError, match=f"holds weights of '{NAME}'"):
        tz.load("cbl-cnn-mnist5k", weights=packaged[0][0])


# ------------------------------------------------------------------------ publish
@pytest.fixture
def no_network(monkeypatch):
    """Replace the network boundary of publish (HfApi's create/upload calls) with a recorder."""
    import huggingface_hub

    calls = []
    for name in ("create_repo", "create_branch", "upload_folder"):
        def record(self, *args, _name=name, **kwargs):
            calls.append((_name, args, kwargs))
            return huggingface_hub.CommitInfo(commit_url=f"https://huggingface.co/{REPO_ID}/commit/{'c' * 40}",
                                              commit_message="m", commit_description="", oid="c" * 40) \
                if _name == "upload_folder" else None
        monkeypatch.setattr(huggingface_hub.HfApi, name, record)
    return calls


def test_publish_without_a_token_is_a_clear_error(tmp_path, monkeypatch, packaged, no_network):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "stored_tokens"))
    with pytest.raises(HubError, match="no Hugging Face token.*HF_TOKEN"):
        hub.publish(packaged[0][0], REPO_ID)
    assert no_network == []


def test_publish_uploads_the_verified_folder_and_never_shows_the_token(packaged, no_network, monkeypatch, capsys,
                                                                       caplog):
    secret = "hf_" + "s3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", secret)
    folder = packaged[0][0]
    url = hub.publish(folder, REPO_ID, revision="v1", private=True)
    assert url.startswith(f"https://huggingface.co/{REPO_ID}/commit/")
    names = [c[0] for c in no_network]
    assert names == ["create_repo", "create_branch", "upload_folder"]
    assert no_network[0][2]["private"] is True
    upload = no_network[2][2]
    assert upload["folder_path"] == str(folder) and upload["revision"] == "v1" and upload["repo_id"] == REPO_ID
    assert sorted(upload["allow_patterns"]) == sorted(p.name for p in folder.iterdir())
    out = capsys.readouterr()
    assert secret not in out.out + out.err + caplog.text + url


def test_publish_dry_run_lists_files_and_uploads_nothing(packaged, no_network, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = hub.publish(packaged[0][0], REPO_ID, dry_run=True)
    printed = capsys.readouterr().out
    assert no_network == []
    assert {f["path"] for f in result["files"]} == {p.name for p in packaged[0][0].iterdir()}
    assert "model.weights.h5" in printed and hub.read_manifest(packaged[0][0])["model.weights.h5"] in printed


def test_publish_refuses_a_folder_that_fails_verification(tmp_path, packaged, no_network, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    folder = _copy(packaged[0][0], tmp_path)
    (folder / "notes.txt").write_text("not in the manifest")
    with pytest.raises(HubError, match="notes.txt"):
        hub.publish(folder, REPO_ID)
    (folder / "notes.txt").unlink()
    (folder / "README.md").write_text("edited")
    with pytest.raises(HubError, match="sha256 mismatch"):
        hub.publish(folder, REPO_ID, dry_run=True)
    assert no_network == []

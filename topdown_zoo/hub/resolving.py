"""Where the weights of a model are: an explicit path, the ``$TOPDOWN_ZOO_HUB`` mirror, the
folders shipped with the package, or the Hugging Face Hub (through ``huggingface_hub``'s cache)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from topdown_zoo.errors import HubError
from topdown_zoo.hub.layout import MANIFEST, MIRROR_ENV, WEIGHTS
from topdown_zoo.hub.manifest import read_manifest

if TYPE_CHECKING:
    from topdown_zoo.registry import ModelSpec


#: where resolved weights came from; "published" sources must match the package's pins
Source = Literal["weights", "mirror", "shipped", "hf", "hf-revision"]
PUBLISHED_SOURCES = ("mirror", "shipped", "hf")

_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_REVISION = re.compile(r"[A-Za-z0-9._/-]{1,255}")


def check_repo_id(repo_id: object) -> str:
    """``repo_id`` if it is a Hugging Face model repo id ``owner/name`` (letters, digits, ``._-``;
    no ``..`` or ``--``), else a :class:`HubError`. A bare ``name`` is refused: say whose repo it is."""
    text = repo_id if isinstance(repo_id, str) else ""
    parts = text.split("/")
    if (len(parts) != 2 or not all(_REPO_PART.fullmatch(p) for p in parts)
            or any(".." in p or "--" in p for p in parts)):
        raise HubError(f"{repo_id!r} is not a Hugging Face repo id: use owner/name (letters, digits, '.', '_', '-'; "
                       "no '..' or '--'), e.g. my-org/cbl-cnn-mnist5k")
    return text


def check_revision(revision: object) -> str:
    """``revision`` if it is a branch, tag or commit hash name git accepts (no ``..``, no leading
    or trailing ``/``, no ``//``, no spaces or special characters), else a :class:`HubError`."""
    text = revision if isinstance(revision, str) else ""
    if (not _REVISION.fullmatch(text) or ".." in text or "//" in text or text.startswith(("/", "-", "."))
            or text.endswith(("/", ".", ".lock"))):
        raise HubError(f"revision {revision!r} is not a branch, tag or commit hash name (letters, digits, "
                       "'.', '_', '-', '/'; no '..', no leading or trailing '/')")
    return text


def _is_hub_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / WEIGHTS).is_file()


def hub_folder_of(path: str | Path) -> Path:
    """``path`` itself, or ``path/hub`` for a training run directory (the runner writes its
    publishable folder there), so that a run directory can be loaded and published directly."""
    path = Path(path)
    if path.is_dir() and not (path / MANIFEST).is_file() and (path / "hub" / MANIFEST).is_file():
        return path / "hub"
    return path


def mirror_dir() -> Path | None:
    """The local mirror folder named by ``$TOPDOWN_ZOO_HUB``, or None."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


def _mirror_help(repo_id: str, revision: str | None, name: str | None = None) -> str:
    rev = f" --revision {revision}" if revision else ""
    name = name or repo_id.split("/")[-1]
    return (
        f"To use it offline, either (a) copy its hub folder to $TOPDOWN_ZOO_HUB/{name} (any folder; "
        f"`export {MIRROR_ENV}=/path/to/mirror`), or (b) on a connected machine run "
        f"`hf download {repo_id}{rev}` (older: `huggingface-cli download {repo_id}{rev}`) and copy its cache "
        "(~/.cache/huggingface/hub, or $HF_HUB_CACHE) to this machine; or unset HF_HUB_OFFLINE "
        "on a machine with network access."
    )


def _download(repo_id: str, revision: str | None, name: str | None = None) -> Path:
    """Fetch the exact files of a hub folder at one revision; returns the snapshot folder."""
    import huggingface_hub as hf
    from huggingface_hub import errors as hf_errors

    def fail(err: Exception, what: str) -> HubError:
        offline = hf.constants.is_offline_mode()
        if isinstance(err, (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled)):
            state = "HF_HUB_OFFLINE is set and" if offline else "the Hub cannot be reached and"
            return HubError(f"cannot get {what} of {repo_id} at revision {revision or 'main'}: {state} "
                            f"it is not in the Hugging Face cache. {_mirror_help(repo_id, revision, name)}")
        if isinstance(err, hf_errors.RevisionNotFoundError):
            return HubError(f"{repo_id} has no revision {revision!r} (a branch, tag or commit hash): {err}")
        if isinstance(err, hf_errors.RepositoryNotFoundError):
            return HubError(f"the Hugging Face repo {repo_id} does not exist or is private "
                            f"(log in with `hf auth login`): {err}")
        if isinstance(err, hf_errors.EntryNotFoundError):
            return HubError(f"{repo_id} at revision {revision or 'main'} has no {what}; is it a topdown_zoo hub repo?")
        return HubError(f"cannot download {what} of {repo_id}: {err}. {_mirror_help(repo_id, revision, name)}")

    try:
        manifest = Path(hf.hf_hub_download(repo_id, MANIFEST, revision=revision, library_name="topdown_zoo"))
    except (hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
            hf_errors.EntryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.RepositoryNotFoundError,
            OSError, ValueError) as err:
        raise fail(err, MANIFEST) from err
    snapshot = manifest.parent
    commit = snapshot.name  # snapshots/<commit sha>/SHA256SUMS: fetch the rest at that exact commit
    for file_name in read_manifest(snapshot):
        try:
            hf.hf_hub_download(repo_id, file_name, revision=commit, library_name="topdown_zoo")
        except (hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled,
                hf_errors.EntryNotFoundError, OSError, ValueError) as err:
            raise fail(err, file_name) from err
    return snapshot


def resolve(spec: ModelSpec, revision: str | None = None, weights: str | Path | None = None) -> Path | None:
    """Where the weights of ``spec`` are: a hub folder or a ``.weights.h5`` file, or None.

    Order: ``weights=`` (explicit path); ``$TOPDOWN_ZOO_HUB/<name>``; the folders shipped with the
    package (``hub/<name>``); the Hugging Face Hub (``spec.hf_repo_id`` at ``revision``, through its
    cache; honours ``HF_HUB_OFFLINE``). A ``revision`` skips the local copies, which carry none.
    Returns None when the model has no weights anywhere and no ``hf_repo_id``.
    """
    found = resolve_source(spec, revision, weights)
    return None if found is None else found[0]


def resolve_source(spec: ModelSpec, revision: str | None = None,
                   weights: str | Path | None = None) -> tuple[Path, Source] | None:
    """:func:`resolve`, and where the path came from: ``"weights"`` (the caller's path),
    ``"mirror"``, ``"shipped"``, ``"hf"`` (the entry's repo at its default revision) or
    ``"hf-revision"``. The mirror, shipped and ``hf`` copies are the published weights
    (:data:`PUBLISHED_SOURCES`), which must match the package's pins."""
    from topdown_zoo import paths

    if revision is not None:
        check_revision(revision)
    if weights is not None:
        path = hub_folder_of(Path(weights).expanduser())
        if path.is_dir():
            if not _is_hub_folder(path):
                raise HubError(f"{path} is not a hub folder (no {WEIGHTS}); "
                               "give a folder written by topdown_zoo.hub.package or a .weights.h5 file")
            return path, "weights"
        if path.is_file():
            return path, "weights"
        raise HubError(f"weights path {path} does not exist")
    if revision is None:
        mirror = mirror_dir()
        if mirror is not None and (mirror / spec.name).exists():
            if not _is_hub_folder(mirror / spec.name):
                raise HubError(f"{mirror / spec.name} (${MIRROR_ENV}/{spec.name}) holds no {WEIGHTS}: copy the "
                               f"complete hub folder there, or remove it (or unset {MIRROR_ENV}) to use the "
                               "other copies")
            return mirror / spec.name, "mirror"
        shipped = paths.shipped_hub_dir() / spec.name
        if _is_hub_folder(shipped):
            return shipped, "shipped"
    if spec.hf_repo_id:
        return _download(spec.hf_repo_id, revision, spec.name), "hf" if revision is None else "hf-revision"
    if revision is not None:
        raise HubError(f"{spec.name} has no Hugging Face repo (hf_repo_id), so revision={revision!r} "
                       "cannot be resolved; drop revision to use the local copies")
    return None


def resolve_hf_handle(handle: str, revision: str | None = None) -> Path:
    """The snapshot folder of an ``hf://org/name`` handle (optionally ``hf://org/name@revision``)."""
    if not handle.startswith("hf://"):
        raise HubError(f"{handle!r} is not an hf://org/name handle")
    repo_id = handle[len("hf://"):].strip("/")
    if "@" in repo_id:
        repo_id, _, at = repo_id.partition("@")
        revision = revision or check_revision(at)
        check_revision(at)
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"{handle!r} is not an hf://org/name handle")
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    return _download(repo_id, revision)

"""Publishing a verified hub folder to a Hugging Face model repository."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from topdown_zoo.errors import HubError
from topdown_zoo.hub.layout import MANIFEST
from topdown_zoo.hub.manifest import sha256_file, verify
from topdown_zoo.hub.resolving import check_repo_id, check_revision, hub_folder_of


def publish(dir: str | Path, repo_id: str, revision: str | None = None, private: bool = False,
            dry_run: bool = False, *, token: str | None = None,
            commit_message: str | None = None) -> str | dict[str, Any]:
    """Upload a hub folder to the Hugging Face repo ``repo_id`` (created if needed).

    ``dir`` is a hub folder, or a training run directory (its ``hub/`` folder is uploaded).
    ``repo_id`` must be ``owner/name`` and ``revision`` a branch name (checked before anything else).
    The folder is verified first; files it holds that ``SHA256SUMS`` does not list are refused.
    The token comes from ``token=``, ``HF_TOKEN`` or the stored login (``hf auth login``); it is
    never printed or logged. ``dry_run=True`` prints and returns the files that would be uploaded
    (name, size, sha256) without any network access. Returns the commit URL.
    """
    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    folder = hub_folder_of(dir)
    entries = verify(folder)
    files = [(name, (folder / name).stat().st_size, digest) for name, digest in entries.items()]
    files.append((MANIFEST, (folder / MANIFEST).stat().st_size, sha256_file(folder / MANIFEST)))
    extra = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.relative_to(folder).as_posix() not in entries and p.name != MANIFEST)
    if extra:
        raise HubError(f"{folder} holds files that {MANIFEST} does not list ({', '.join(extra)}); "
                       "re-package the folder so that every uploaded file is verifiable")
    target = f"{repo_id}" + (f"@{revision}" if revision else "")
    if dry_run:
        lines = [f"would upload {len(files)} files to https://huggingface.co/{target}"
                 + (" (private)" if private else "") + ":"]
        lines += [f"  {name}  {size} bytes  sha256 {digest}" for name, size, digest in files]
        print("\n".join(lines))
        return {"repo_id": repo_id, "revision": revision, "private": private,
                "files": [{"path": n, "size": s, "sha256": d} for n, s, d in files]}

    import huggingface_hub as hf

    token = token or hf.get_token()
    if not token:
        raise HubError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (a token with write access) "
                       f"to publish to {repo_id}; nothing was uploaded")
    api = hf.HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision, repo_type="model",
                                   allow_patterns=[name for name, _, _ in files],
                                   commit_message=commit_message or f"Upload {folder.name} with topdown_zoo")
    except Exception as err:
        message = str(err).replace(token, "***")  # never echo the token
        raise HubError(f"publishing {folder} to {repo_id} failed: {message}") from None
    return str(getattr(commit, "commit_url", None) or commit)

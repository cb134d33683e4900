"""Checksums of a hub folder: ``SHA256SUMS`` (``<sha256>  <file>``, as ``sha256sum -c`` reads it)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from topdown_zoo.errors import HubError
from topdown_zoo.hub.layout import CONFIG, MANIFEST, WEIGHTS


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The hex sha256 of the file at ``path`` (read in ``chunk``-byte blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict[str, str]:
    """``{file name: sha256}`` from ``folder/SHA256SUMS``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise HubError(f"{folder} has no {MANIFEST} manifest, so its files cannot be verified; "
                       "package it with topdown_zoo.hub.package(model, out_dir).")
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise HubError(f"{path}: line {number} is not '<sha256>  <file>': {line!r}")
        digest, name = parts[0].lower(), parts[1].strip().lstrip("*")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise HubError(f"{path}: refusing the file name {name!r} (outside the folder)")
        entries[name] = digest
    return entries


def write_manifest(folder: str | Path) -> dict[str, str]:
    """Write ``SHA256SUMS`` for every file in ``folder`` (except itself); returns the entries."""
    folder = Path(folder)
    entries = {p.relative_to(folder).as_posix(): sha256_file(p)
               for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text("".join(f"{digest}  {name}\n" for name, digest in entries.items()))
    return entries


def verify(folder: str | Path) -> dict[str, str]:
    """Check every file listed in the folder's ``SHA256SUMS``; returns ``{file: sha256}``.

    Raises :class:`HubError` for a missing manifest, a missing required file (``config.json``,
    ``model.weights.h5``), a listed file that is absent, or a hash that differs (naming the file,
    the expected and the actual hash).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder")
    entries = read_manifest(folder)
    for required in (WEIGHTS, CONFIG):
        if required not in entries:
            raise HubError(f"{folder / MANIFEST} does not list {required}; the folder is incomplete")
    for name, expected in entries.items():
        path = folder / name
        if not path.is_file():
            raise HubError(f"{path} is listed in {MANIFEST} but missing; download or copy the folder again")
        actual = sha256_file(path)
        if actual != expected:
            raise HubError(
                f"sha256 mismatch for {path}: {MANIFEST} expects {expected}, the file has {actual}. "
                "The file is corrupt, truncated or was changed after packaging; download it again."
            )
    return entries

"""Atomic writes: a file or folder that replaces another is written beside it, flushed to disk
(``fsync``) and renamed into place, so a reader (or a rerun after ``kill -9``) sees either the old
content or the new one, never a mix or a truncated file.

Temporary siblings are hidden and carry the writer's pid: ``.<name>.<pid>-<hex>.tmp`` (the new
content) and ``.<name>.<pid>-<hex>.old`` (a replaced folder on its way out). A write killed half-way
leaves such a sibling; :func:`clean_leftovers` removes those of dead writers and, when a folder was
killed between being moved aside and its replacement moved in, puts the old folder back.

Every writer of the zoo goes through here: the training runner (run directory files,
checkpoints), hub packaging and exports.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path

#: environment variable for fault-injection tests: ``POINT=MARKER`` makes the process that reaches
#: :func:`fault_point` ``POINT`` create the file ``MARKER`` and wait there (to be killed)
PAUSE_ENV = "TOPDOWN_ZOO_PAUSE_AT"
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?P<kind>tmp|old)(\..*)?$")


def fault_point(name: str) -> None:
    """Test hook: pause here forever when ``$TOPDOWN_ZOO_PAUSE_AT`` is ``name=MARKER``."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec or spec.partition("=")[0] != name:
        return
    Path(spec.partition("=")[2]).write_text(str(os.getpid()))
    print(f"paused at {name} (pid {os.getpid()})", file=sys.stderr, flush=True)
    while True:
        time.sleep(1)


def sibling(path: str | Path, kind: str = "tmp") -> Path:
    """A hidden, unique name next to ``path`` for new (``tmp``) or outgoing (``old``) content.

    The name ends like ``path`` (``.weights.h5``, ``.keras``, ...) for writers that check it.
    """
    path = Path(path)
    ending = ".weights.h5" if path.name.endswith(".weights.h5") else path.suffix
    return path.parent / f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{kind}{ending}"


def _fsync_path(path: Path) -> None:
    """Flush a file, or a folder and everything in it, to disk (best effort for folders)."""
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _fsync_path(child)
        _fsync_dir(path)
    elif path.is_file() and not path.is_symlink():
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` (and the folder's own entries) durable; a no-op where a
    folder cannot be opened (e.g. Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: str | Path, path: str | Path) -> Path:
    """Move the finished ``tmp`` (a file or a folder) onto ``path``, replacing what is there.

    ``tmp`` is flushed to disk first. A file replaces a file in one rename. A folder that replaces
    a folder is moved in after the old one is renamed aside (``.old``), then the old one is
    deleted; if the move fails the old folder is put back.
    """
    tmp, path = Path(tmp), Path(path)
    _fsync_path(tmp)
    real_dir = path.is_dir() and not path.is_symlink()
    if tmp.is_dir() and real_dir:
        old = sibling(path, "old")
        os.replace(path, old)
        fault_point(f"swap {path.name}")
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        _fsync_dir(path.parent)
        remove(old)
    else:
        if real_dir or (tmp.is_dir() and (path.exists() or path.is_symlink())):
            remove(path)  # a file replacing a folder or the reverse (callers check that they may)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary sibling, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_marked_block(path: str | Path, start: str, end: str, body: str, new_page: str = "") -> Path:
    """Put ``start``, ``body`` and ``end`` (one a line) in place of the block between the markers
    ``start`` and ``end`` of the text file ``path`` (the generated part of a docs page), atomically.
    Without the markers the block is appended; a missing file starts as ``new_page``."""
    path = Path(path)
    text = path.read_text() if path.is_file() else new_page
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text)


def remove(path: str | Path) -> None:
    """Delete a file or folder if it exists (a symlink itself, never its target)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def is_running(pid: int) -> bool:
    """Whether process ``pid`` exists (this process included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a platform without signal 0: assume alive
    return True


def leftovers(path: str | Path) -> list[Path]:
    """Temporary siblings of ``path`` left by writers that are no longer running."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = []
    for candidate in path.parent.iterdir():
        match = _SIBLING.match(candidate.name)
        if match and match["name"] == path.name and not is_running(int(match["pid"])):
            found.append(candidate)
    return sorted(found)


def clean_leftovers(path: str | Path) -> list[Path]:
    """Remove what killed writes of ``path`` left beside it; returns what was removed.

    When ``path`` is missing and an outgoing ``.old`` copy survives (a kill between the two
    renames of :func:`commit`), the old copy is moved back first: nothing the user had is lost.
    Legacy ``.<name>.*.tmp`` folders of older zoo versions are removed too.
    """
    path = Path(path)
    stale = leftovers(path)
    olds = [p for p in stale if _SIBLING.match(p.name)["kind"] == "old"]  # type: ignore[index]
    if olds and not (path.exists() or path.is_symlink()):
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        os.replace(newest, path)
        stale.remove(newest)
    if path.parent.is_dir():  # topdown_zoo <= 0.2 packaged into tempfile.mkdtemp(".<name>.", ".tmp")
        legacy = re.compile(rf"^\.{re.escape(path.name)}\.[A-Za-z0-9_]{{8}}\.tmp$")
        stale += [p for p in path.parent.iterdir() if legacy.match(p.name) and p.is_dir()]
    for leftover in stale:
        remove(leftover)
    return stale


def clean_folder(folder: str | Path) -> list[Path]:
    """:func:`clean_leftovers` for every target in ``folder`` with leftovers of a dead writer
    (for a folder only one process writes to, e.g. a locked run directory)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    names = {m["name"] for m in map(_SIBLING.match, (p.name for p in folder.iterdir())) if m}
    return [p for name in sorted(names) for p in clean_leftovers(folder / name)]

"""Where the zoo's shipped files live: recipes and the packaged hub folders.

In a source checkout (and an editable install) they are the repository's ``recipes/`` and
``hub/`` folders; a wheel carries copies under ``topdown_zoo/_bundled/``.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def recipes_dir() -> Path:
    return _first_existing(PACKAGE_ROOT.parent / "recipes", PACKAGE_ROOT / "_bundled" / "recipes")


def shipped_hub_dir() -> Path:
    return _first_existing(PACKAGE_ROOT.parent / "hub", PACKAGE_ROOT / "_bundled" / "hub")

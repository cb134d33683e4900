"""Errors the zoo raises on bad input.

Every error names the problem and the fix. The CLI prints ``str(error)`` on one line and
exits with status 2 for any :class:`TopdownZooError`.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class TopdownZooError(ValueError):
    """Base class of every error caused by the user's input (names, recipes, data, files)."""


class UnknownModelError(TopdownZooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class WeightsNotAvailableError(TopdownZooError):
    """A registered model whose trained weights are not published (yet)."""


class RecipeError(TopdownZooError):
    """A recipe file, key or value that is not allowed."""


class TrainingError(TopdownZooError):
    """A training run that cannot go on: its run directory is in use, its checkpoint does not fit,
    or its loss or weights became non-finite (nothing is packaged then)."""


class InputSpecError(TopdownZooError):
    """Data of the wrong shape, dtype or range given to a model."""


class DatasetError(TopdownZooError):
    """A dataset that is unknown or cannot be prepared (e.g. offline without a manual download)."""


class HubError(TopdownZooError):
    """Weights that cannot be resolved, verified or loaded."""


class ConfigError(TopdownZooError):
    """A model config value that is not allowed (a family's constructor argument)."""


class ExportError(TopdownZooError):
    """An export that cannot be done as asked (format, options, model)."""


class ExportParityError(ExportError):
    """The exported artifact's outputs differ from Keras by more than the tolerance."""


class BackendError(TopdownZooError):
    """Something the active Keras backend (or a missing optional package) cannot do."""


def close_matches(word: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Names from ``candidates`` that look like ``word`` (edit-distance based, best first)."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(word, candidates, n=n, cutoff=0.5)
    # Substring hits ("cbl" -> every cbl-* entry) are as useful as typo fixes.
    matches += [c for c in candidates if word and word in c and c not in matches]
    return matches[:n]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean: a, b?' suffix, or '' when nothing is close."""
    matches = close_matches(word, candidates)
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


class UnpinnedWeightsWarning(UserWarning):
    """Weights loaded from a folder or file that no pin of the package vouches for (a user's own
    run, or a copy that differs from every published entry): only its own ``SHA256SUMS`` was checked."""

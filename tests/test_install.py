"""The install that CI makes (tools/install.sh: `pip install -e ".[dev,backends,keras-hub]"`) is clean.

Issue 14, item 5: the `keras-hub` extra must install beside the base install without a second
TensorFlow distribution, and CI must test that install. These tests read what pip installed.
"""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _extra(name: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["optional-dependencies"][name]]


def test_one_tensorflow_distribution() -> None:
    """`tensorflow` and `tensorflow-cpu` both install the `tensorflow` module; only one may be present."""
    assert _installed("tensorflow") is not None
    assert _installed("tensorflow-cpu") is None, "tensorflow-cpu beside tensorflow: rerun tools/install.sh"


@pytest.mark.parametrize("extra", ["keras-hub", "dev", "backends"])
def test_extra_requirements_are_met(extra: str) -> None:
    for requirement in _extra(extra):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = _installed(requirement.name)
        assert version is not None, f"{requirement.name} (extra {extra}) is not installed"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement} but {version} installed"


def test_pip_check_finds_no_broken_requirement() -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_keras_hub_and_tensorflow_text_import_together() -> None:
    """keras-hub imports tensorflow-text for its tokenizers: with one TF distribution both load in one process."""
    code = "import tensorflow_text, keras_hub; print(keras_hub.__version__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == _installed("keras-hub")

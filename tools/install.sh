#!/usr/bin/env bash
# Install topdown_zoo for development into .venv (README quick start, .ci/run): the package with
# the test tools and the JAX / PyTorch backends, then keras-hub for the pretrained-backbone tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.13.0 resolves to the local CPU wheel; never let pip pick a newer torch (CUDA downloads)
.venv/bin/python -m pip install --quiet -e ".[dev,backends]"
# keras-hub without tensorflow-text (text tokenizers only; see pyproject.toml's dev extra)
.venv/bin/python -m pip install --quiet --no-deps "keras-hub>=0.32,<0.33"

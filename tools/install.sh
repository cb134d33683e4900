#!/usr/bin/env bash
# Install topdown_zoo for development into .venv (README quick start, .ci/run): the package with
# the test tools, the JAX / PyTorch backends and keras-hub (pretrained backbones), the way a user installs extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# A venv made by an older install has tensorflow-cpu (maybe beside tensorflow): remove both first, since the
# two distributions share the `tensorflow` module and removing one later deletes the other's files.
if .venv/bin/python -m pip show --quiet tensorflow-cpu >/dev/null 2>&1; then
  .venv/bin/python -m pip uninstall --quiet --yes tensorflow-cpu tensorflow
fi
# torch==2.13.0 resolves to the local CPU wheel; never let pip pick a newer torch (CUDA downloads)
.venv/bin/python -m pip install --quiet -e ".[dev,backends,keras-hub]"

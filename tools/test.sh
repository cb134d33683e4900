#!/usr/bin/env bash
# The project's test command (README, .ci/run): lint, types, the default suite on TensorFlow,
# then the backend-neutral tests (-m backends) on JAX and on PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export TF_CPP_MIN_LOG_LEVEL=3
"$PY" -m ruff check topdown_zoo tests tools benchmarks examples
"$PY" -m mypy
"$PY" -m pytest -q --durations=15
for backend in jax torch; do
  echo "== backend-neutral tests on KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend "$PY" -m pytest -q -m "backends and not slow"
done

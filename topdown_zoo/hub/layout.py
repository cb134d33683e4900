"""The files of a hub folder (the layout of a Hugging Face model repository) and their names."""
from __future__ import annotations

MANIFEST = "SHA256SUMS"
WEIGHTS = "model.weights.h5"
CONFIG = "config.json"
METADATA = "metadata.json"
METRICS = "metrics.json"
CARD = "README.md"
RECIPE = "recipe.yaml"
FORMAT = "topdown_zoo-hub"
FORMAT_VERSION = 1
MIRROR_ENV = "TOPDOWN_ZOO_HUB"

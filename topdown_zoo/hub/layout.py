"""The files of a hub folder (the layout of a Hugging Face model repository) and their names."""
from __future__ import annotations

MANIFEST = "SHA256SUMS"
WEIGHTS = "model.weights.h5"
CONFIG = "config.json"
METADATA = "metadata.json"
METRICS = "metrics.json"
CARD = "README.md"
RECIPE = "recipe.yaml"
HISTORY = "history.csv"  # per-epoch training log (optional)
CURVES = "curves.png"  # drawn from it
FORMAT = "topdown_zoo-hub"
FORMAT_VERSION = 2
# format 2: config.json is Keras's own serialization (keras.saving.load_model reads the folder) and the
# zoo's fields live in metadata.json["topdown_zoo"]; format 1 kept them in config.json (still read).
MIRROR_ENV = "TOPDOWN_ZOO_HUB"

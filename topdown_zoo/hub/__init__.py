"""The hub: package, verify, publish, resolve and load trained models.

A *hub folder* is the exact layout of a Hugging Face model repository (keras-hub's preset
folder, plus a few files of ours)::

    README.md           model card: YAML front matter (model-index with the measured metrics) + text
    config.json         registry name + overrides and the Keras config: enough to rebuild the model
    model.weights.h5    the weights (Keras 3 ``.weights.h5``; no code, no pickles)
    metadata.json       keras / topdown_zoo versions, backend, parameter count, date
    metrics.json        what the training / evaluation run measured
    recipe.yaml         the recipe that produced the weights (when known)
    SHA256SUMS          ``<sha256>  <file>`` for every other file (``sha256sum -c SHA256SUMS`` works)

One module per job: :mod:`~topdown_zoo.hub.manifest` (checksums), :mod:`~topdown_zoo.hub.packaging`
(writing a folder), :mod:`~topdown_zoo.hub.resolving` (explicit path > ``$TOPDOWN_ZOO_HUB`` mirror >
folders shipped in the package > the Hugging Face Hub through its cache),
:mod:`~topdown_zoo.hub.load` (verify, :func:`rebuild` the architecture, load the weights),
:mod:`~topdown_zoo.hub.pins` (the sha256 pins of every published folder, ``pins.json``, checked
on every load) and :mod:`~topdown_zoo.hub.publishing` (upload); :mod:`~topdown_zoo.hub.layout`
names the files.
"""
from topdown_zoo.hub.layout import (
    CARD,
    CONFIG,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    METADATA,
    METRICS,
    MIRROR_ENV,
    RECIPE,
    WEIGHTS,
)
from topdown_zoo.hub.load import load_folder, load_weights_file, load_weights_into, read_config, rebuild
from topdown_zoo.hub.manifest import read_manifest, sha256_file, verify, write_manifest
from topdown_zoo.hub.packaging import package
from topdown_zoo.hub.pins import check_folder, check_weights_file, load_pins
from topdown_zoo.hub.publishing import publish
from topdown_zoo.hub.resolving import (
    PUBLISHED_SOURCES,
    check_repo_id,
    check_revision,
    hub_folder_of,
    mirror_dir,
    resolve,
    resolve_hf_handle,
    resolve_source,
)

__all__ = [
    "CARD", "CONFIG", "FORMAT", "FORMAT_VERSION", "MANIFEST", "METADATA", "METRICS", "MIRROR_ENV",
    "PUBLISHED_SOURCES", "RECIPE", "WEIGHTS", "check_folder", "check_repo_id", "check_revision",
    "check_weights_file", "hub_folder_of", "load_folder", "load_pins", "load_weights_file", "load_weights_into",
    "mirror_dir", "package", "publish", "read_config", "read_manifest", "rebuild", "resolve", "resolve_hf_handle",
    "resolve_source", "sha256_file", "verify", "write_manifest",
]

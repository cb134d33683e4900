"""BU-TD: a bottom-up network and its mirrored top-down network for Counter-Hebbian learning and
task attention (``mirror.py``, ``model.py``, ``bodies.py``).

Kept import-free so that listing the registry never imports Keras."""

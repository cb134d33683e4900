"""Contextual Backpropagation Loops (CBL) and their feed-forward baselines: ``model.py``.

Kept import-free so that listing the registry never imports Keras."""

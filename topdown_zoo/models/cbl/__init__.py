"""Contextual Backpropagation Loops (CBL) and their feed-forward baselines."""
from topdown_zoo.models.cbl.model import CBLModel, FeedforwardClassifier, build_cbl, build_feedforward

__all__ = ["CBLModel", "FeedforwardClassifier", "build_cbl", "build_feedforward"]

"""Backprop-trained baselines of the predictive-coding papers (plain Keras models)."""

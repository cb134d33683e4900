"""Small BU-TD models shared by the BU-TD tests."""
import numpy as np
from keras import layers

from topdown_zoo.models.butd.model import BUTDModel


def conv_body():
    """Conv 'valid' stride 1, 'same' stride 2, 'valid' stride 2 (kernel 2), flatten, dense."""
    return [layers.Conv2D(4, 3, 1, padding="valid", activation="relu", use_bias=False, name="c1"),
            layers.Conv2D(4, 3, 2, padding="same", activation="relu", use_bias=False, name="c2"),
            layers.Conv2D(5, 2, 2, padding="valid", activation="relu", use_bias=False, name="c3"),
            layers.Flatten(name="flat"), layers.Dense(12, activation="relu", use_bias=False, name="fc")]


def small_model(body=None, shape=(11, 11, 1), **kw):
    """A built BUTDModel over ``body`` (default :func:`conv_body`), 2 tasks and 3 classes by default."""
    m = BUTDModel(body or conv_body(), num_tasks=kw.pop("num_tasks", 2), num_classes=kw.pop("num_classes", 3), **kw)
    m((np.zeros((1,) + shape, "float32"), np.zeros((1,), "int32")))
    return m

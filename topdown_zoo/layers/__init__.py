"""Reusable Keras layers shared by the families (adapters, backbones, ...)."""
from topdown_zoo.layers.adapters import ADAPTERS, ConcatConvAdapter, FiLMAdapter, GatingAdapter, make_adapter
from topdown_zoo.layers.backbones import BACKBONES, BasicBlock, make_backbone

__all__ = [
    "ADAPTERS", "BACKBONES", "BasicBlock", "ConcatConvAdapter", "FiLMAdapter", "GatingAdapter",
    "make_adapter", "make_backbone",
]

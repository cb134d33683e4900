"""Keras layers shared by several families (backbones: CBL and BU-TD; conv ops: the local rules).

Layers of one family live in that family's folder (CBL's adapters in ``models/cbl``, the ConvRNN
cells in ``models/convrnn``).
"""
from topdown_zoo.layers.backbones import BACKBONES, BasicBlock, make_backbone

__all__ = ["BACKBONES", "BasicBlock", "make_backbone"]

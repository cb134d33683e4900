"""Model families: one sub-package per family (cbl, ngc, butd, convrnn, baselines).

Families never import each other; each declares its registry entries in ``presets.py``.
"""

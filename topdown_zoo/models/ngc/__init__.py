"""Neural generative coding: the GNCN (Ororbia & Kifer, ``gncn.py``) and Conv-NGC (Ororbia & Mali,
``conv_ngc.py``).

Kept import-free so that listing the registry never imports Keras."""

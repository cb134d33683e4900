"""Neural generative coding: the GNCN (Ororbia & Kifer) and Conv-NGC (Ororbia & Mali)."""
from topdown_zoo.models.ngc.conv_ngc import ConvNGC, build_conv_ngc
from topdown_zoo.models.ngc.gncn import GNCN, build_gncn

__all__ = ["GNCN", "build_gncn", "ConvNGC", "build_conv_ngc"]

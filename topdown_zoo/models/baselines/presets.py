"""Backprop baselines of the GNCN and Conv-NGC papers (autoencoders trained on one objective each).

``paper_results`` are the papers' numbers, not ours; shipped entries have measured numbers in
``hub/<name>/metrics.json``.
"""
from typing import Any

from topdown_zoo.data.ngc_binary import PREPROCESSING as BINARY_PREP
from topdown_zoo.data.ngc_images import PREPROCESSING as IMAGE_PREP
from topdown_zoo.data.ngc_natural import PREPROCESSING as NATURAL_PREP
from topdown_zoo.registry import ModelSpec

GNCN_PAPER = "Ororbia & Kifer, The neural coding framework for learning generative models (2022), appendix 4.7"
CONV_PAPER = "Ororbia & Mali, Convolutional Neural Generative Coding (2022), appendix baselines"
_CONV = "topdown_zoo.models.baselines.autoencoders:build_conv_ae"
_DENSE = "topdown_zoo.models.baselines.autoencoders:build_dense_ae"
SHIPPED = {"conv-ae-natural32", "conv-dae-natural32"}

_IMAGE_DATA = {"natural32": ("natural32", NATURAL_PREP), "cifar10": ("ngc_cifar10", IMAGE_PREP),
               "svhn": ("ngc_svhn", IMAGE_PREP), "colormnist": ("color_mnist", IMAGE_PREP)}
_CONV_VARIANTS = {
    "conv-ae": ({"filters": 32, "blocks": 4, "activation": "relu", "denoising": False},
                "convolutional autoencoder (ReLU, BN, sigmoid output)"),
    "conv-dae": ({"filters": 32, "blocks": 4, "activation": "selu", "denoising": True, "noise_std": 0.1},
                 "convolutional denoising autoencoder (SELU, input noise sigma 0.1)"),
}
_DENSE_VARIANTS: dict[str, tuple[dict[str, Any], str, dict[str, str]]] = {
    "rae": ({"kind": "rae"}, "regularised autoencoder", {"bce": "52.55 ± 0.11", "log_px": "-119.38 ± 1.16"}),
    "gvae": ({"kind": "gvae"}, "Gaussian VAE", {"bce": "75.95 ± 0.96", "log_px": "-98.87 ± 0.75"}),
    "gvae-cv": ({"kind": "gvae_cv", "fixed_variance": 0.1}, "constant-variance Gaussian VAE",
                {"bce": "71.19 ± 0.40", "log_px": "-104.93 ± 0.38"}),
    "gan-ae": ({"kind": "gan_ae"}, "adversarial autoencoder", {"bce": "99.30 ± 0.14", "log_px": "-95.50 ± 0.17"}),
}


def _specs() -> list[ModelSpec]:
    out = []
    for prefix, (config, desc) in _CONV_VARIANTS.items():
        for tag, (dataset, prep) in _IMAGE_DATA.items():
            name = f"{prefix}-{tag}"
            out.append(ModelSpec(name=name, family="baselines", builder=_CONV, config=config, input_shape=(32, 32, 3),
                                 dataset=dataset, recipe=f"{name}.yaml", description=f"{desc} on {dataset}",
                                 task="generative", input_range=(0.0, 1.0), preprocessing=prep,
                                 evaluator="topdown_zoo.models.ngc.evaluate:evaluate_image", paper=CONV_PAPER,
                                 weights="hub" if name in SHIPPED else None))
    for prefix, (config, desc, paper) in _DENSE_VARIANTS.items():
        for tag, dataset in (("mnist5k", "mnist5k_binary"), ("mnist", "binarized_mnist")):
            name = f"{prefix}-{tag}"
            out.append(ModelSpec(name=name, family="baselines", builder=_DENSE,
                                 config={"hidden": [360, 360], "latent": 20, "decoder_l2": 1e-4, **config},
                                 input_shape=(784,), dataset=dataset, recipe=f"{name}.yaml",
                                 description=f"{desc} (GNCN paper baseline) on {dataset}", task="generative",
                                 input_range=(0.0, 1.0), preprocessing=BINARY_PREP,
                                 evaluator="topdown_zoo.models.ngc.evaluate:evaluate_gncn", paper=GNCN_PAPER,
                                 paper_results=paper if tag == "mnist" else {}))
    return out


PRESETS = _specs()

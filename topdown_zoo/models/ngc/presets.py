"""Registry entries of the neural generative coding family (GNCN and Conv-NGC).

``paper_results`` quote the papers' own numbers (GNCN Tables 1–2: MNIST/KMNIST/FMNIST, 10 trials;
Conv-NGC Tables 1–2, 5 trials); they were not measured by this project. The entries whose
``weights`` is "hub" were trained here; their measured numbers are in ``hub/<name>/metrics.json``.

Variant names follow the issue: ``t1`` = Rao–Ballard-style GNCN (no Σ, no lateral, tied E),
``t1-sigma`` = with learned precision Σ, ``pdh`` = the paper's full GNCN (Σ, learned error
synapses E, lateral competition in columns of K = 18 units: 20 columns of the 360-unit layers).
"""
from topdown_zoo.data.ngc_binary import PREPROCESSING as BINARY_PREP
from topdown_zoo.data.ngc_images import PREPROCESSING as IMAGE_PREP
from topdown_zoo.data.ngc_natural import PREPROCESSING as NATURAL_PREP
from topdown_zoo.registry import ModelSpec

GNCN_PAPER = ("Ororbia & Kifer, The neural coding framework for learning generative models "
              "(Nature Communications 2022)")
CONV_PAPER = ("Ororbia & Mali, Convolutional Neural Generative Coding: Scaling Predictive Coding to Natural Images "
              "(2022)")
_GNCN = "topdown_zoo.models.ngc.gncn:build_gncn"
_CONV = "topdown_zoo.models.ngc.conv_ngc:build_conv_ngc"
_EVAL_G = "topdown_zoo.models.ngc.evaluate:evaluate_gncn"
_EVAL_I = "topdown_zoo.models.ngc.evaluate:evaluate_image"

_BASE = {"hidden": [360, 360, 360], "iterations": 50, "beta": 0.1, "leak": 0.001, "activation": "relu",
         "output_activation": "sigmoid", "weight_norm": "unit"}
VARIANTS = {
    "t1": ({**_BASE, "precision": False, "error_synapses": "tied", "lateral": False},
           "Rao-Ballard-style GNCN (no precision, no lateral competition, E = W^T)"),
    "t1-sigma": ({**_BASE, "precision": True, "error_synapses": "tied", "lateral": False},
                 "GNCN with learned precision matrices (E = W^T)"),
    "pdh": ({**_BASE, "precision": True, "error_synapses": "learned", "error_rate": 0.9, "lateral": True,
             "group_size": 18, "alpha_e": 0.13, "alpha_h": 0.125},
            "full GNCN: precision, learned error synapses, lateral competition (20 columns of 18)"),
}
_GNCN_DATA = {
    "mnist5k": ("mnist5k_binary", "mnist5k (5,000 real MNIST digits, offline), binarised at 0.5", {}),
    "mnist": ("binarized_mnist", "MNIST binarised at 0.5",
              {"bce": "58.05 ± 0.11", "log_px": "-98.29 ± 0.12", "latent_error": "1.32 ± 0.23 %",
               "masked_mse": "14.19 ± 0.11"}),
    "kmnist": ("binarized_kmnist", "KMNIST binarised at 0.5",
               {"bce": "142.22 ± 0.23", "log_px": "-222.76 ± 0.30", "latent_error": "12.67 ± 0.27 %",
                "masked_mse": "26.90 ± 0.11"}),
    "fmnist": ("binarized_fashion_mnist", "Fashion-MNIST binarised at 0.5",
               {"bce": "99.79 ± 0.24", "log_px": "-131.32 ± 0.29", "latent_error": "14.84 ± 0.44 %",
                "masked_mse": "25.33 ± 1.48"}),
}
SHIPPED = {"gncn-t1-mnist5k", "gncn-t1-sigma-mnist5k", "gncn-pdh-mnist5k", "conv-ngc-natural32"}


def _gncn_specs() -> list[ModelSpec]:
    out = []
    for tag, (dataset, what, paper) in _GNCN_DATA.items():
        for variant, (config, desc) in VARIANTS.items():
            name = f"gncn-{variant}-{tag}"
            out.append(ModelSpec(
                name=name, family="ngc", builder=_GNCN, config=config, input_shape=(784,), dataset=dataset,
                recipe=f"{name}.yaml", description=f"{desc} on {what}", task="generative",
                input_range=(0.0, 1.0), preprocessing=BINARY_PREP, evaluator=_EVAL_G, paper=GNCN_PAPER,
                paper_results=(paper if variant == "pdh" else {}), weights="hub" if name in SHIPPED else None,
                test_config={"hidden": [36, 36, 36], "iterations": 3}))
    return out


CONV_CONFIG = {"channels": [10, 15, 20, 25, 3], "kernel_size": 3, "strides": 2, "iterations": 60, "beta": 0.1,
               "leak": 0.001, "activation": "leaky_relu", "output_activation": "identity",
               "error_synapses": "tied", "init_mean": 0.5, "init_std": 0.05, "weight_std": 0.1}
_CONV_DATA = {
    "natural32": ("natural32", "32x32 patches of scikit-image photographs (offline; OOD: held-out photographs)",
                  NATURAL_PREP, {}),
    "cifar10": ("ngc_cifar10", "CIFAR-10", IMAGE_PREP,
                {"mse": "6.3668 ± 1.2522", "ssim": "0.9955 ± 0.0009 (Table 1)"}),
    "svhn": ("ngc_svhn", "SVHN", IMAGE_PREP, {"mse": "1.9500 ± 0.5609", "ssim": "0.9976 ± 0.0002 (Table 1)"}),
    "colormnist": ("color_mnist", "Color-MNIST (32x32, red/green)", IMAGE_PREP,
                   {"mse": "11.2802 ± 0.5008", "ssim": "0.9838 ± 0.0005 (Table 1)"}),
}


def _conv_specs() -> list[ModelSpec]:
    out = []
    for tag, (dataset, what, prep, paper) in _CONV_DATA.items():
        name = f"conv-ngc-{tag}"
        out.append(ModelSpec(
            name=name, family="ngc", builder=_CONV, config=CONV_CONFIG, input_shape=(32, 32, 3), dataset=dataset,
            recipe=f"{name}.yaml", description=f"Conv-NGC (5 state layers 2x2 -> 32x32, T=60) on {what}",
            task="generative", input_range=(0.0, 1.0), preprocessing=prep, evaluator=_EVAL_I, paper=CONV_PAPER,
            paper_results=paper, weights="hub" if name in SHIPPED else None, test_config={"iterations": 2}))
    return out


PRESETS = [*_gncn_specs(), *_conv_specs()]

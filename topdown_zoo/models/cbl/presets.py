"""Registry entries of the CBL family and their feed-forward baselines (CBL paper, section 4).

``paper_results`` quote the paper's own numbers (Tables 1–2, section 4.3); they were not
measured by this project. Our measured numbers live in each model's ``hub/<name>/metrics.json``.
"""
from typing import Any

from topdown_zoo.data.digit_debris import PREPROCESSING as DEBRIS_PREP
from topdown_zoo.data.mnist5k import PREPROCESSING as MNIST5K_PREP
from topdown_zoo.data.tfds_benchmarks import CIFAR10_PREPROCESSING, IMAGENET_PREPROCESSING, SPEECH_PREPROCESSING
from topdown_zoo.registry import ModelSpec

PAPER = ("Fein-Ashley, Contextual Backpropagation Loops: Amplifying Deep Reasoning with Iterative Top-Down Feedback "
         "(2025)")
_CBL = "topdown_zoo.models.cbl.model:build_cbl"
_FF = "topdown_zoo.models.cbl.model:build_feedforward"
_EVAL = "topdown_zoo.evaluation:evaluate_classifier"
_CBL_DEFAULTS = {"iterations": 2, "alpha": 0.0, "adapter": "gating"}
_SMALL_CNN = {"num_classes": 10, "widths": [16, 32, 64, 128], "dense_units": 128}
_FEEDBACK = "topdown_zoo.models.cbl.wrap:build_cbl_from_preset"
_FEEDBACK_RECIPE = "cbl-resnet18-imagenet-feedback.yaml"
#: a two-stage keras-hub ResNet with random weights: the contract tests build the feedback entry offline
_TINY_KERAS_HUB_RESNET = {"class_name": "ResNetBackbone", "config": {
    "input_conv_filters": [64], "input_conv_kernel_sizes": [3], "stackwise_num_filters": [64, 16],
    "stackwise_num_blocks": [1, 1], "stackwise_num_strides": [1, 2], "block_type": "basic_block"}}


_BASELINE = {"standard_cnn": "StandardCNN", "resnet18": "ResNet-18 baseline"}


def _pair(dataset_tag: str, dataset: str, input_shape: tuple[int, ...], backbone: str,
          backbone_config: dict[str, Any], preprocessing: Any, *, ff_name: str,
          paper_ff: dict[str, str] | None = None, paper_cbl: dict[str, str] | None = None, weights: str | None = None,
          input_range: tuple[float, float] | None = None, what: str = "") -> list[ModelSpec]:
    """The feed-forward baseline entry and its CBL version (same backbone, data and evaluator)."""
    common: dict[str, Any] = dict(dataset=dataset, input_shape=input_shape, preprocessing=preprocessing,
                                  evaluator=_EVAL, paper=PAPER, family="cbl", weights=weights, input_range=input_range,
                                  pipeline_tag="audio-classification" if dataset == "speech_commands" else None)
    cbl_name = f"cbl-{ff_name.split('-', 1)[1]}" if ff_name.startswith("standard-") else f"cbl-{ff_name}"
    return [
        ModelSpec(name=ff_name, builder=_FF, recipe=f"{ff_name}.yaml",
                  config={"backbone": backbone, "backbone_config": backbone_config},
                  description=f"feed-forward {what} baseline on {dataset_tag} (the paper's {_BASELINE[backbone]})",
                  paper_results=paper_ff or {}, **common),
        ModelSpec(name=cbl_name, builder=_CBL, recipe=f"{cbl_name}.yaml",
                  config={"backbone": backbone, "backbone_config": backbone_config, **_CBL_DEFAULTS},
                  description=f"{what} with Contextual Backpropagation Loops (T=2, gating adapters) on {dataset_tag}",
                  paper_results=paper_cbl or {}, **common),
    ]


PRESETS = [
    *_pair("CIFAR-10", "cifar10", (32, 32, 3), "standard_cnn", {"num_classes": 10}, CIFAR10_PREPROCESSING,
           ff_name="standard-cnn-cifar10", what="StandardCNN", input_range=(0.0, 1.0),
           paper_ff={"accuracy": "78.13 ± 0.46 % (5 runs, Table 1)"},
           paper_cbl={"accuracy": "80.65 ± 0.37 % (5 runs, Table 1)"}),
    *_pair("Speech Commands (12 TFDS labels)", "speech_commands", (98, 64, 1), "standard_cnn", {"num_classes": 12},
           SPEECH_PREPROCESSING, ff_name="standard-cnn-speechcommands", what="StandardCNN",
           paper_ff={"accuracy": "88.07 % (35 classes, section 4.3)"},
           paper_cbl={"accuracy": "91.24 % (35 classes, section 4.3)"}),
    *_pair("ImageNet-1k", "imagenet2012", (224, 224, 3), "resnet18", {"num_classes": 1000, "stem": "imagenet"},
           IMAGENET_PREPROCESSING, ff_name="resnet18-imagenet", what="ResNet-18",
           paper_ff={"top1": "75.25 ± 0.12 % (5 runs, Table 2)"},
           paper_cbl={"top1": "76.11 ± 0.07 % (5 runs, Table 2)"}),
    *_pair("mnist5k (5,000 real MNIST digits, offline)", "mnist5k", (28, 28, 1), "standard_cnn", _SMALL_CNN,
           MNIST5K_PREP, ff_name="standard-cnn-mnist5k", what="StandardCNN (half width)", weights="hub",
           input_range=(0.0, 1.0)),
    # CBL where context should matter (issue 13): the same network and recipe as cbl-cnn-mnist5k, trained on digit
    # debris (Spoerer et al. 2017) over mnist5k; its feed-forward twin is standard-cnn-mnist5k trained on the same data
    # (tools/measure_cbl_gain.py --task digit_debris).
    ModelSpec(name="cbl-cnn-digitdebris-mnist5k", family="cbl", builder=_CBL, recipe="cbl-cnn-digitdebris-mnist5k.yaml",
              config={"backbone": "standard_cnn", "backbone_config": _SMALL_CNN, **_CBL_DEFAULTS},
              input_shape=(28, 28, 1), dataset="digit_debris_mnist5k", preprocessing=DEBRIS_PREP, evaluator=_EVAL,
              paper=PAPER, weights="hub", input_range=(0.0, 1.0),
              description="StandardCNN (half width) with Contextual Backpropagation Loops (T=2, gating adapters) on "
                          "digit debris over mnist5k"),
    # feedback on a pretrained body (issue 14): keras-hub's ImageNet ResNet-18, frozen; only adapters, context
    # head and classifier are trained. No weights are published yet: they are made by the recipe named here.
    ModelSpec(name="cbl-resnet18-imagenet-feedback", family="cbl", builder=_FEEDBACK, recipe=_FEEDBACK_RECIPE,
              config={"preset": "resnet_18_imagenet", "architecture": None, "load_weights": True, "taps": None,
                      "num_classes": 1000, "freeze": True, "iterations": 2, "alpha": 0.0, "adapter": "film"},
              input_shape=(224, 224, 3), dataset="imagenet2012", preprocessing=IMAGENET_PREPROCESSING,
              evaluator=_EVAL, paper=PAPER, weights=None,
              description=("CBL feedback (T=2, FiLM adapters) on keras-hub's pretrained ImageNet ResNet-18, body frozen; "
                           f"no weights yet: recipes/{_FEEDBACK_RECIPE} makes them (needs topdown_zoo[keras-hub])"),
              test_config={"preset": None, "architecture": _TINY_KERAS_HUB_RESNET, "num_classes": 10}),
]

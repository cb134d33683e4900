"""Registry entries of the BU-TD family (paper appendix B).

``paper_results`` quote the paper's own numbers (Tables 2–3: mean ± 95 % CI of the average task
test accuracy); they were not measured by this project. Our measured numbers live in
``hub/<name>/metrics.json``.
"""
from typing import Any, Mapping

from topdown_zoo.data.butd_celeba import PREPROCESSING as CELEBA_PREP
from topdown_zoo.data.butd_multimnist import PREPROCESSING as MM5K_PREP
from topdown_zoo.data.butd_multimnist import TFDS_PREPROCESSING as MM_PREP
from topdown_zoo.registry import ModelSpec

PAPER = "Top-Down Network Combines Back-Propagation with Attention (BU-TD with Counter-Hebbian learning)"
_BUILD = "topdown_zoo.models.butd.bodies:build_butd"
_EVAL = "topdown_zoo.models.butd.evaluate:evaluate_butd"
_MM = {"body": "multimnist", "body_config": {"channels": 64, "hidden": 50}, "num_tasks": 2, "num_classes": 10,
       "loss": "softmax"}
_CELEBA = {"body": "resnet18", "body_config": {"widths": [64, 128, 256, 512], "stem": "cifar"}, "num_tasks": 40,
           "num_classes": 1, "loss": "sigmoid"}
#: small models of the same architectures, for the contract tests
_SMALL: dict[str, dict[str, Any]] = {"multimnist": {"body_config": {"channels": 4, "hidden": 8}},
          "resnet18": {"body_config": {"widths": [4, 4, 4, 4]}}}


def _spec(name: str, config: dict[str, Any], dataset: str, shape: tuple[int, ...], prep: Mapping[str, Any], what: str,
          paper: dict[str, str] | None = None, weights: str | None = None) -> ModelSpec:
    return ModelSpec(name=name, family="butd", builder=_BUILD, config=config, input_shape=shape, dataset=dataset,
                     recipe=f"{name}.yaml", task="multitask", preprocessing=prep, evaluator=_EVAL, paper=PAPER,
                     input_range=(0.0, 1.0), paper_results=paper or {}, weights=weights, description=what,
                     test_config=_SMALL[str(config["body"])])


PRESETS = [
    _spec("butd-multimnist5k", {**_MM, "mode": "symmetric"}, "multi_mnist5k", (28, 28, 1), MM5K_PREP,
          "BU-TD (2 conv + FC-50, symmetric Counter-Hebb, one decoder) on Multi-MNIST built from mnist5k",
          weights="hub"),
    _spec("butd-multimnist", {**_MM, "mode": "symmetric"}, "multi_mnist", (28, 28, 1), MM_PREP,
          "BU-TD (2 conv + FC-50, symmetric Counter-Hebb, one decoder) on Multi-MNIST (TFDS MNIST)",
          paper={"accuracy": "93.09 ± 0.57 % (symmetric weights, 10 runs, Table 2)"}),
    _spec("butd-multidecoder-multimnist", {**_MM, "mode": "symmetric", "multi_decoder": True}, "multi_mnist",
          (28, 28, 1), MM_PREP, "BU-TD with one decoder per task on Multi-MNIST (TFDS MNIST)",
          paper={"accuracy": "93.86 ± 0.49 % (multi-decoders, 10 runs, Table 2)"}),
    _spec("butd-asymmetric-multimnist", {**_MM, "mode": "asymmetric", "weight_decay": 0.05}, "multi_mnist",
          (28, 28, 1), MM_PREP, "BU-TD with separate TD weights (asymmetric Counter-Hebb, decay 0.05) on Multi-MNIST",
          paper={"accuracy": "71.28 ± 13.81 % (asymmetric weights, 10 runs, Table 2)"}),
    _spec("butd-weaksym-multimnist", {**_MM, "mode": "weakly_symmetric", "noise_std": 0.01}, "multi_mnist",
          (28, 28, 1), MM_PREP, "BU-TD with N(1, 0.01) noise on the Counter-Hebb update on Multi-MNIST",
          paper={"accuracy": "93.33 ± 0.54 % (weak symmetric, 10 runs, Table 2)"}),
    _spec("butd-resnet18-celeba", {**_CELEBA, "mode": "symmetric"}, "celeba_attributes", (64, 64, 3), CELEBA_PREP,
          "BU-TD with a ResNet-18 BU net (no final pooling), 40 attribute tasks, one decoder, on CelebA",
          paper={"accuracy": "89.51 ± 0.21 % (symmetric weights, 5 runs, Table 3)"}),
    _spec("butd-resnet18-multidecoder-celeba", {**_CELEBA, "mode": "symmetric", "multi_decoder": True},
          "celeba_attributes", (64, 64, 3), CELEBA_PREP, "BU-TD ResNet-18 with one decoder per attribute on CelebA",
          paper={"accuracy": "89.69 ± 0.12 % (multi-decoders, 5 runs, Table 3)"}),
    _spec("butd-resnet18-asymmetric-celeba", {**_CELEBA, "mode": "asymmetric", "weight_decay": 0.05},
          "celeba_attributes", (64, 64, 3), CELEBA_PREP, "BU-TD ResNet-18 with asymmetric Counter-Hebb on CelebA",
          paper={"accuracy": "79.25 ± 1.63 % (asymmetric weights, 5 runs, Table 3)"}),
]

"""Registry entries of the ConvRNN family (recurrence and feedback lecture).

* BL / BLT (Spoerer et al. 2017) and a parameter-matched feed-forward control on digit debris
  over mnist5k (trained here, CPU budget).
* A reciprocal-gated ConvRNN and a ResNet-like-cell ConvRNN (Nayebi et al. 2018) and a ConvLSTM
  feedback network (Zamir et al. 2017) on CIFAR-10 and, with a feed-forward 224 → 56 stem, on
  ImageNet-1k (recipes only; the architectures are ours, not the papers' searched ones).

``paper_results`` stay empty: the lecture shows the papers' results as figures only.
"""
from typing import Any

from topdown_zoo.data.digit_debris import PREPROCESSING as DEBRIS_PREP
from topdown_zoo.data.tfds_benchmarks import CIFAR10_PREPROCESSING, IMAGENET_PREPROCESSING
from topdown_zoo.registry import ModelSpec

_RCNN = "topdown_zoo.models.convrnn.blt:build_recurrent_cnn"
_GATED = "topdown_zoo.models.convrnn.convrnn:build_gated_convrnn"
_FB = "topdown_zoo.models.convrnn.feedback:build_feedback_network"
_EVAL = "topdown_zoo.models.convrnn.evaluate:evaluate_anytime"
SPOERER = "Spoerer, McClure & Kriegeskorte, Recurrent convolutions for occluded object recognition (2017)"
NAYEBI = "Nayebi et al., Task-Driven Convolutional Recurrent Models of the Visual System (NeurIPS 2018)"
ZAMIR = "Zamir et al., Feedback Networks (CVPR 2017)"

_DEBRIS: dict[str, Any] = dict(family="convrnn", dataset="digit_debris_mnist5k", input_shape=(28, 28, 1),
                               input_range=(0.0, 1.0), preprocessing=DEBRIS_PREP, evaluator=_EVAL, paper=SPOERER,
                               weights="hub")
_CIFAR: dict[str, Any] = dict(family="convrnn", dataset="cifar10", input_shape=(32, 32, 3), input_range=(0.0, 1.0),
              preprocessing=CIFAR10_PREPROCESSING, evaluator=_EVAL)
_IMAGENET: dict[str, Any] = dict(family="convrnn", dataset="imagenet2012", input_shape=(224, 224, 3), input_range=None,
                 preprocessing=IMAGENET_PREPROCESSING, evaluator=_EVAL)

PRESETS = [
    ModelSpec(name="blt-digitdebris-mnist5k", builder=_RCNN, recipe="blt-digitdebris-mnist5k.yaml",
              config={"connectivity": "blt", "widths": [32, 32], "kernel_size": 3, "num_classes": 10, "iterations": 4},
              description="BLT recurrent CNN (bottom-up, lateral, top-down; T=4, readout every step) on digit debris",
              **_DEBRIS),
    ModelSpec(name="bl-digitdebris-mnist5k", builder=_RCNN, recipe="bl-digitdebris-mnist5k.yaml",
              config={"connectivity": "bl", "widths": [32, 32], "kernel_size": 3, "num_classes": 10, "iterations": 4},
              description="BL recurrent CNN (bottom-up + lateral; T=4, readout every step) on digit debris",
              **_DEBRIS),
    ModelSpec(name="ff-digitdebris-mnist5k", builder=_RCNN, recipe="ff-digitdebris-mnist5k.yaml",
              config={"connectivity": "b", "widths": [54, 54], "kernel_size": 3, "num_classes": 10, "iterations": 1},
              description="feed-forward B control with more feature maps (54), parameters matched to BLT, "
                          "on digit debris",
              **_DEBRIS),
    ModelSpec(name="convrnn-rgcell-cifar10", builder=_GATED, recipe="convrnn-rgcell-cifar10.yaml",
              config={"cell": "reciprocal_gated", "widths": [64, 128, 256], "iterations": 4, "num_classes": 10},
              description="ConvRNN with reciprocal gated cells (T=4, readout every step) on CIFAR-10",
              paper=NAYEBI, **_CIFAR),
    ModelSpec(name="convrnn-resnetlike-cifar10", builder=_GATED, recipe="convrnn-resnetlike-cifar10.yaml",
              config={"cell": "resnet_like", "widths": [64, 128, 256], "iterations": 4, "num_classes": 10},
              description="ConvRNN with ResNet-like recurrent cells (T=4, readout every step) on CIFAR-10",
              paper=NAYEBI, **_CIFAR),
    ModelSpec(name="feedbacknet-convlstm-cifar10", builder=_FB, recipe="feedbacknet-convlstm-cifar10.yaml",
              config={"stem_width": 32, "widths": [32, 64, 128], "iterations": 4, "gamma": 1.0,
                      "step_weights": "geometric", "num_classes": 10},
              description="feedback network: ConvLSTM stack, T=4 iterations, loss sum_t gamma^t L_t, on CIFAR-10",
              paper=ZAMIR, **_CIFAR),
    ModelSpec(name="convrnn-rgcell-imagenet", builder=_GATED, recipe="convrnn-rgcell-imagenet.yaml",
              config={"cell": "reciprocal_gated", "stem": "imagenet", "stem_width": 64, "widths": [64, 128, 256, 512],
                      "iterations": 4, "num_classes": 1000},
              description="ConvRNN with reciprocal gated cells (ImageNet stem, 4 gated layers, T=4) on ImageNet-1k",
              paper=NAYEBI, **_IMAGENET),
    ModelSpec(name="feedbacknet-convlstm-imagenet", builder=_FB, recipe="feedbacknet-convlstm-imagenet.yaml",
              config={"stem": "imagenet", "stem_width": 64, "widths": [64, 128, 256, 512], "iterations": 4,
                      "gamma": 1.0, "step_weights": "geometric", "num_classes": 1000},
              description="feedback network: ImageNet stem, 4 ConvLSTM layers, T=4, loss sum_t gamma^t L_t, "
                          "on ImageNet-1k",
              paper=ZAMIR, **_IMAGENET),
]

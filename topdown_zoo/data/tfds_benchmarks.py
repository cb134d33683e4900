"""The CBL paper's benchmarks through tensorflow-datasets (section 4.1).

* ``cifar10``: the official 50k train images split 45,000 / 5,000 (train / validation),
  stratified by class and fixed by seed 0; the official 10k test set. Pixels in [0, 1].
* ``speech_commands``: 16 kHz clips padded or cut to 1 s, turned into 64-bin log-mel
  spectrograms of shape (98, 64, 1) (25 ms windows, 10 ms hop, 20–8000 Hz).
  **Label set:** TFDS ships Speech Commands v0.02 with 12 labels — the 10 keywords yes, no, up,
  down, left, right, on, off, stop, go, plus ``_silence_`` and ``_unknown_`` (every other word) —
  while the paper classifies all 35 words. Our entries are therefore 12-way; the paper's
  35-way numbers are not comparable with ours.
* ``imagenet2012``: needs the manual download (``ILSVRC2012_img_{train,val}.tar`` in
  ``~/tensorflow_datasets/downloads/manual`` or ``manual_dir=``). Train: random resized crop to
  224 and horizontal flip; validation/test: resize the short side to 256, centre crop 224.
  Normalised with the ImageNet mean/std. ``test`` is the official validation set (the test
  labels are not public) and ``validation`` holds out 10,000 train images.

Every loader passes ``data_dir``/``download`` through to ``tfds.load``; offline tests run the
real code path under ``tfds.testing.mock_data``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from topdown_zoo.errors import DatasetError
from topdown_zoo.typing import Dataset, Tensor

SMOKE_EXAMPLES = 32

CIFAR10_PREPROCESSING = {"source": "tfds:cifar10", "scale": "x / 255", "range": [0.0, 1.0], "shape": [32, 32, 3],
                         "split": "45k/5k stratified (seed 0) from train; official test"}
SPEECH_PREPROCESSING: dict[str, Any] = {
    "source": "tfds:speech_commands", "sample_rate": 16000, "clip_seconds": 1.0, "frame_length": 400,
    "frame_step": 160, "fft_length": 512, "mel_bins": 64, "mel_range_hz": [20.0, 8000.0],
    "log_offset": 1e-6, "shape": [98, 64, 1], "labels": "12 TFDS labels (10 keywords + _silence_ + _unknown_)",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_PREPROCESSING = {
    "source": "tfds:imagenet2012 (manual download)", "train": "random resized crop 224 + flip",
    "eval": "resize short side 256, centre crop 224", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
    "shape": [224, 224, 3],
}


def _tfds() -> Any:
    import tensorflow_datasets as tfds

    return tfds


def _load(name: str, split: str, data_dir: str | Path | None = None, download: bool = True,
          **kwargs: Any) -> Dataset:
    try:
        return _tfds().load(name, split=split, shuffle_files=False, data_dir=data_dir, download=download,
                            as_supervised=False, **kwargs)
    except Exception as err:  # tfds raises several types when data are missing / offline
        raise DatasetError(
            f"could not load tensorflow-datasets {name!r} split {split!r}: {err}. "
            f"Download it once on a machine with network (tfds build {name}) and pass data_dir=, "
            "or use an offline dataset such as mnist5k."
        ) from err


def stratified_holdout_mask(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Boolean mask choosing ``per_class`` examples of every class (seeded): the validation set."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        mask[members[:per_class]] = True
    return mask


def _holdout_split(ds: Dataset, labels: np.ndarray, per_class: int, split: str) -> Dataset:
    import tensorflow as tf

    mask = tf.constant(stratified_holdout_mask(labels, per_class))
    keep_validation = split == "validation"

    def in_split(index: Tensor, example: Mapping[str, Tensor]) -> Tensor:
        return tf.equal(mask[index], keep_validation)

    def drop_index(index: Tensor, example: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        return example

    return ds.enumerate().filter(in_split).map(drop_index)


def _labels_of(ds: Dataset) -> np.ndarray:
    return np.fromiter((int(ex["label"]) for ex in _tfds().as_numpy(ds)), dtype=np.int64)


def cifar10(split: str, smoke: bool = False, data_dir: str | Path | None = None, download: bool = True) -> Dataset:
    import tensorflow as tf

    if split == "test":
        ds = _load("cifar10", "test", data_dir, download)
    else:
        full = _load("cifar10", "train", data_dir, download)
        per_class = max(1, round(len(_labels_of(full)) * 0.1 / 10))  # 500 per class on the real data
        ds = _holdout_split(full, _labels_of(full), per_class, split)
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES)
    return ds.map(lambda ex: (tf.cast(ex["image"], tf.float32) / 255.0, tf.cast(ex["label"], tf.int32)),
                  num_parallel_calls=tf.data.AUTOTUNE)


def log_mel_spectrogram(audio: Tensor, sample_rate: int = 16000) -> Tensor:
    """(98, 64, 1) log-mel spectrogram of a 1-s clip (padded or cut), per ``SPEECH_PREPROCESSING``."""
    import tensorflow as tf

    p = SPEECH_PREPROCESSING
    length = int(sample_rate * p["clip_seconds"])
    audio = tf.cast(audio, tf.float32) / 32768.0  # int16 PCM -> [-1, 1)
    audio = audio[:length]
    audio = tf.pad(audio, [[0, length - tf.shape(audio)[0]]])
    stft = tf.signal.stft(audio, frame_length=p["frame_length"], frame_step=p["frame_step"], fft_length=p["fft_length"])
    power = tf.math.square(tf.abs(stft))
    mel = tf.signal.linear_to_mel_weight_matrix(p["mel_bins"], p["fft_length"] // 2 + 1, sample_rate, *p["mel_range_hz"])
    log_mel = tf.math.log(tf.tensordot(power, mel, 1) + p["log_offset"])
    return log_mel[..., None]


def speech_commands(split: str, smoke: bool = False, data_dir: str | Path | None = None,
                    download: bool = True) -> Dataset:
    import tensorflow as tf

    ds = _load("speech_commands", split, data_dir, download)
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES)
    return ds.map(lambda ex: (log_mel_spectrogram(ex["audio"]), tf.cast(ex["label"], tf.int32)),
                  num_parallel_calls=tf.data.AUTOTUNE)


def _imagenet_train_image(image: Tensor) -> Tensor:
    import tensorflow as tf

    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.zeros((1, 0, 4)), area_range=(0.08, 1.0),
        aspect_ratio_range=(3 / 4, 4 / 3), min_object_covered=0.0, use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, size)
    image = tf.image.resize(image, (224, 224))
    return tf.image.random_flip_left_right(image)


def _imagenet_eval_image(image: Tensor) -> Tensor:
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = 256.0 / tf.reduce_min(shape)
    image = tf.image.resize(image, tf.cast(tf.round(shape * scale), tf.int32))
    return tf.image.resize_with_crop_or_pad(image, 224, 224)


def imagenet2012(split: str, smoke: bool = False, data_dir: str | Path | None = None, download: bool = True,
                 manual_dir: str | Path | None = None) -> Dataset:
    import tensorflow as tf

    kwargs = {}
    if manual_dir is not None:
        kwargs["download_and_prepare_kwargs"] = {"download_config": _tfds().download.DownloadConfig(manual_dir=manual_dir)}
    tfds_split = {"train": "train[10000:]", "validation": "train[:10000]", "test": "validation"}[split]
    ds = _load("imagenet2012", tfds_split, data_dir, download, **kwargs)
    if smoke:
        ds = ds.take(SMOKE_EXAMPLES)
    mean = tf.constant(IMAGENET_MEAN) * 255.0
    std = tf.constant(IMAGENET_STD) * 255.0
    crop = _imagenet_train_image if split == "train" else _imagenet_eval_image

    def preprocess(ex: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        image = crop(tf.cast(ex["image"], tf.float32))
        return (image - mean) / std, tf.cast(ex["label"], tf.int32)

    return ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)


DATASETS = {"cifar10": cifar10, "speech_commands": speech_commands, "imagenet2012": imagenet2012}

"""Datasets: the offline mnist5k split and the TFDS loaders through tfds.testing.mock_data."""
import numpy as np
import pytest

from topdown_zoo.data import list_datasets, load_dataset
from topdown_zoo.data.mnist5k import load_arrays, split_indices
from topdown_zoo.data.tfds_benchmarks import log_mel_spectrogram, stratified_holdout_mask
from topdown_zoo.errors import DatasetError


def test_mnist5k_split_is_fixed_stratified_and_disjoint():
    sizes = {s: len(split_indices(s)) for s in ("train", "validation", "test")}
    assert sizes == {"train": 3600, "validation": 400, "test": 1000}
    sets = [set(split_indices(s)) for s in ("train", "validation", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    x, y = load_arrays("test")
    assert x.shape == (1000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.99
    assert np.bincount(y).tolist() == [100] * 10
    # same digits every time (the split is part of the published numbers)
    assert split_indices("test")[:5].tolist() == split_indices.__wrapped__("test")[:5].tolist()


def test_mnist5k_pixels_are_real_digits_not_noise():
    x, y = load_arrays("train")
    means = np.stack([x[y == d].mean(0) for d in range(10)])
    # class-mean images of real digits differ clearly: a nearest-class-mean classifier beats chance
    xt, yt = load_arrays("test")
    pred = ((xt[:, None] - means[None]) ** 2).sum(axis=(2, 3, 4)).argmin(1)
    assert (pred == yt).mean() > 0.6


def test_cifar10_validation_is_a_stratified_tenth_of_train():
    labels = np.repeat(np.arange(10), 5000)
    mask = stratified_holdout_mask(labels, per_class=500)
    assert mask.sum() == 5000 and np.bincount(labels[mask]).tolist() == [500] * 10
    assert np.array_equal(mask, stratified_holdout_mask(labels, per_class=500))


def test_tfds_loaders_run_the_real_code_path_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        train = list(load_dataset("cifar10", "train"))
        validation = list(load_dataset("cifar10", "validation"))
        assert len(train) + len(validation) == 20 and len(validation) >= 1
        x, y = train[0]
        assert x.shape == (32, 32, 3) and x.dtype == "float32" and float(x.numpy().max()) <= 1.0
        x, y = next(iter(load_dataset("speech_commands", "test")))
        assert x.shape == (98, 64, 1) and 0 <= int(y) < 12
        x, y = next(iter(load_dataset("imagenet2012", "test")))
        assert x.shape == (224, 224, 3) and 0 <= int(y) < 1000


def test_log_mel_of_a_pure_tone_peaks_in_the_right_mel_band():
    t = np.arange(16000) / 16000.0
    tone = (np.sin(2 * np.pi * 1000.0 * t) * 20000).astype(np.int16)
    spec = log_mel_spectrogram(tone).numpy()[..., 0]
    assert spec.shape == (98, 64)
    low = log_mel_spectrogram((np.sin(2 * np.pi * 300.0 * t) * 20000).astype(np.int16)).numpy()[..., 0]
    assert spec.mean(0).argmax() > low.mean(0).argmax()  # a higher tone lands in a higher mel bin


def test_unknown_dataset_and_split_errors_name_the_fix():
    assert "mnist5k" in list_datasets()
    with pytest.raises(DatasetError, match="Did you mean: mnist5k"):
        load_dataset("mnist5", "train")
    with pytest.raises(DatasetError, match="allowed: train, validation, test"):
        load_dataset("mnist5k", "dev")

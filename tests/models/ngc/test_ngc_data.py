"""NGC datasets: binarisation, natural-patch splits, TFDS loaders offline (tfds.testing.mock_data)."""
import numpy as np
import pytest

from topdown_zoo.data import load_dataset


def test_mnist5k_binary_is_thresholded_mnist5k():
    from topdown_zoo.data.mnist5k import load_arrays
    from topdown_zoo.data.ngc_binary import load_mnist5k_binary_arrays

    raw, y = load_arrays("test")
    xb, yb = load_mnist5k_binary_arrays("test")
    assert xb.shape == (1000, 784) and set(np.unique(xb)) == {0.0, 1.0}
    np.testing.assert_array_equal(xb, (raw.reshape(1000, -1) > 0.5).astype("float32"))
    np.testing.assert_array_equal(yb, y)


def test_natural32_splits_are_disjoint_bands_and_ood_images_are_held_out():
    from topdown_zoo.data import ngc_natural as nat

    assert not set(nat.TRAIN_IMAGES) & set(nat.OOD_IMAGES)
    x, _ = nat.load_arrays("train", smoke=True)
    assert x.shape == (32, 32, 32, 3) and 0.0 <= x.min() and x.max() <= 1.0
    # a test patch never equals any training patch (different column bands)
    tr, _ = nat.load_arrays("train")
    te, _ = nat.load_arrays("test", smoke=True)
    d = ((tr[:, None] - te[None]) ** 2).reshape(len(tr), len(te), -1).mean(-1)
    assert d.min() > 0


@pytest.mark.parametrize("dataset,tfds_name", [("binarized_mnist", "mnist"), ("binarized_kmnist", "kmnist"),
                                               ("binarized_fashion_mnist", "fashion_mnist")])
def test_binarised_tfds_loaders_offline(dataset, tfds_name):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=2100):
        x, y = next(iter(load_dataset(dataset, "validation").batch(3000)))
    assert x.shape[1:] == (784,)      # (mock_data ignores split slicing, so the split string is checked below)
    from topdown_zoo.data.ngc_binary import tfds_split_for
    assert tfds_split_for("validation") == "train[-2000:]" and tfds_split_for("train") == "train[:-2000]"
    assert set(np.unique(x.numpy())) <= {0.0, 1.0}


@pytest.mark.parametrize("dataset", ["ngc_cifar10", "ngc_svhn"])
def test_rgb_tfds_loaders_offline(dataset):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40):
        x, _ = next(iter(load_dataset(dataset, "test").batch(64)))
    assert x.shape[1:] == (32, 32, 3) and float(x.numpy().max()) <= 1.0


def test_color_mnist_colour_follows_parity_then_reverses():
    from topdown_zoo.data.ngc_images import colorize

    rng = np.random.default_rng(0)
    digits = (rng.random((400, 28, 28, 1)) * 255).astype("uint8")
    labels = rng.integers(0, 10, 400)
    img, red = colorize(digits, labels, p_agree=0.9, seed=0)
    assert img.shape == (400, 32, 32, 3) and np.all(img[red, ..., 1] == 0) and np.all(img[~red, ..., 0] == 0)
    agree = np.mean(red == (labels % 2 == 0))
    _, red_t = colorize(digits, labels, p_agree=0.1, seed=1)
    assert agree > 0.8 and np.mean(red_t == (labels % 2 == 0)) < 0.2


def test_cinic10_from_a_local_directory(tmp_path):
    import tensorflow as tf

    from topdown_zoo.errors import DatasetError

    with pytest.raises(DatasetError):
        load_dataset("cinic10", "test", data_dir=str(tmp_path / "missing"))
    folder = tmp_path / "test" / "cat"
    folder.mkdir(parents=True)
    png = tf.io.encode_png(tf.constant(np.full((32, 32, 3), 255, "uint8")))
    tf.io.write_file(str(folder / "a.png"), png)
    x, y = next(iter(load_dataset("cinic10", "test", data_dir=str(tmp_path)).batch(4)))
    assert x.shape == (1, 32, 32, 3) and float(x.numpy().min()) == 1.0 and int(y[0]) == 3

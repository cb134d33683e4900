"""Multi-MNIST generator and the TFDS loaders of the BU-TD family."""
import numpy as np
import pytest

from topdown_zoo.data.butd_multimnist import as_task_dataset, load_pairs, make_multi_mnist


def _digits(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 28, 28)).astype("float32"), rng.integers(0, 10, n)


def test_generator_is_deterministic_under_a_seed():
    x, y = _digits()
    a = make_multi_mnist(x, y, 30, seed=5)
    b = make_multi_mnist(x, y, 30, seed=5)
    c = make_multi_mnist(x, y, 30, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (30, 28, 28, 1) and a[1].shape == (30, 2) and a[0].dtype == np.float32


def test_left_digit_top_left_right_digit_bottom_right_overlap_by_max():
    left = np.zeros((2, 28, 28), "float32")
    left[0] = 1.0  # digit 0: all ones; digit 1: all zeros
    labels = np.array([3, 7])
    # force the pair (left = image 0, right = image 1) and the reverse by trying seeds
    imgs, lab = make_multi_mnist(left, labels, 40, seed=0)
    for img, (l_label, r_label) in zip(imgs[..., 0], lab):
        if l_label == 3 and r_label == 7:  # only the top-left 28×28 of the 36×36 canvas is lit
            assert img[0, 0] > 0.99 and img[-1, -1] < 0.01
        if l_label == 7 and r_label == 3:
            assert img[-1, -1] > 0.99 and img[0, 0] < 0.01
        if l_label == 3 and r_label == 3:  # max, not sum
            assert img.max() <= 1.0 and img[0, 0] > 0.99 and img[-1, -1] > 0.99
    assert {(3, 7), (7, 3)} <= {tuple(p) for p in lab}


def test_mnist5k_splits_and_task_examples():
    x, y = load_pairs("test")
    assert x.shape == (2000, 28, 28, 1) and y.shape == (2000, 2)
    np.testing.assert_array_equal(load_pairs("test")[0], x)
    ds = list(as_task_dataset(x[:3], y[:3], "test").as_numpy_iterator())
    assert [int(t) for (_, t), _ in ds] == [0, 1, 0, 1, 0, 1]
    assert [int(lab) for _, lab in ds] == [y[0, 0], y[0, 1], y[1, 0], y[1, 1], y[2, 0], y[2, 1]]
    train = list(as_task_dataset(x[:200], y[:200], "train").as_numpy_iterator())
    tasks = np.array([int(t) for (_, t), _ in train])
    assert 0.3 < tasks.mean() < 0.7  # a random task per example
    assert all(lab == y[i, t] for i, ((_, t), lab) in enumerate(train))


def test_tfds_loaders_offline():
    tfds = pytest.importorskip("tensorflow_datasets")
    from topdown_zoo.data import butd_celeba, butd_multimnist

    with tfds.testing.mock_data(num_examples=12):
        butd_multimnist._tfds_pairs.cache_clear()
        x, y = butd_multimnist.load_pairs("test", source="tfds")
        assert x.shape == (12, 28, 28, 1) and y.shape == (12, 2)
        (img, task), label = next(iter(butd_multimnist.load_tfds("train")))
        assert img.shape == (28, 28, 1) and int(task) in (0, 1)
        imgs = list(butd_celeba.load_attributes("test").take(2).as_numpy_iterator())
        assert imgs[0][0].shape == (64, 64, 3) and imgs[0][1].shape == (40,)
        examples = list(butd_celeba.load("validation").take(41).as_numpy_iterator())
        assert [int(t) for (_, t), _ in examples[:40]] == list(range(40))
        (img, task), label = next(iter(butd_celeba.load("train")))
        assert 0 <= int(task) < 40 and int(label) in (0, 1)
    butd_multimnist._tfds_pairs.cache_clear()

"""The digit-debris generator: seeded, graded occlusion, debris made of other digits' ink."""
import numpy as np
import pytest

from topdown_zoo.data.digit_debris import add_debris, load_arrays, make_split
from topdown_zoo.errors import DatasetError


def test_levels_are_seeded_graded_and_keep_labels():
    x0, y0, _ = load_arrays("test", level=0)
    changed = []
    for level in (5, 10, 20, 40):
        x, y, lv = load_arrays("test", level=level)
        again, _, _ = make_split(*load_arrays("test", level=0)[:2], "test", level=level)
        np.testing.assert_array_equal(x, again)  # deterministic in (seed, split, level)
        np.testing.assert_array_equal(y, y0)
        assert (lv == level).all() and x.min() >= 0 and x.max() <= 1
        changed.append((np.abs(x - x0) > 0.1).mean())
    assert changed == sorted(changed) and changed[0] > 0.02  # more debris, more occlusion
    other_seed, _, _ = load_arrays("test", level=10, seed=1)
    assert np.abs(other_seed - load_arrays("test", level=10)[0]).max() > 0.5


def test_debris_replaces_the_target_where_it_has_ink():
    rng = np.random.default_rng(0)
    target = np.zeros((1, 28, 28, 1), "float32")
    target[0, 10:18, 10:18] = 0.5
    source = np.ones((1, 28, 28, 1), "float32")  # all ink: every fragment occludes fully
    out = add_debris(target, source, 3, rng, fragment_size=6)
    covered = out[0] == 1.0
    assert covered.sum() >= 36  # at least one 6×6 fragment
    np.testing.assert_array_equal(out[0][~covered], target[0][~covered])
    assert np.array_equal(add_debris(target, source, 0, rng), target)


def test_train_split_mixes_levels_and_test_split_holds_every_level():
    _, y_train, lv_train = load_arrays("train")
    assert set(np.unique(lv_train)) == {0, 5, 10, 20, 40} and len(y_train) == 3600
    _, y_test, lv_test = load_arrays("test", levels=(0, 10))
    assert len(y_test) == 2000 and (np.bincount(lv_test)[[0, 10]] == 1000).all()
    with pytest.raises(DatasetError):
        load_arrays("test", levels=(-1,))
    with pytest.raises(DatasetError):
        make_split(*load_arrays("test", level=0)[:2], "holdout")


def test_registry_entries_and_evaluator_report_steps_and_levels():
    import topdown_zoo as tz
    from topdown_zoo.registry import get_spec

    names = tz.list_models("*digitdebris*", family="convrnn")  # CBL has one too (cbl-cnn-digitdebris-mnist5k)
    assert names == ["bl-digitdebris-mnist5k", "blt-digitdebris-mnist5k", "ff-digitdebris-mnist5k"]
    models = {n: tz.create(n) for n in names}
    params = {n: m.count_params() for n, m in models.items()}
    ff, blt = params["ff-digitdebris-mnist5k"], params["blt-digitdebris-mnist5k"]
    assert abs(ff - blt) / blt < 0.02  # the feed-forward control is parameter-matched to BLT
    spec = get_spec("blt-digitdebris-mnist5k")
    metrics = spec.evaluate_fn()(models["blt-digitdebris-mnist5k"], spec, smoke=True,
                                 data_options={"levels": [0, 20]})
    assert {f"accuracy_t{k}" for k in range(4)} <= set(metrics)
    assert {"accuracy", "accuracy_debris0", "accuracy_debris20", "accuracy_debris20_t3"} <= set(metrics)
    assert metrics["accuracy"] == metrics["accuracy_t3"]
    assert metrics["accuracy"] == pytest.approx((metrics["accuracy_debris0"] + metrics["accuracy_debris20"]) / 2)

"""Registry entries of the NGC family and baselines build; evaluators report the contract's keys."""
import math

import numpy as np
import pytest

import topdown_zoo as tz
from topdown_zoo.registry import get_spec


@pytest.mark.backends
def test_every_entry_has_a_recipe_and_builds_small():
    names = tz.list_models("*", family="ngc") + tz.list_models("*", family="baselines")
    assert {"gncn-t1-mnist5k", "gncn-t1-sigma-mnist5k", "gncn-pdh-mnist5k", "conv-ngc-natural32",
            "conv-ae-natural32", "conv-dae-natural32", "rae-mnist", "gvae-mnist", "gvae-cv-mnist",
            "gan-ae-mnist"} <= set(names)
    for name in names:
        spec = get_spec(name)
        assert spec.recipe_path.exists(), name
    model = tz.create("gncn-pdh-mnist5k", hidden=[36, 36], iterations=2)
    assert model.lateral and model.precision and model.error_synapses == "learned" and model.iterations == 2
    assert tz.create("conv-ngc-natural32", iterations=2).channels == [10, 15, 20, 25, 3]
    for name in names:  # the presets use the contract's step key
        assert "steps" not in get_spec(name).config, name
    with pytest.raises(Exception, match="allowed"):
        tz.create("gncn-t1-mnist5k", no_such_key=1)


@pytest.mark.backends
def test_old_steps_override_still_applies():
    """Hub folders written before the rename record the override ``steps`` (e.g. conv-ngc-natural32)."""
    with pytest.warns(DeprecationWarning, match="steps"):
        model = tz.create("conv-ngc-natural32", steps=3)
    assert model.iterations == 3 and model.num_steps == 3


def test_gncn_evaluator_reports_contract_keys():
    from topdown_zoo.models.ngc.evaluate import evaluate_gncn

    spec = get_spec("gncn-t1-mnist5k")
    model = tz.create("gncn-t1-mnist5k", hidden=[32, 16], iterations=5)
    out = evaluate_gncn(model, spec, smoke=True, gmm_components=2)
    for key in ("bce", "log_px", "masked_mse", "latent_error"):
        assert math.isfinite(out[key]), key
    assert out["log_px"] < 0 and 0 <= out["latent_error"] <= 100
    assert out["bce"] > 0


def test_image_evaluator_reports_contract_keys_and_identity_is_perfect():
    from topdown_zoo.models.ngc.evaluate import evaluate_image

    spec = get_spec("conv-ngc-natural32")

    class Identity:
        def __call__(self, x):
            return x

        def denoise(self, x):
            return x

    out = evaluate_image(Identity(), spec, smoke=True)
    for prefix in ("", "ood_", "denoise_", "noisy_"):
        for key in ("mse", "psnr", "ssim_global_eq5", "ssim_windowed"):
            assert prefix + key in out
    assert "ssim" not in out  # each SSIM is named for what it is
    assert out["mse"] == 0 and out["ssim_windowed"] == pytest.approx(1.0) and out["ssim_global_eq5"] == pytest.approx(1.0)
    assert out["denoise_psnr"] == pytest.approx(out["noisy_psnr"])  # identity does not denoise
    model = tz.create("conv-ngc-natural32", iterations=3)
    out = evaluate_image(model, spec, smoke=True)
    assert np.isfinite([out["mse"], out["ood_psnr"], out["denoise_psnr"], out["denoise_clamp_first_psnr"]]).all()


def test_evaluator_names_a_diverged_output():
    from topdown_zoo.errors import TopdownZooError
    from topdown_zoo.models.ngc.evaluate import evaluate_image

    class Diverged:
        def __call__(self, x):
            return np.full_like(x, np.nan)

        denoise = __call__

    with pytest.raises(TopdownZooError, match="diverged"):
        evaluate_image(Diverged(), get_spec("conv-ngc-natural32"), smoke=True)

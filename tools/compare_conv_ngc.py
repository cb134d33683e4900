"""Conv-NGC beside Conv-AE and Conv-DAE on natural32 (issue 13, item 3): one command, one table.

    python tools/compare_conv_ngc.py            # trains what has not been trained (runs/conv-ngc-compare/NAME),
                                                # reuses finished runs, writes docs/conv-ngc.md and
                                                # docs/data/conv_ngc_comparison.json
    python tools/compare_conv_ngc.py --ship     # also packages the three runs as hub/NAME (then run
                                                # python tools/pin_hub.py)
    python tools/compare_conv_ngc.py --quick    # smoke: a few training steps on tiny data, files in --out only

Each model is trained by its recipe (``recipes/NAME.yaml``, ``topdown_zoo.training.train``) and
measured by the image evaluator (``topdown_zoo.models.ngc.evaluate.evaluate_image``, what
``topdown-zoo evaluate NAME --json`` reports) on the test split: reconstruction, out-of-distribution
reconstruction (held-out photographs) and denoising at the paper's noise N(0, σ = 0.1), each as
MSE, PSNR, the paper's global SSIM (eq. 5) and scikit-image's windowed SSIM, with the noisy
input's own scores as the floor a denoiser must beat. Denoising at σ = 0.05 and 0.2 is ours (the
paper uses σ = 0.1 only). Conv-NGC is also settled for T = 60 at test time (the paper's T; ours
trains with T = 30). The paper's numbers (CIFAR-10, Table 1/2a; SVHN → CIFAR-10, Table 2b) are
quoted in separate columns labelled as the paper's: its datasets are not ours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("conv-ngc-natural32", "conv-ae-natural32", "conv-dae-natural32")
LABELS = {"conv-ngc-natural32": "Conv-NGC", "conv-ae-natural32": "Conv-AE", "conv-dae-natural32": "Conv-DAE"}
EXTRA_NOISE = (0.05, 0.2)  # ours; the paper's level (0.1) is the evaluator's default
BEGIN, END = "<!-- conv-ngc-comparison:begin -->", "<!-- conv-ngc-comparison:end -->"
COMMAND = "python tools/compare_conv_ngc.py"

#: The paper's own numbers (mean over five trials; [0, 255] scale). Its datasets are not ours.
PAPER: dict[str, Any] = {
    "source": "Ororbia & Mali, Conv-NGC, Table 1 (CIFAR-10), Table 2a (CIFAR-10 PSNR), Table 2b (SVHN -> CIFAR-10)",
    "cifar10": {
        "Conv-AE": {"mse": 13.6890, "psnr": 36.7872, "ssim": 0.9310,
                    "denoise_mse": 208.4608, "denoise_psnr": 24.6527, "denoise_ssim": 0.7628},
        "Conv-DAE": {"mse": 8.8810, "psnr": 38.6462, "ssim": 0.9720,
                     "denoise_mse": 16.7781, "denoise_psnr": 36.4346, "denoise_ssim": 0.9110},
        "Conv-NGC": {"mse": 6.3668, "psnr": 41.0912, "ssim": 0.9955,
                     "denoise_mse": 183.8624, "denoise_psnr": 25.9004, "denoise_ssim": 0.8603},
    },
    "svhn_to_cifar10": {
        "Conv-AE": {"ood_mse": 387.02, "ood_psnr": 24.03, "ood_ssim": 0.69},
        "Conv-DAE": {"ood_mse": 176.00, "ood_psnr": 29.46, "ood_ssim": 0.77},
        "Conv-NGC": {"ood_mse": 26.80, "ood_psnr": 35.03, "ood_ssim": 0.98},
    },
}


def _load_model(run_dir: Path) -> Any:
    import keras

    import topdown_zoo.models.baselines.autoencoders  # noqa: F401  (registers ConvAutoencoder)
    import topdown_zoo.models.ngc.conv_ngc  # noqa: F401  (registers ConvNGC)

    return keras.saving.load_model(run_dir / "model.keras", safe_mode=True, compile=False)


def train_or_reuse(name: str, out: Path, quick: bool) -> tuple[Path, dict]:
    """The finished run ``out/name`` (trained now when it has no ``metrics.json`` yet)."""
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    run_dir = out / name
    if not (run_dir / "metrics.json").is_file() or not (run_dir / "model.keras").is_file():
        print(f"{name}: training into {run_dir}", flush=True)
        train(load_recipe(name), run_dir, smoke=quick, verbose=2 if not quick else 0)
    else:
        print(f"{name}: reusing {run_dir}", flush=True)
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def training_facts(run_dir: Path, run: dict) -> dict:
    """Epochs, batch, T, seconds, and how flat the validation loss is at the end (the zoo's
    flat-curve rule, ``topdown_zoo.convergence``)."""
    from topdown_zoo.convergence import plateau

    facts = {k: run.get(k) for k in ("epochs", "batch_size", "train_seconds", "overrides")}
    path = run_dir / "history.csv"
    if path.is_file():
        try:
            verdict = plateau(path)
        except ValueError:  # too few epochs to judge (--quick)
            return facts
        facts["final_val_loss"] = verdict.last
        facts["val_loss_projected_drop"] = verdict.projected_improvement
        facts["flat"] = verdict.flat
    return facts


def measure(name: str, model: Any, quick: bool) -> dict:
    """The evaluator's numbers (σ = 0.1), denoising at the extra noise levels and, for Conv-NGC,
    T = 60 at test time."""
    from topdown_zoo.models.ngc.evaluate import evaluate_image
    from topdown_zoo.registry import get_spec

    spec = get_spec(name)
    out = {"sigma_0.1": evaluate_image(model, spec, smoke=quick)}
    for sigma in EXTRA_NOISE:
        scores = evaluate_image(model, spec, smoke=quick, noise_std=sigma)
        out[f"sigma_{sigma}"] = {k: v for k, v in scores.items() if k.startswith(("denoise", "noisy"))}
    if name.startswith("conv-ngc") and not quick:
        out["settled_T60"] = evaluate_image(model.with_config(iterations=60), spec)
    return out


def _test_arrays(quick: bool, sigma: float = 0.1, seed: int = 0) -> tuple[Any, Any]:
    """The test patches and their noisy copies, drawn as the evaluator draws them."""
    import numpy as np

    from topdown_zoo.data.ngc_natural import load_arrays

    x, _ = load_arrays("test", smoke=quick)
    noisy = np.clip(x + np.random.default_rng(seed).normal(0.0, sigma, x.shape), 0.0, 1.0).astype("float32")
    return x, noisy


def settling_trajectory(model: Any, quick: bool, steps: tuple[int, ...] = (0, 1, 2, 5, 10, 20, 30, 60)) -> dict:
    """Why the paper's denoising protocol fails here: PSNR against the clean image, after t steps
    from the noisy image, of the prediction z̄⁰ with z⁰ clamped (ours) and of z̄⁰ and the free
    bottom state z⁰ with z⁰ clamped at step 1 only (the paper's)."""
    from keras import ops

    from topdown_zoo import metrics_image as mi

    x, noisy = _test_arrays(quick)
    out: dict[str, list] = {"t": list(steps), "clamped_prediction": [], "first_prediction": [], "first_z0": []}
    for clamp in ("all", "first"):
        run = model.settle(noisy, iterations=max(steps), clamp=clamp, trajectory=True)
        recons = ops.convert_to_numpy(run["reconstructions"])
        z0 = ops.convert_to_numpy(run["z0_steps"])
        for t in steps:
            if clamp == "all":
                out["clamped_prediction"].append(mi.psnr_255(x, recons[t]))
            else:
                out["first_prediction"].append(mi.psnr_255(x, recons[t]))
                out["first_z0"].append(mi.psnr_255(x, noisy if t == 0 else z0[t - 1]))
    return out


def checkpoint_scan(name: str, run_dir: Path, model: Any, quick: bool) -> list[dict]:
    """Reconstruction and denoising PSNR (both protocols) of the run's per-epoch checkpoints: is
    the paper's protocol failing for lack of training?"""
    from keras import ops

    from topdown_zoo import metrics_image as mi

    x, noisy = _test_arrays(quick)
    files = sorted((run_dir / "checkpoints").glob("epoch*.weights.h5"))
    picked = {files[i] for i in {0, len(files) // 8, len(files) // 4, len(files) // 2, len(files) - 1} if files}
    rows, final = [], model.get_weights()
    for path in sorted(picked):
        _load_checkpoint(model, path)
        rows.append({"epoch": int(path.name[5:8]),
                     "reconstruction_psnr": mi.psnr_255(x, ops.convert_to_numpy(model(x))),
                     "denoise_psnr": mi.psnr_255(x, ops.convert_to_numpy(model.denoise(noisy))),
                     "denoise_clamp_first_psnr": mi.psnr_255(x, ops.convert_to_numpy(model.denoise_clamp_first(noisy)))})
    model.set_weights(final)
    return rows


def _load_checkpoint(model: Any, path: Path) -> None:
    """A training checkpoint's weights (the file also holds the optimizer's state, so it is read into a
    compiled twin of ``model``, whose weights are then copied)."""
    import keras

    twin = type(model).from_config(model.get_config())
    twin.build_from_config(model.get_build_config())
    twin.compile_default(keras.optimizers.Adam())
    twin.optimizer.build(twin.trainable_variables)
    twin.load_weights(path)
    model.set_weights(twin.get_weights())


# ---------------------------------------------------------------------------- the report
def _f(value: Any, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _scores(m: dict, prefix: str) -> list[str]:
    return [_f(m.get(prefix + "mse"), 1), _f(m.get(prefix + "psnr"), 2), _f(m.get(prefix + "ssim_global_eq5"), 4),
            _f(m.get(prefix + "ssim_windowed"), 4)]


def _paper(label: str, keys: tuple[str, ...], table: str) -> str:
    p = PAPER[table].get(label, {})
    return " / ".join(_f(p.get(k), 2 if "ssim" not in k else 4) for k in keys) if p else "—"


def _score_rows(results: dict, prefix: str, paper_table: str) -> list[str]:
    """One table row per model: its ``prefix`` scores at σ = 0.1, then the paper's MSE / PSNR / SSIM."""
    keys = tuple(prefix + k for k in ("mse", "psnr", "ssim"))
    return [f"| {LABELS[name]} | " + " | ".join(_scores(m["sigma_0.1"], prefix)) + " | "
            + _paper(LABELS[name], keys, paper_table) + " |" for name, m in results.items()]


def render(results: dict, facts: dict, quick: bool) -> str:
    head = "| model | MSE | PSNR (dB) | SSIM global (eq. 5) | SSIM windowed (skimage)"
    rule = "|---|---|---|---|---|"
    lines = ["", f"Measured by `{COMMAND}`{' --quick (smoke run: meaningless numbers)' if quick else ''}; "
             "test split of natural32 (600 patches), [0, 255] scale; one seed (0) per model.", "",
             "**Reconstruction** (the clean test image in, the model's output compared with it)", "",
             head + " | the paper's, on CIFAR-10: MSE / PSNR / SSIM |", rule + "---|"]
    lines += _score_rows(results, "", "cifar10")
    if "settled_T60" in results.get(MODELS[0], {}):
        lines.append("| Conv-NGC, settled T = 60 at test (trained with T = 30) | "
                     + " | ".join(_scores(results[MODELS[0]]["settled_T60"], "")) + " | — |")
    lines += ["", "**Denoising** at the paper's noise, N(0, σ = 0.1) added to the [0, 1] image and clipped; the "
              "first row is the noisy input itself (the floor to beat)", "",
              head + " | the paper's, on CIFAR-10: MSE / PSNR / SSIM |", rule + "---|"]
    first = next(iter(results.values()))["sigma_0.1"]
    lines.append("| noisy input (floor) | " + " | ".join(_scores(first, "noisy_")) + " | — |")
    for name, m in results.items():
        label = LABELS[name]
        how = {"Conv-NGC": "Conv-NGC (ours: settled with the noisy image clamped, z̄⁰ read)"}.get(label, label)
        lines.append(f"| {how} | " + " | ".join(_scores(m["sigma_0.1"], "denoise_")) + " | "
                     + _paper(label, ("denoise_mse", "denoise_psnr", "denoise_ssim"), "cifar10") + " |")
        if "denoise_clamp_first_psnr" in m["sigma_0.1"]:
            lines.append("| Conv-NGC, the paper's protocol (clamped at step 1 only) | "
                         + " | ".join(_scores(m["sigma_0.1"], "denoise_clamp_first_")) + " | — |")
    if "settled_T60" in results.get(MODELS[0], {}):
        t60 = results[MODELS[0]]["settled_T60"]
        lines.append("| Conv-NGC (ours), settled T = 60 at test | " + " | ".join(_scores(t60, "denoise_")) + " | — |")
        lines.append("| Conv-NGC, paper's protocol, T = 60 at test | "
                     + " | ".join(_scores(t60, "denoise_clamp_first_")) + " | — |")
    lines += ["", "**Denoising at other noise levels** (ours; the paper uses σ = 0.1 only): PSNR (dB) / SSIM "
              "global (eq. 5)", "", "| model | " + " | ".join(f"σ = {s}" for s in (0.05, 0.1, 0.2)) + " |",
              "|---|---|---|---|"]

    def levels(m: dict, prefix: str) -> str:
        return " | ".join(f"{_f(m[f'sigma_{s}'].get(prefix + 'psnr'), 2)} / "
                          f"{_f(m[f'sigma_{s}'].get(prefix + 'ssim_global_eq5'), 4)}" for s in (0.05, 0.1, 0.2))

    lines.append("| noisy input (floor) | " + levels(next(iter(results.values())), "noisy_") + " |")
    for name, m in results.items():
        lines.append(f"| {LABELS[name]} | " + levels(m, "denoise_") + " |")
        if "denoise_clamp_first_psnr" in m["sigma_0.1"]:
            lines.append("| Conv-NGC, paper's protocol | " + levels(m, "denoise_clamp_first_") + " |")
    lines += ["", "**Out-of-distribution reconstruction** (ours: patches of two photographs never trained on, "
              "coffee and immunohistochemistry; the paper's: trained on SVHN, tested on CIFAR-10)", "",
              head + " | the paper's, SVHN → CIFAR-10: MSE / PSNR / SSIM |", rule + "---|"]
    lines += _score_rows(results, "ood_", "svhn_to_cifar10")
    ngc = results.get(MODELS[0], {})
    if "trajectory" in ngc:
        tr = ngc["trajectory"]
        lines += ["", "**Why the paper's denoising protocol loses here** (Conv-NGC, σ = 0.1): PSNR (dB) against the "
                  f"clean image after t settling steps from the noisy image (noisy input: {_f(first.get('noisy_psnr'), 2)}"
                  " dB)", "", "| t | " + " | ".join(str(t) for t in tr["t"]) + " |",
                  "|---|" + "---|" * len(tr["t"])]
        for key, what in (("clamped_prediction", "z̄⁰, z⁰ clamped to the noisy image (ours)"),
                          ("first_prediction", "z̄⁰, z⁰ clamped at step 1 only (the paper's)"),
                          ("first_z0", "z⁰ itself, clamped at step 1 only")):
            lines.append(f"| {what} | " + " | ".join(_f(v, 2) for v in tr[key]) + " |")
    if ngc.get("checkpoints"):
        lines += ["", "**Conv-NGC over training** (its per-epoch checkpoints; PSNR in dB, σ = 0.1)", "",
                  "| epoch | reconstruction | denoising (ours) | denoising (paper's protocol) |", "|---|---|---|---|"]
        for row in ngc["checkpoints"]:
            lines.append(f"| {row['epoch']} | {_f(row['reconstruction_psnr'], 2)} | {_f(row['denoise_psnr'], 2)} | "
                         f"{_f(row['denoise_clamp_first_psnr'], 2)} |")
    lines += ["", "**Training** (ours; recipes/NAME.yaml)", "",
              "| model | epochs | batch | overrides | train seconds | final validation MSE ([0, 1] scale) | "
              "projected drop over 10 more epochs (flat: < 3 %, `tools/check_convergence.py`) |",
              "|---|---|---|---|---|---|---|"]
    for name, f in facts.items():
        drop = f.get("val_loss_projected_drop")
        drop_text = f"{100 * drop:+.1f} % ({'flat' if f.get('flat') else 'not flat'})" if drop is not None else "—"
        lines.append(f"| {LABELS[name]} | {f.get('epochs')} | {f.get('batch_size')} | "
                     f"{json.dumps(f.get('overrides') or {})} | {f.get('train_seconds')} | "
                     f"{_f(f.get('final_val_loss'), 6)} | {drop_text} |")
    lines += [""]
    return "\n".join(lines)


def write_doc(path: Path, table: str) -> None:
    """Put ``table`` between the markers of ``path`` (created with a title when missing)."""
    from topdown_zoo.atomic import write_marked_block

    write_marked_block(path, BEGIN, END, table, new_page="# Conv-NGC beside Conv-AE and Conv-DAE\n")


def ship(name: str, run_dir: Path, model: Any, run: dict) -> None:
    """Package the run as ``hub/name``: the evaluator's numbers (as ``topdown-zoo evaluate`` gives
    them), the entry's pictures, and the run's training curves (``history.csv``, drawn as ``curves.png``)."""
    import yaml

    from topdown_zoo import hub
    from topdown_zoo.evaluation import evaluate_entry
    from topdown_zoo.paths import shipped_hub_dir
    from topdown_zoo.plots import load_examples
    from topdown_zoo.registry import get_spec

    spec = get_spec(name)
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    metrics = {**evaluate_entry(model, spec, recipe=recipe), "_run": run["_run"],
               "_measured_by": f"{COMMAND} --ship"}
    target = shipped_hub_dir() / name
    history = run_dir / "history.csv"
    hub.package(model, target, metrics=metrics, recipe=recipe, spec_name=name, overwrite=True,
                plots=load_examples(spec, recipe=recipe), history=history if history.is_file() else None)
    print(f"{name}: shipped to {target} (now run python tools/pin_hub.py)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs on tiny data (a test of the tool)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/conv-ngc-compare[-quick])")
    parser.add_argument("--doc", type=Path, default=None, help="markdown file (default docs/conv-ngc.md; "
                        "--quick: OUT/conv-ngc.md)")
    parser.add_argument("--json", type=Path, default=None, help="JSON file (default docs/data/conv_ngc_comparison.json;"
                        " --quick: OUT/conv_ngc_comparison.json)")
    parser.add_argument("--ship", action="store_true", help="package the runs as the shipped hub folders")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "runs" / ("conv-ngc-compare-quick" if args.quick else "conv-ngc-compare")
    doc = args.doc or (out / "conv-ngc.md" if args.quick else ROOT / "docs" / "conv-ngc.md")
    json_path = args.json or (out / "conv_ngc_comparison.json" if args.quick else
                              ROOT / "docs" / "data" / "conv_ngc_comparison.json")
    if args.ship and args.quick:
        parser.error("--ship packages full runs only (not --quick)")
    results, facts = {}, {}
    for name in MODELS:
        run_dir, run_metrics = train_or_reuse(name, out, args.quick)
        model = _load_model(run_dir)
        facts[name] = training_facts(run_dir, run_metrics["_run"])
        results[name] = measure(name, model, args.quick)
        if name == MODELS[0]:
            results[name]["trajectory"] = settling_trajectory(model, args.quick)
            results[name]["checkpoints"] = checkpoint_scan(name, run_dir, model, args.quick)
        if args.ship:
            ship(name, run_dir, model, run_metrics)
    table = render(results, facts, args.quick)
    write_doc(doc, table)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"command": COMMAND + (" --quick" if args.quick else ""), "quick": args.quick,
                                     "dataset": "natural32 (test split; OOD: natural32_ood)",
                                     "noise": "N(0, sigma) on the [0, 1] image, clipped; sigma = 0.1 is the paper's",
                                     "results": results, "training": facts, "paper": PAPER},
                                    indent=2, sort_keys=True) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

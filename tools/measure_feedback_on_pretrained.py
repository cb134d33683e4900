"""Measure CBL feedback added to a pretrained body (issue 14, item 4): ``tz.add_feedback`` on the
zoo's shipped ``standard-cnn-mnist5k`` (a feed-forward StandardCNN trained on clean mnist5k digits),
trained on the harder ``digit_debris_mnist5k`` task, against fine-tuning the same pretrained body
without feedback with the same head, optimizer, epochs and data order.

    python tools/measure_feedback_on_pretrained.py [--seeds 0 1 2] [--epochs 8]
        [--out docs/data/feedback_on_pretrained.json] [--quick]

Two settings, each with the same trainable set on both sides apart from what feedback adds:

* ``whole``: every weight of the pretrained model is fine-tuned (batch norm in training mode).
  A = the pretrained model; B = ``add_feedback(model, freeze=False)``.
* ``frozen_body``: the four conv blocks (weights and batch-norm statistics) stay as shipped, the
  dense head (fc1 + logits) is fine-tuned. A = the pretrained model with its blocks frozen;
  B = ``add_feedback(model, freeze=True)`` with the head unfrozen (adapters + context head + head).

B is CBL with T = 2 refinement steps, α = 0 and FiLM adapters at the four block outputs (eq. 7),
trained on the step loss Σ_τ λ_τ ℓ(y⁽τ⁾, y*) with uniform λ (eq. 9). Both sides of a seed see the
same example order (one permutation per epoch drawn from the seed) and start from the same
weights (B's y⁽⁰⁾ equals A's prediction before training; the script checks it). Test accuracy
is on the whole debris test split (every test digit once at each debris level 0, 5, 10, 20, 40),
for A, for each refinement step of B, and per debris level. The paired gain is B(y⁽ᵀ⁾) − A per
seed, reported as mean ± sample std over seeds, whatever its sign.

``--quick`` runs a tiny version (one seed, one epoch of a few batches, a few test digits per
level) to check that everything runs; its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = "standard-cnn-mnist5k"
DATASET = "digit_debris_mnist5k"
LEVELS = (0, 5, 10, 20, 40)
INPUT_SHAPE = (28, 28, 1)
TAPS = ("block1", "block2", "block3", "block4")
SETTINGS = ("whole", "frozen_body")
FEEDBACK = {"iterations": 2, "alpha": 0.0, "adapter": "film", "step_weights": "uniform", "context_dim": 64}


def load_split(split: str, levels: Sequence[int], per_level: int | None = None) -> tuple[np.ndarray, ...]:
    """(x, y, level) of ``digit_debris_mnist5k``: ``train`` (levels drawn per example) or the
    ``test`` split as its levels one after another (``per_level``: only the first digits of each)."""
    from topdown_zoo.data import load_dataset
    from topdown_zoo.data.digit_debris import load_arrays

    if split == "train":
        x, y = _arrays(load_dataset(DATASET, split, levels=tuple(levels)))
        return x, y, np.asarray(load_arrays(split, levels=tuple(levels))[2])
    xs, ys, ls = [], [], []
    for level in levels:
        x, y = _arrays(load_dataset(DATASET, split, level=level))
        if per_level is not None:
            x, y = x[:per_level], y[:per_level]
        xs.append(x)
        ys.append(y)
        ls.append(np.full(len(y), level))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ls)


def _arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = next(iter(dataset.batch(1 << 20).as_numpy_iterator()))
    return np.asarray(x, "float32"), np.asarray(y, "int32")


def as_functional(model: Any) -> Any:
    """The shipped StandardCNN (a subclassed model of stages block1…block4, head) as a Functional
    model with the same layer objects, which :func:`topdown_zoo.add_feedback` can cut at its blocks."""
    import keras

    inputs = keras.Input(INPUT_SHAPE)
    h = inputs
    for layer in model.stage_layers:
        h = layer(h)
    return keras.Model(inputs, h, name="standard_cnn_mnist5k")


def load_pretrained() -> tuple[Any, dict[str, str]]:
    """The shipped ``standard-cnn-mnist5k`` and where its weights came from. ``tz.load`` checks every
    file of the hub folder against the package's sha256 pins; while its model card is being
    rewritten (README/metadata differ from their pins) the weights file alone is loaded, after
    checking it against its own pin, so the numbers always come from the published weights."""
    import topdown_zoo as tz
    from topdown_zoo.errors import HubError
    from topdown_zoo.hub.manifest import sha256_file
    from topdown_zoo.hub.pins import load_pins

    pinned = load_pins()[PRETRAINED]["model.weights.h5"]
    try:
        return tz.load(PRETRAINED), {"loaded_by": f"tz.load({PRETRAINED!r})", "weights_sha256": pinned}
    except HubError:
        path = ROOT / "hub" / PRETRAINED / "model.weights.h5"
        if sha256_file(path) != pinned:
            raise
        return (tz.load(PRETRAINED, weights=str(path)),
                {"loaded_by": f"tz.load({PRETRAINED!r}, weights='hub/{PRETRAINED}/model.weights.h5')",
                 "weights_sha256": pinned})


def build_side(pretrained: Any, side: str, setting: str, seed: int) -> Any:
    """A fresh copy of the pretrained model (side ``A``) or of it with feedback (side ``B``)."""
    import keras

    import topdown_zoo as tz

    keras.utils.set_random_seed(seed)  # B's new weights (adapters, context head) depend on the seed
    copy = pretrained.with_config()  # same config, same weights, new variables
    frozen = setting == "frozen_body"
    if side == "A":
        for layer in copy.stage_layers[:-1]:
            layer.trainable = not frozen
        return copy
    model = tz.add_feedback(as_functional(copy), taps=list(TAPS), freeze=frozen, **FEEDBACK)
    set_trainable(model.stage_layers[-1], True)  # the dense head is fine-tuned in both settings
    return model


def set_trainable(layer: Any, value: bool) -> None:
    """``layer.trainable = value`` on the layer and every nested layer. (Keras 3 skips the nested
    layers when the outer one already has that value, e.g. add_feedback's head stage, a trainable
    Sequential around the frozen model segment.)"""
    layer.trainable = value
    for sub in getattr(layer, "layers", []):
        set_trainable(sub, value)


def _numpy(variable: Any) -> np.ndarray:
    from keras import ops

    return np.array(ops.convert_to_numpy(variable.value))


def count(weights: Sequence[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def predict_steps(model: Any, x: np.ndarray, batch: int = 500) -> list[np.ndarray]:
    """Logits of every step ([y] for A, [y⁽⁰⁾, …, y⁽ᵀ⁾] for B), at inference."""
    from keras import ops

    chunks = [model.step_outputs(x[i:i + batch], training=False) for i in range(0, len(x), batch)]
    return [np.concatenate([ops.convert_to_numpy(c[k]) for c in chunks]) for k in range(len(chunks[0]))]


def accuracies(logits: np.ndarray, y: np.ndarray, levels: np.ndarray) -> dict[str, Any]:
    hit = np.argmax(logits, axis=-1) == y
    return {"accuracy": float(hit.mean()),
            "per_level": {str(int(lv)): float(hit[levels == lv].mean()) for lv in np.unique(levels)}}


def train_side(model: Any, data: dict[str, Any], orders: list[np.ndarray], args: argparse.Namespace) -> dict:
    import keras

    model.compile_default(keras.optimizers.Adam(args.learning_rate))
    x, y = data["train"][:2]
    losses, start = [], time.perf_counter()
    for order in orders:  # the same example order on both sides
        history = model.fit(x[order], y[order], batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        losses.append(float(history.history["loss"][-1]))
    return {"train_seconds": round(time.perf_counter() - start, 1), "train_loss_per_epoch": losses}


def run_seed(pretrained: Any, seed: int, setting: str, data: dict[str, Any],
             args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = len(data["train"][1])
    orders = [rng.permutation(n)[:args.train_examples] for _ in range(args.epochs)]
    xt, yt, lt = data["test"]
    a, b = build_side(pretrained, "A", setting, seed), build_side(pretrained, "B", setting, seed)
    probe = xt[:200]
    init_diff = float(np.max(np.abs(predict_steps(a, probe)[0] - predict_steps(b, probe)[0])))
    frozen_before = [_numpy(w) for w in b.non_trainable_weights] if setting == "frozen_body" else None
    result: dict[str, Any] = {"seed": seed, "init_step0_max_abs_diff": init_diff}
    for side, model in (("A", a), ("B", b)):
        info = train_side(model, data, orders, args)
        steps = predict_steps(model, xt)
        info.update(accuracies(steps[-1], yt, lt))
        info["trainable_parameters"] = count(model.trainable_weights)
        if side == "B":
            info["per_step_accuracy"] = [accuracies(s, yt, lt)["accuracy"] for s in steps]
        result[side] = info
    if frozen_before is not None:
        result["B"]["frozen_weights_unchanged"] = all(
            np.array_equal(w0, _numpy(w)) for w0, w in zip(frozen_before, b.non_trainable_weights))
    result["gain"] = result["B"]["accuracy"] - result["A"]["accuracy"]
    return result


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "values": list(values)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means ± sample std over seeds: A, B per step, and the paired gain B − A."""
    steps = len(runs[0]["B"]["per_step_accuracy"])
    return {"A": mean_std([r["A"]["accuracy"] for r in runs]),
            "B": mean_std([r["B"]["accuracy"] for r in runs]),
            "B_per_step": [mean_std([r["B"]["per_step_accuracy"][k] for r in runs]) for k in range(steps)],
            "A_per_level": {lv: statistics.mean(r["A"]["per_level"][lv] for r in runs) for lv in runs[0]["A"]["per_level"]},
            "B_per_level": {lv: statistics.mean(r["B"]["per_level"][lv] for r in runs) for lv in runs[0]["B"]["per_level"]},
            "gain": mean_std([r["gain"] for r in runs]),
            "gain_step0": mean_std([r["B"]["per_step_accuracy"][0] - r["A"]["accuracy"] for r in runs])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--train-examples", type=int, default=None, help="examples per epoch (default: all 3,600)")
    parser.add_argument("--test-per-level", type=int, default=None, help="test digits per level (default: all 1,000)")
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "data" / "feedback_on_pretrained.json")
    parser.add_argument("--quick", action="store_true", help="tiny run that checks the plumbing (numbers meaningless)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.train_examples, args.test_per_level = args.seeds[:1], 1, 64, 20

    import keras

    started = time.perf_counter()
    data = {"train": load_split("train", LEVELS), "test": load_split("test", LEVELS, args.test_per_level)}
    base, provenance = load_pretrained()
    pretrained = accuracies(predict_steps(base, data["test"][0])[0], data["test"][1], data["test"][2])
    print(f"{PRETRAINED} without fine-tuning: {100 * pretrained['accuracy']:.2f} %", flush=True)
    results: dict[str, Any] = {}
    for setting in args.settings:
        runs = []
        for seed in args.seeds:
            run = run_seed(base, seed, setting, data, args)
            runs.append(run)
            print(f"{setting} seed {seed}: A {100 * run['A']['accuracy']:.2f} %  B "
                  + " / ".join(f"{100 * a:.2f}" for a in run["B"]["per_step_accuracy"])
                  + f" %  gain {100 * run['gain']:+.2f} points ({run['A']['train_seconds']} s, "
                  f"{run['B']['train_seconds']} s)", flush=True)
        results[setting] = {"runs": runs, "summary": summarize(runs)}
        gain = results[setting]["summary"]["gain"]
        print(f"{setting}: gain {100 * gain['mean']:+.2f} ± {100 * (gain['std'] or 0.0):.2f} points", flush=True)

    command = "python tools/measure_feedback_on_pretrained.py" + (" --quick" if args.quick else "")
    if not args.quick:
        command += f" --seeds {' '.join(map(str, args.seeds))} --epochs {args.epochs}"
    report = {
        "command": command,
        "quick": bool(args.quick),
        "pretrained": PRETRAINED,
        "pretrained_weights": provenance,
        "dataset": DATASET,
        "debris_levels": list(LEVELS),
        "train_examples_per_epoch": len(data["train"][1]) if args.train_examples is None else args.train_examples,
        "test_examples": int(len(data["test"][1])),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": {"name": "adam", "learning_rate": args.learning_rate},
        "seeds": args.seeds,
        "feedback": {**FEEDBACK, "taps": list(TAPS)},
        "pretrained_without_finetuning": pretrained,
        "settings": results,
        "environment": {"backend": keras.backend.backend(), "keras": keras.__version__,
                        "python": platform.python_version(), "machine": platform.machine(),
                        "total_seconds": round(time.perf_counter() - started, 1)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

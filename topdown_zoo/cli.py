"""``topdown-zoo``: list, inspect, train, evaluate, predict, export and publish zoo models.

Bad input (unknown name, bad recipe key or value, wrong input shape or dtype, missing weights)
prints one line ``error: ...`` on stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from topdown_zoo.errors import TopdownZooError  # noqa: E402


def _cmd_list(args) -> int:
    from topdown_zoo.registry import all_specs, list_models

    names = list_models(args.pattern, family=args.family, pretrained=args.pretrained)
    specs = all_specs()
    width = max((len(n) for n in names), default=10)
    for name in names:
        spec = specs[name]
        mark = "✓" if spec.weights else " "
        print(f"{name:<{width}}  {mark}  {spec.family:<9} {spec.description}")
    print(f"{len(names)} model(s); ✓ = trained weights ship with the zoo", file=sys.stderr)
    return 0


def _cmd_info(args) -> int:
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.name)
    info = spec.to_dict()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{spec.name}: {spec.description}")
    for key in ("family", "task", "dataset", "input_shape", "input_dtype", "input_range", "recipe", "weights",
                "hf_repo_id", "paper"):
        print(f"  {key:<12} {info[key]}")
    print(f"  {'config':<12} {json.dumps(info['config'])}")
    print(f"  {'preprocess':<12} {json.dumps(info['preprocessing'])}")
    for metric, value in spec.paper_results.items():
        print(f"  paper's {metric}: {value}  (the paper's claim, not measured here)")
    return 0


def _cmd_train(args) -> int:
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    recipe = load_recipe(args.recipe, args.set)
    metrics = train(recipe, args.out, smoke=args.smoke, hub_dir=args.hub_dir, verbose=args.verbose)
    shown = {k: v for k, v in metrics.items() if not k.startswith("_")}
    print(json.dumps(shown, sort_keys=True))
    return 0


def _load_for_cli(name: str, weights: str | None, allow_random: bool):
    import topdown_zoo as tz
    from topdown_zoo.errors import WeightsNotAvailableError

    try:
        return tz.load(name, weights=weights)
    except WeightsNotAvailableError:
        if not allow_random:
            raise
        print(f"warning: {name} has no trained weights; evaluating a randomly initialised model", file=sys.stderr)
        return tz.create(name)


def _cmd_evaluate(args) -> int:
    from topdown_zoo.registry import get_spec

    from topdown_zoo.evaluation import evaluate_entry

    spec = get_spec(args.name)
    model = _load_for_cli(args.name, args.weights, args.random_init)
    overrides = {} if args.batch_size is None else {"batch_size": args.batch_size}
    metrics = evaluate_entry(model, spec, smoke=args.smoke, recipe=_recipe_of(args.weights), **overrides)
    if not args.json:
        for key, value in metrics.items():
            print(f"{key:<24} {value:.6g}")
    print(json.dumps(metrics, sort_keys=True) if args.json else "")
    return 0


def _recipe_of(weights: str | None) -> dict | None:
    """The recipe recorded in a hub folder or run directory (a fine-tuned model is evaluated on
    its own recipe's test data); ``None`` means the entry's own recipe."""
    if weights is None:
        return None
    import yaml

    from topdown_zoo.hub import hub_folder_of
    from topdown_zoo.recipe import validate

    recorded = hub_folder_of(weights) / "recipe.yaml"
    if not recorded.is_file():
        return None
    return validate(yaml.safe_load(recorded.read_text()))


def _cmd_predict(args) -> int:
    import numpy as np

    from topdown_zoo.inputs import validate_batch
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.name)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise TopdownZooError(f"cannot read {args.input!r} as a .npy array: {err}") from None
    x = validate_batch(x, spec)
    model = _load_for_cli(args.name, args.weights, allow_random=False)
    steps = model.refine(x) if hasattr(model, "refine") else [model(x, training=False)]
    for k, step in enumerate(steps):
        print(f"step {k}: " + " ".join(str(int(c)) for c in np.asarray(step).argmax(-1)))
    return 0


def _cmd_demo(args) -> int:
    from topdown_zoo.demo import run_demo

    run_demo(args.name, examples=args.examples)
    return 0


def _cmd_export(args) -> int:
    from topdown_zoo.exporting import export

    model = _load_for_cli(args.name, args.weights, args.random_init)
    path = export(model, args.out, format=args.format, iterations=args.iterations, outputs=args.outputs,
                  check=not args.no_check)
    print(f"exported {args.name} to {path}")
    return 0


def _cmd_publish(args) -> int:
    from topdown_zoo.hub import publish

    result = publish(args.dir, args.repo_id, revision=args.revision, private=args.private, dry_run=args.dry_run)
    if result is not None and not args.dry_run:
        print(result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topdown-zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard pattern, e.g. 'cbl-*'")
    p.add_argument("--family")
    p.add_argument("--pretrained", action="store_true", help="only models whose weights ship with the zoo")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="show a model's registry entry")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("train", help="run a training recipe")
    p.add_argument("recipe", help="recipes/NAME.yaml or a registry name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key (dotted)")
    p.add_argument("--smoke", action="store_true", help="a few steps on tiny data, to check the recipe runs")
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--hub-dir", help="also package the trained model into HUB_DIR/NAME")
    p.add_argument("--verbose", default="auto", help="Keras verbosity: auto, 0, 1 (progress bar), 2 (one line per epoch)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a model on its own test data")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object on the last line")
    p.add_argument("--weights", help="a hub folder or .weights.h5 file instead of the published weights")
    p.add_argument("--smoke", action="store_true", help="evaluate on a few dozen examples")
    p.add_argument("--batch-size", type=int, help="evaluation batch size (default: the recipe's, else 256)")
    p.add_argument("--random-init", action="store_true", help="evaluate an untrained model if no weights exist")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="per-step class predictions for a batch stored as .npy")
    p.add_argument("name")
    p.add_argument("input", help="a .npy file holding a batch shaped like the model's input")
    p.add_argument("--weights")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("demo", help="load a pretrained model and show its refinement on held-out digits (offline)")
    p.add_argument("name", nargs="?", default="cbl-cnn-mnist5k")
    p.add_argument("--examples", type=int, default=8)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export", help="export to ONNX or a TensorFlow SavedModel, parity-checked")
    p.add_argument("name")
    p.add_argument("--format", choices=["onnx", "saved_model"], default="onnx")
    p.add_argument("--out", required=True, help="output path (.onnx file or SavedModel directory)")
    p.add_argument("--iterations", type=int, help="refinement steps in the exported model")
    p.add_argument("--outputs", choices=["final", "steps"], default="final")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against Keras")
    p.add_argument("--weights")
    p.add_argument("--random-init", action="store_true", help="export an untrained model if no weights exist")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("publish", help="upload a packaged hub folder to the Hugging Face Hub")
    p.add_argument("dir")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--revision")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print what would be uploaded")
    p.set_defaults(func=_cmd_publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", None) not in (None, "auto"):
        try:
            args.verbose = int(args.verbose)
        except ValueError:
            print(f"error: --verbose must be auto, 0, 1 or 2, got {args.verbose!r}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except TopdownZooError as err:
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

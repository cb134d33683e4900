"""``topdown-zoo``: list, inspect, train, evaluate, predict, test the robustness of, export and publish zoo models.

Bad input (unknown name, bad option, recipe key or value, wrong input shape or dtype, missing
weights) prints one line ``error: ...`` on stderr and exits with status 2. With ``--json``,
standard output holds only the JSON document; progress bars and logs go to stderr.

The commands use only the model contract (:mod:`topdown_zoo.models.base`) and the registry;
``list``, ``info`` and ``--help`` import neither Keras nor TensorFlow.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn, TextIO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from topdown_zoo.errors import (  # noqa: E402
    ExportError,
    InputSpecError,
    RecipeError,
    TopdownZooError,
    UnpinnedWeightsWarning,
)

VERBOSITY = ("auto", "0", "1", "2")
PREDICT_BATCH = 256
_KERAS = ("keras",)
_KERAS_AND_DATA = ("keras", "tensorflow")  # tf.data pipelines


# ---------------------------------------------------------------------------------------- output
def _emit(args: argparse.Namespace, text: str = "") -> None:
    """Print a result line on the real standard output (also while ``--json`` sends the rest to stderr)."""
    print(text, file=args.stdout)


def _emit_json(args: argparse.Namespace, document: Any) -> None:
    _emit(args, json.dumps(document, sort_keys=True, default=str))


# ---------------------------------------------------------------------------------------- list / info
def _cmd_list(args: argparse.Namespace) -> int:
    from topdown_zoo.registry import all_specs, list_models

    names = list_models(args.pattern, family=args.family, pretrained=args.pretrained)
    specs = all_specs()
    if args.json:
        _emit_json(args, [specs[name].to_dict() for name in names])
        return 0
    width = max((len(n) for n in names), default=10)
    for name in names:
        spec = specs[name]
        mark = "✓" if spec.weights else " "
        _emit(args, f"{name:<{width}}  {mark}  {spec.family:<9} {spec.description}")
    print(f"{len(names)} model(s); ✓ = trained weights ship with the zoo", file=sys.stderr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.name)
    info = spec.to_dict()
    if args.json:
        _emit_json(args, info)
        return 0
    _emit(args, f"{spec.name}: {spec.description}")
    for key in ("family", "task", "dataset", "input_shape", "input_dtype", "input_range", "recipe", "weights",
                "hf_repo_id", "paper"):
        _emit(args, f"  {key:<12} {info[key]}")
    _emit(args, f"  {'config':<12} {json.dumps(info['config'])}")
    _emit(args, f"  {'preprocess':<12} {json.dumps(info['preprocessing'])}")
    for metric, value in spec.paper_results.items():
        _emit(args, f"  paper's {metric}: {value}  (the paper's claim, not measured here)")
    return 0


# ---------------------------------------------------------------------------------------- train / evaluate
def _cmd_train(args: argparse.Namespace) -> int:
    from topdown_zoo.recipe import load_recipe
    from topdown_zoo.training import train

    if Path(args.recipe).is_dir():
        raise RecipeError(f"{args.recipe!r} is a directory; give a recipe file (recipes/NAME.yaml) or a registry name")
    recipe = load_recipe(args.recipe, args.set)
    metrics = train(recipe, args.out, smoke=args.smoke, hub_dir=args.hub_dir, verbose=args.verbose, force=args.force)
    shown = {k: v for k, v in metrics.items() if not k.startswith("_")}
    _emit_json(args, shown)
    return 0


def _load_for_cli(name: str, weights: str | None, allow_random: bool) -> Any:
    import topdown_zoo as tz
    from topdown_zoo.errors import WeightsNotAvailableError

    try:
        return tz.load(name, weights=weights)
    except WeightsNotAvailableError:
        if not allow_random:
            raise
        print(f"warning: {name} has no trained weights; using a randomly initialised model", file=sys.stderr)
        return tz.create(name)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from topdown_zoo.evaluation import evaluate_entry
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.name)
    if args.plots:
        from topdown_zoo.plots import check_out_dir

        check_out_dir(args.plots)  # before the evaluation, not after it
    model = _load_for_cli(args.name, args.weights, args.random_init)
    overrides = {} if args.batch_size is None else {"batch_size": args.batch_size}
    recipe = _recipe_of(args.weights)
    metrics = evaluate_entry(model, spec, smoke=args.smoke, recipe=recipe, **overrides)
    if args.json:
        _emit_json(args, metrics)
    else:
        for key, value in metrics.items():
            _emit(args, f"{key:<24} {value:.6g}")
    if args.plots:
        from topdown_zoo.plots import load_examples, write_plots

        paths = write_plots(model, load_examples(spec, smoke=args.smoke, recipe=recipe), args.plots)
        print(f"wrote {', '.join(p.name for p in paths)} to {args.plots}", file=sys.stderr)
    return 0


def _recipe_of(weights: str | None) -> dict[str, Any] | None:
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
    recipe: dict[str, Any] = validate(yaml.safe_load(recorded.read_text()))
    return recipe


# ---------------------------------------------------------------------------------------- predict
def _read_npy(path: str) -> Any:
    """The array in a ``.npy`` file, memory-mapped (the file's size does not matter): its header
    is checked against the file's size first, so a header claiming 10⁹ rows is an error, not an
    allocation."""
    import numpy as np

    source = Path(path)
    if source.is_dir():
        raise InputSpecError(f"{path!r} is a directory; give a .npy file saved with numpy.save(path, x)")
    try:
        with open(source, "rb") as f:
            magic = f.read(6)
            if magic != b"\x93NUMPY":
                raise InputSpecError(f"{path!r} is {'empty' if not magic else 'not a .npy file'}: save the batch with "
                                     "numpy.save(path, x)")
            f.seek(0)
            major, _minor = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            offset = f.tell()
        if dtype.hasobject:
            raise InputSpecError(f"cannot read {path!r} as a .npy array: it holds Python objects (a pickle, "
                                 "never loaded); give a numeric array")
        needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        available = source.stat().st_size - offset
        if needed > available:
            raise InputSpecError(f"{path!r} is truncated or its header is wrong: the header says shape {tuple(shape)} "
                                 f"({needed} bytes of data) but the file holds {available} bytes after it")
        x = np.load(source, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        if isinstance(err, TopdownZooError):
            raise
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise InputSpecError(f"cannot read {path!r} as a .npy array: {reason}") from None
    return x


def _task_option(value: str) -> int | str:
    """``--task``: a task id (an integer) or a task name; the model checks it."""
    try:
        return int(value)
    except ValueError:
        return value


def _format_cell(value: Any) -> str:
    import numpy as np

    value = np.asarray(value)
    if value.ndim:
        return json.dumps(value.tolist())
    if np.issubdtype(value.dtype, np.floating):
        return f"{float(value):.4g}"
    return str(value.item())


class _TextTable:
    """Prints a header line, then one line per example, as the batches arrive."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.widths: dict[str, int] | None = None

    def add(self, start: int, columns: dict[str, Any]) -> None:
        if self.widths is None:
            self.widths = {"index": 5, **{name: max(len(name), 6) for name in columns}}
            _emit(self.args, "  ".join(f"{name:>{w}}" for name, w in self.widths.items()))
        rows = len(next(iter(columns.values()))) if columns else 0
        for i in range(rows):
            cells = [f"{start + i:>5}"] + [f"{_format_cell(columns[n][i]):>{self.widths[n]}}" for n in columns]
            _emit(self.args, "  ".join(cells))


class _NpzWriter:
    """Writes per-example arrays to an ``.npz`` batch by batch: each key is streamed into a
    memory-mapped ``.npy`` beside the target, the ``.npy`` files are zipped into a temporary
    file, and that file is renamed onto the target (no partial ``.npz`` is ever left)."""

    def __init__(self, path: Path, examples: int) -> None:
        import tempfile

        self.path, self.examples = path, examples
        self.workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        self.maps: dict[str, Any] = {}

    def add(self, start: int, arrays: dict[str, Any]) -> None:
        import numpy as np

        for key, value in arrays.items():
            value = np.asarray(value)
            if key not in self.maps:
                self.maps[key] = np.lib.format.open_memmap(self.workdir / f"{key}.npy", mode="w+", dtype=value.dtype,
                                                           shape=(self.examples, *value.shape[1:]))
            self.maps[key][start:start + len(value)] = value

    def close(self) -> None:
        import zipfile

        for array in self.maps.values():
            array.flush()
        self.maps = dict.fromkeys(self.maps)  # unmap before zipping
        partial = self.workdir / "out.npz"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for key in self.maps:
                archive.write(self.workdir / f"{key}.npy", arcname=f"{key}.npy")
        os.replace(partial, self.path)
        self.discard()

    def discard(self) -> None:
        import shutil

        self.maps = {}
        shutil.rmtree(self.workdir, ignore_errors=True)


def _npz_target(out: str) -> Path:
    path = Path(out if out.endswith(".npz") else out + ".npz")  # as numpy.savez names it
    if not path.parent.is_dir():
        raise TopdownZooError(f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return path


def _cmd_predict(args: argparse.Namespace) -> int:
    from topdown_zoo.data.class_names import model_class_names, name_labels
    from topdown_zoo.inputs import check_batch_layout, validate_batch
    from topdown_zoo.registry import get_spec

    spec = get_spec(args.name)
    target = _npz_target(args.out) if args.out else None
    x = _read_npy(args.input)
    check_batch_layout(x.shape, x.dtype, spec)
    model = _load_for_cli(args.name, args.weights, allow_random=False)
    names = model_class_names(model)
    options = {} if args.task is None else {"task": args.task}
    table = None if args.json else _TextTable(args)
    collected: dict[str, list[Any]] = {}
    writer = _NpzWriter(target, len(x)) if target else None
    try:
        for start in range(0, len(x), args.batch_size):
            batch = validate_batch(x[start:start + args.batch_size], spec)
            prediction = model.interpret(batch, **options)
            columns, arrays = _to_numpy(prediction.columns), _to_numpy(prediction.arrays)
            columns = name_labels(columns, names)  # class_name beside label (task labels too), where known
            if table is not None:
                table.add(start, columns)
            else:
                for name, values in columns.items():
                    collected.setdefault(name, []).extend(values.tolist())
            if writer is not None:
                writer.add(start, {**columns, **arrays})
        if writer is not None:
            writer.close()
            print(f"wrote the predictions of {len(x)} example(s) to {target}", file=sys.stderr)
    finally:
        if writer is not None:
            writer.discard()
    if args.json:
        _emit_json(args, {"columns": collected})
    return 0


def _to_numpy(values: dict[str, Any]) -> dict[str, Any]:
    """The Prediction's per-example values as NumPy arrays (whatever the Keras backend)."""
    import keras

    return {name: keras.ops.convert_to_numpy(value) for name, value in values.items()}


# ---------------------------------------------------------------------------------------- robustness
def _cmd_robustness(args: argparse.Namespace) -> int:
    from topdown_zoo import robustness
    from topdown_zoo.registry import get_spec

    get_spec(args.name)  # an unknown name fails before anything is loaded
    names = robustness.check_corruptions(args.corruptions)
    levels = robustness.parse_levels(args.levels, names)
    model = _load_for_cli(args.name, args.weights, False)
    result = robustness.measure(model, names, levels, examples=args.examples, seed=args.seed)
    paths = robustness.write_report(result, args.out) if args.out else []
    if args.json:
        _emit_json(args, result)
    else:
        _emit(args, robustness.markdown(result))
    if paths:
        print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------- demo / export / publish
def _cmd_demo(args: argparse.Namespace) -> int:
    from topdown_zoo.demo import run_demo

    run_demo(args.name, examples=args.examples, out=args.stdout)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from topdown_zoo.exporting import export

    _check_writable_target(args.out)
    model = _load_for_cli(args.name, args.weights, args.random_init)
    path = export(model, args.out, format=args.format, iterations=args.iterations, outputs=args.outputs,
                  check=not args.no_check, force=args.force, loops=args.loops)
    _emit(args, f"exported {args.name} to {path}")
    return 0


def _check_writable_target(out: str) -> None:
    """Refuse an output path that cannot be created: one under a file, or in a folder that is
    not writable (checked before the model is loaded, which takes seconds)."""
    target = Path(out).absolute()
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ExportError(f"cannot write {out!r}: {str(parent)!r} is a file, not a folder")
    import tempfile

    try:  # a real probe: access() says yes to root even on /sys and /proc
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise ExportError(f"cannot write {out!r}: the folder {str(parent)!r} is not writable "
                          f"({err.strerror or err})") from None


def _cmd_publish(args: argparse.Namespace) -> int:
    from topdown_zoo.hub import publish

    result = publish(args.dir, args.repo_id, revision=args.revision, private=args.private, dry_run=args.dry_run)
    if result is not None and not args.dry_run:
        _emit(args, str(result))
    return 0


# ---------------------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are zoo errors (one line ``error: ...``, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise TopdownZooError(f"{self.prog}: {message} (see {self.prog} --help)")


def _verbosity(value: str) -> str | int:
    if value not in VERBOSITY:
        raise argparse.ArgumentTypeError(f"must be auto, 0, 1 or 2, got {value!r}")
    return value if value == "auto" else int(value)


def _batch_size(value: str) -> int:
    from topdown_zoo.checks import MAX_BATCH_SIZE

    number = _positive_int(value)
    if number > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, {MAX_BATCH_SIZE}], got {value!r}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The ``topdown-zoo`` argument parser (each sub-command sets ``func`` and the modules it needs)."""
    parser = _Parser(prog="topdown-zoo", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard pattern, e.g. 'cbl-*'")
    p.add_argument("--family", help="only this family's models")
    p.add_argument("--pretrained", action="store_true", help="only models whose weights ship with the zoo")
    p.add_argument("--json", action="store_true", help="print the registry entries as one JSON list")
    p.set_defaults(func=_cmd_list, needs=())

    p = sub.add_parser("info", help="show a model's registry entry")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print the registry entry as one JSON object")
    p.set_defaults(func=_cmd_info, needs=())

    p = sub.add_parser("train", help="run a training recipe")
    p.add_argument("recipe", help="recipes/NAME.yaml or a registry name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe key (dotted)")
    p.add_argument("--smoke", action="store_true", help="a few steps on tiny data, to check the recipe runs")
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--hub-dir", help="also package the trained model into HUB_DIR/NAME (refused if it exists)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing HUB_DIR/NAME, and discard an interrupted run of another recipe in --out")
    p.add_argument("--verbose", type=_verbosity, default="auto",
                   help="Keras verbosity: auto, 0, 1 (progress bar), 2 (one line per epoch)")
    p.set_defaults(func=_cmd_train, needs=_KERAS_AND_DATA)

    p = sub.add_parser("evaluate", help="evaluate a model on its own test data")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print only the metrics, as one JSON object")
    p.add_argument("--weights", help="a hub folder or .weights.h5 file instead of the published weights")
    p.add_argument("--smoke", action="store_true", help="evaluate on a few dozen examples")
    p.add_argument("--batch-size", type=_batch_size, help="evaluation batch size (default: the recipe's, else 256)")
    p.add_argument("--random-init", action="store_true", help="evaluate an untrained model if no weights exist")
    p.add_argument("--plots", metavar="DIR", help="also write the model's pictures (PNG) into DIR "
                   "(samples, reconstructions, per-step predictions ...; see docs/pictures.md)")
    p.set_defaults(func=_cmd_evaluate, needs=_KERAS_AND_DATA)

    p = sub.add_parser("predict", help="predictions for a batch stored as .npy, one line per example")
    p.add_argument("name")
    p.add_argument("input", help="a .npy file holding a batch shaped like the model's input (any size)")
    p.add_argument("--task", type=_task_option,
                   help="the task to answer (an id or a name), for a model that takes a task (default: every task)")
    p.add_argument("--out", help="also write the predictions (columns and arrays, e.g. reconstructions) to OUT.npz")
    p.add_argument("--json", action="store_true", help='print one JSON object {"columns": {...}}')
    p.add_argument("--batch-size", type=_batch_size, default=PREDICT_BATCH,
                   help=f"examples per model call (default {PREDICT_BATCH})")
    p.add_argument("--weights", help="a hub folder or .weights.h5 file instead of the published weights")
    p.set_defaults(func=_cmd_predict, needs=_KERAS)

    p = sub.add_parser("robustness", help="a classifier's accuracy per refinement step against corruption level "
                       "(occlusion, Gaussian noise, digit debris)")
    p.add_argument("name")
    p.add_argument("--corruptions", nargs="+", metavar="NAME", help="occlusion, noise, debris (default: all)")
    p.add_argument("--levels", action="append", default=[], metavar="CORRUPTION=V1,V2,...",
                   help="levels of one corruption, e.g. noise=0,0.2,0.4 (repeatable; default: a few per corruption)")
    p.add_argument("--examples", type=_positive_int, default=1000, help="test examples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the example draw and of the corruptions")
    p.add_argument("--out", metavar="DIR", help="also write robustness_NAME.json, .md and .png into DIR")
    p.add_argument("--weights", help="a hub folder or .weights.h5 file instead of the published weights")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_cmd_robustness, needs=_KERAS_AND_DATA)

    p = sub.add_parser("demo", help="load a pretrained model and show its refinement on held-out digits (offline)")
    p.add_argument("name", nargs="?", default="cbl-cnn-mnist5k")
    p.add_argument("--examples", type=_positive_int, default=8, help="digits to show (default 8)")
    p.set_defaults(func=_cmd_demo, needs=_KERAS_AND_DATA)

    p = sub.add_parser("export", help="export to ONNX or a TensorFlow SavedModel, parity-checked")
    p.add_argument("name")
    p.add_argument("--format", choices=["onnx", "saved_model"], default="onnx")
    p.add_argument("--out", required=True, help="output path (.onnx file or SavedModel directory)")
    p.add_argument("--iterations", type=int, help="refinement steps in the exported model")
    p.add_argument("--outputs", choices=["final", "steps"], default="final")
    p.add_argument("--loops", choices=["unrolled", "loop"], default="unrolled",
                   help="fixed-count settling / refinement loops with one copy of the step per iteration "
                        "(default; faster in ONNX Runtime) or as one graph loop (docs/export.md)")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against Keras")
    p.add_argument("--weights")
    p.add_argument("--random-init", action="store_true", help="export an untrained model if no weights exist")
    p.add_argument("--force", action="store_true",
                   help="replace whatever is at --out (without it, only an earlier export is replaced)")
    p.set_defaults(func=_cmd_export, needs=_KERAS_AND_DATA)

    p = sub.add_parser("publish", help="upload a packaged hub folder to the Hugging Face Hub")
    p.add_argument("dir")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--revision")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="print what would be uploaded")
    p.set_defaults(func=_cmd_publish, needs=())
    return parser


def _run(args: argparse.Namespace) -> int:
    from topdown_zoo.api import quiet_import

    quiet_import(*args.needs)
    if getattr(args, "json", False):  # stdout holds only the JSON: anything else printed goes to stderr
        with contextlib.redirect_stdout(sys.stderr):
            return int(args.func(args))
    return int(args.func(args))


def main(argv: list[str] | None = None) -> int:
    """Run ``topdown-zoo`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    stdout: TextIO = sys.stdout
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", UnpinnedWeightsWarning)  # the zoo shows each one once itself
            warnings.showwarning = _one_line_warning
            args = build_parser().parse_args(argv)
            args.stdout = stdout
            return _run(args)
    except TopdownZooError as err:
        message = " ".join(str(err).split())
        print(f"error: {message}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the command cannot read or write: the user's environment, not a bug
        where = f" {err.filename!r}" if err.filename else ""
        print(f"error: cannot access{where}: {err.strerror or err}", file=sys.stderr)
        return 2


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: TextIO | None = None, line: str | None = None) -> None:
    """Zoo warnings as one line ``warning: ...`` on stderr; others as Python prints them."""
    if issubclass(category, UnpinnedWeightsWarning):
        print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


if __name__ == "__main__":
    sys.exit(main())

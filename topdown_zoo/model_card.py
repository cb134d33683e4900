"""Model cards for hub folders: Hugging Face YAML front matter + intended use, loading, recipe,
measured results (the paper's claim beside them, labelled as the paper's), limitations, citation.

Only numbers from ``metrics.json`` (what a run measured) go into the results table and the
``model-index``; the registry's ``paper_results`` are quoted as the paper's and never enter the
``model-index``.
"""
from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from topdown_zoo.registry import ModelSpec

LICENSE = "apache-2.0"

# Hugging Face Hub tasks (https://huggingface.co/tasks) an entry may name as ``pipeline_tag``.
HUB_PIPELINE_TAGS = frozenset({"image-classification", "audio-classification", "image-to-image",
                               "unconditional-image-generation", "image-feature-extraction"})

# registry dataset key -> (Hugging Face Hub dataset id or None, what this entry's data is).
# Where the data is a subset or a derivation of a Hub dataset, the id is the source's and the card's
# body says what was taken from it; data with no Hub source has no id.
DATASETS: dict[str, tuple[str | None, str]] = {
    "cifar10": ("uoft-cs/cifar10", "CIFAR-10"),
    "ngc_cifar10": ("uoft-cs/cifar10", "CIFAR-10 images as the Conv-NGC paper uses them"),
    "ngc_svhn": ("ufldl-stanford/svhn", "SVHN images as the Conv-NGC paper uses them"),
    "imagenet2012": ("ILSVRC/imagenet-1k", "ImageNet-1k (ILSVRC 2012)"),
    "speech_commands": ("google/speech_commands", "Speech Commands (12 TFDS labels, log-mel spectrograms)"),
    "mnist5k": ("ylecun/mnist", "mnist5k: 5,000 MNIST digits shipped with topdown_zoo (4,000 train / 1,000 test)"),
    "mnist5k_binary": ("ylecun/mnist", "mnist5k digits binarised at 0.5 (the GNCN paper's binarised MNIST, "
                                       "on the 5,000-digit subset)"),
    "binarized_mnist": ("ylecun/mnist", "MNIST binarised at 0.5"),
    "binarized_fashion_mnist": ("zalando-datasets/fashion_mnist", "Fashion-MNIST binarised at 0.5"),
    "binarized_kmnist": (None, "Kuzushiji-MNIST (TFDS `kmnist`) binarised at 0.5"),
    "multi_mnist": ("ylecun/mnist", "two MNIST digits on one canvas (BU-TD's Multi-MNIST, made from MNIST)"),
    "multi_mnist5k": ("ylecun/mnist", "two mnist5k digits on one canvas (BU-TD's Multi-MNIST, made offline "
                                      "from the 5,000-digit subset)"),
    "digit_debris_mnist5k": ("ylecun/mnist", "mnist5k digits with 0–40 digit-fragment debris (the "
                                             "recurrence lecture's digit-debris task, made offline)"),
    "color_mnist": ("ylecun/mnist", "MNIST digits coloured (the Conv-NGC paper's colour MNIST)"),
    "celeba_attributes": (None, "CelebA face attributes (TFDS `celeb_a`)"),
    "natural32": (None, "32×32 patches of the photographs shipped with scikit-image"),
}
# limitations a dataset brings to every card trained on it
DATASET_NOTES = {
    "mnist5k": "mnist5k is a 5,000-digit subset of MNIST: its test set has 1,000 digits, so accuracies carry an "
               "uncertainty of about ±1 percentage point.",
}
# what an evaluator may report beside its results: settings and counts of the evaluation itself.
# They go into the card's text, never into the model-index.
SETTING_KEYS = frozenset({"examples", "num_examples", "n_examples", "gmm_components", "mc_samples"})
COUNT_KEYS = SETTING_KEYS  # kept for callers of the 0.1 name
# detail rows (per step, per level, per layer): in the card's tables, not in the model-index
_DETAIL = re.compile(r"(_t\d+|_step\d+)$|^subnet_|_debris\d+")


def _task_tags(spec: ModelSpec | None) -> tuple[str | None, str]:
    """(pipeline_tag, model-index task type): the entry's Hugging Face Hub task."""
    if spec is None:
        return None, "other"
    return spec.hub_task, spec.hub_task


def measured(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric, finite results of ``metrics.json`` (``_run``, settings and counts dropped)."""
    out = {}
    for key, value in (metrics or {}).items():
        if key.startswith("_") or key in SETTING_KEYS or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


def headline(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The results that go into the model-index: :func:`measured` without the per-step,
    per-level and per-layer detail rows (those stay in the card's tables)."""
    return {k: v for k, v in measured(metrics).items() if not _DETAIL.search(k)}


def settings(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The evaluation's own settings and counts reported in ``metrics.json``."""
    return {k: v for k, v in (metrics or {}).items() if k in SETTING_KEYS}


def front_matter(spec: ModelSpec | None = None, metrics: Mapping[str, Any] | None = None, *, model_name: str | None = None) -> str:
    """The YAML front matter (between ``---`` lines) with a ``model-index`` of the headline results."""
    from huggingface_hub import EvalResult, ModelCardData

    name = model_name or (spec.name if spec is not None else "topdown_zoo model")
    pipeline_tag, task_type = _task_tags(spec)
    run = dict((metrics or {}).get("_run") or {})
    dataset_key = str(spec.dataset if spec is not None else run.get("dataset") or "")
    dataset_id, dataset_name = DATASETS.get(dataset_key, (None, dataset_key))
    tags = ["keras", "topdown-zoo", "top-down-feedback"]
    if spec is not None:
        tags += [spec.family, spec.task]
    if run.get("smoke"):
        tags.append("smoke-test")
    eval_results = [
        EvalResult(task_type=task_type, dataset_type=dataset_id or dataset_key, dataset_name=dataset_name,
                   dataset_split=run.get("split", "test"), metric_type=key, metric_name=key, metric_value=value)
        for key, value in headline(metrics).items()
    ] if dataset_key else []
    data = ModelCardData(
        library_name="keras",
        license=LICENSE,
        tags=list(dict.fromkeys(t for t in tags if t)),
        datasets=[dataset_id] if dataset_id else None,
        pipeline_tag=pipeline_tag,
        model_name=name,
        eval_results=eval_results or None,
    )
    return "---\n" + data.to_yaml() + "\n---\n"


def _class_names(spec: ModelSpec, metadata: Mapping[str, Any] | None,
                 overrides: Mapping[str, Any] | None) -> list[str] | None:
    """The folder's recorded class names (``metadata.json``), else those of the entry's dataset."""
    zoo = dict((metadata or {}).get("topdown_zoo") or {})
    if "class_names" in zoo:
        return zoo["class_names"]
    from topdown_zoo.data.class_names import spec_class_names

    return spec_class_names(spec, overrides)


def _list_names(names: list[str], shown: int = 20) -> str:
    """``0, 1, …`` with code quotes; past ``shown`` names, the first ones and a count."""
    quoted = ", ".join(f"`{n}`" for n in names[:shown])
    return quoted if len(names) <= shown else f"{quoted}, … ({len(names)} in all; `metadata.json` lists them)"


def _fmt(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def render(spec: ModelSpec | None = None, metrics: Mapping[str, Any] | None = None, recipe: Mapping[str, Any] | None = None,
           metadata: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
           repo_id: str | None = None, pictures: list[str] | None = None, curves: str | None = None,
           convergence: str | None = None) -> str:
    """The whole ``README.md`` of a hub folder (``pictures``: the folder's PNG files, shown in
    a section of their own; ``curves``: the training curves drawn from the run's history.csv;
    ``convergence``: the verdict of ``topdown_zoo.convergence.plateau`` on that history)."""
    import yaml

    name = spec.name if spec is not None else "topdown_zoo model"
    run = dict((metrics or {}).get("_run") or {})
    results = measured(metrics)
    lines = [front_matter(spec, metrics), f"# {name}", ""]
    if spec is not None and spec.description:
        lines += [spec.description[0].upper() + spec.description[1:] + ".", ""]
    if run.get("smoke"):
        lines += ["> **Smoke run.** These weights come from a few steps of training meant to test the pipeline; "
                  "their numbers say nothing about the method.", ""]

    lines += ["## Intended use", ""]
    if spec is not None:
        dataset = DATASETS.get(spec.dataset, (None, spec.dataset))[1]
        lines += [f"A research model of the `{spec.family}` family of "
                  "topdown_zoo (neural networks with top-down feedback), "
                  f"trained for {spec.task} on {dataset}. Use it to reproduce, analyse or fine-tune the "
                  "method; it was not evaluated for any deployed application.", ""]
        source = DATASETS.get(spec.dataset, (None, ""))[0]
        lines += [f"- Data: {dataset}" + (f" (source on the Hugging Face Hub: `{source}`)" if source else "") + "."]
        lines += [f"- Input: one example of shape `{list(spec.input_shape)}` ({spec.input_dtype}"
                  + (f", values in {list(spec.input_range)}" if spec.input_range else "") + "), batch axis first."]
        if spec.preprocessing:
            lines += [f"- Preprocessing: `{json.dumps(dict(spec.preprocessing), default=str)}`"]
        names = _class_names(spec, metadata, overrides)
        if names:
            lines += [f"- Classes (label id order): {_list_names(names)}."]
        if overrides:
            lines += [f"- Config overrides used in training: `{json.dumps(dict(overrides), default=str)}`"]
        lines += [""]
    else:
        lines += ["A research model packaged with topdown_zoo; its architecture is in `config.json`.", ""]

    lines += ["## How to load", "", "```python", "import topdown_zoo as tz", ""]
    if spec is not None:
        lines += [f'model = tz.load("{name}")                 # resolves, verifies sha256, loads']
    if repo_id:
        lines += [f'model = tz.load("hf://{repo_id}")   # this repository, any revision: revision="..."']
    lines += ['model = tz.load("' + name + '", weights="path/to/this/folder")  # a local copy'
              if spec is not None else 'model = topdown_zoo.hub.load_folder("path/to/this/folder")']
    if repo_id:
        lines += ["", "# or with Keras alone, once topdown_zoo is imported (it registers the classes):",
                  "import keras", f'model = keras.saving.load_model("hf://{repo_id}")']
    lines += ["```", "",
              "Every file is listed with its sha256 in `SHA256SUMS` (`sha256sum -c SHA256SUMS`); the loader "
              "refuses a file whose hash differs. The weights are a Keras `.weights.h5` file (arrays only) and "
              "the architecture is rebuilt from `config.json`: loading runs no code from this repository.", ""]

    lines += ["## Training recipe", ""]
    if recipe:
        if spec is not None:
            lines += [f"Produced by `topdown-zoo train recipes/{spec.recipe}`"
                      + (" with `--smoke`" if run.get("smoke") else "") + ":", ""]
        lines += ["```yaml", yaml.safe_dump(dict(recipe), sort_keys=False).rstrip(), "```", ""]
    else:
        lines += ["Not recorded" + (f"; the registry's recipe is `recipes/{spec.recipe}`." if spec is not None else "."), ""]
    facts = {k: run[k] for k in ("epochs", "batch_size", "precision", "strategy", "replicas", "seed",
                                  "train_seconds", "machine") if k in run}
    if facts:
        lines += ["Run: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + ".", ""]

    lines += ["## Results", ""]
    split = run.get("split", "test")
    found = dict(metrics or {})
    count = next((int(found[k]) for k in ("examples", "num_examples", "n_examples")
                  if isinstance(found.get(k), (int, float))), None)
    if results:
        lines += [f"Measured by this project (`metrics.json`, {split} split"
                  + (f" of {run['dataset']}" if run.get("dataset") else "")
                  + (f", {count:,} examples" if count else "") + "):", "",
                  "| metric | measured (ours) |", "|---|---|"]
        lines += [f"| {key} | {_fmt(value)} |" for key, value in results.items()]
        lines += [""]
        other = {k: v for k, v in settings(metrics).items() if k not in ("examples", "num_examples", "n_examples")}
        if other:
            lines += ["Evaluation settings: " + ", ".join(f"{k} {v}" for k, v in other.items()) + ".", ""]
        detail = len(results) - len(headline(metrics))
        if detail:
            lines += [f"The model-index above lists the headline results; the {detail} per-step, per-level or "
                      "per-layer rows are in this table only.", ""]
    else:
        lines += ["No measured results were recorded with these weights.", ""]
    paper_results = dict(spec.paper_results) if spec is not None else {}
    if paper_results:
        lines += ["The paper's own numbers for its setting (quoted from the paper, **not** measured here; its "
                  "dataset, schedule and model size may differ from this run):", "",
                  "| metric | the paper's claim |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in paper_results.items()]
        lines += [""]

    if pictures:
        lines += ["## Pictures", "", "Drawn from the test split by `topdown-zoo evaluate "
                  + (spec.name if spec is not None else "NAME") + " --plots DIR` (docs/pictures.md).", ""]
        for picture in pictures:
            title = picture.rsplit("/", 1)[-1].removesuffix(".png").replace("_", " ")
            lines += [f"### {title}", "", f"![{title}]({picture})", ""]

    if curves:
        lines += ["## Training curves", "", "Loss and metrics per epoch, training beside validation, from the "
                  "run's `history.csv` (shipped beside the weights).", "", f"![training curves]({curves})", ""]
        if convergence:
            lines += [f"Validation curve: {convergence}; `python tools/check_convergence.py` judges every shipped "
                      "model by this rule.", ""]

    lines += ["## Limitations", "",
              "- The numbers above hold for the data, preprocessing and split named here only; other inputs "
              "(range, layout, resolution) give undefined results.",
              "- Top-down feedback iterates: inference costs roughly one forward pass per iteration.",
              "- A research artefact: not audited for bias, robustness or safety-critical use."]
    if spec is not None and spec.dataset in DATASET_NOTES:
        lines += [f"- {DATASET_NOTES[spec.dataset]}"]
    lines += [""]

    if metadata:
        lines += ["## Details", "",
                  ", ".join(f"{k}: {metadata[k]}" for k in ("parameter_count", "keras_version", "tensorflow_version",
                                                            "topdown_zoo_version", "date") if k in metadata) + ".", ""]

    lines += ["## Citation", ""]
    if spec is not None and spec.paper:
        lines += ["The method comes from:", "", f"> {spec.paper}", ""]
    lines += ["```bibtex", "@software{topdown_zoo,", "  title = {topdown_zoo: a Keras 3 model zoo of neural networks "
              "with top-down feedback},", "  year = {2025}", "}", "```", ""]
    return "\n".join(lines)


def parse_front_matter(text: str) -> dict:
    """The YAML front matter of a card as a dict (for tests and tools)."""
    import yaml

    if not text.startswith("---\n"):
        raise ValueError("the card has no YAML front matter")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])

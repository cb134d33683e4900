"""Reference outputs of shipped models on fixed inputs, for the backend-parity tests.

    python tools/make_backend_references.py NAME [NAME ...]
    python tools/make_backend_references.py --all          # every entry that ships weights

For each registry entry: loads its shipped weights (``hub/<name>``) on TensorFlow, feeds a fixed
batch of 4 (:func:`fixed_inputs`: floats uniform in the entry's input range from seed 0, integer
inputs such as task ids cycling through ``0 … high-1``) and writes
``tests/data/backend_references/<name>.npz`` holding

* ``input_<spec name>`` — each input of ``model.input_specs()`` (so the tests need no RNG),
* ``output_<k>`` — the leaves of ``model.step_outputs(inputs)`` (inference mode), flattened with
  ``keras.tree.flatten``.

A test loads the same weights on the active backend (JAX, PyTorch or TensorFlow), feeds the stored
inputs and compares with the stored outputs (see :func:`reference_outputs`).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "tests" / "data" / "backend_references"
BATCH, SEED = 4, 0


def load_shipped(name: str) -> Any:
    """The entry's model with the weights shipped in ``hub/<name>`` (never a mirror or the Hub)."""
    import topdown_zoo as tz
    from topdown_zoo.paths import shipped_hub_dir

    return tz.load(name, weights=shipped_hub_dir() / name)


def fixed_inputs(model: Any, value_range: tuple[float, float], batch: int = BATCH, seed: int = SEED) -> list[Any]:
    """One array per ``model.input_specs()`` entry: floats uniform in ``value_range``, integers
    ``0, 1, …, high-1, 0, …`` (every value of e.g. a task id appears)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for spec in model.input_specs():
        shape = (batch, *(4 if d is None else d for d in spec.shape))
        if spec.dtype.startswith("int"):
            values = np.arange(int(np.prod(shape))) % model.integer_input_high(spec.name)
            arrays.append(values.reshape(shape).astype(spec.dtype))
        else:
            arrays.append(rng.uniform(*value_range, size=shape).astype(spec.dtype))
    return arrays


def reference_outputs(model: Any, inputs: Any) -> list[Any]:
    """The flattened per-step outputs of ``model`` on ``inputs`` as numpy arrays."""
    import keras

    steps = model.step_outputs(inputs, training=False)
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(steps)]


def make_reference(name: str, out_dir: Path = OUT_DIR) -> Path:
    import numpy as np

    from topdown_zoo.registry import get_spec

    spec = get_spec(name)
    model = load_shipped(name)
    inputs = fixed_inputs(model, tuple(spec.input_range or (0.0, 1.0)))
    arrays = {f"input_{s.name}": a for s, a in zip(model.input_specs(), inputs)}
    arrays.update({f"output_{k}": o for k, o in enumerate(reference_outputs(model, model.pack_inputs(inputs)))})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.npz"
    np.savez_compressed(path, **arrays)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="registry entries that ship weights")
    p.add_argument("--all", action="store_true", help="every entry that ships weights")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)

    import keras

    import topdown_zoo as tz

    if keras.backend.backend() != "tensorflow":
        print(f"references are made on TensorFlow; KERAS_BACKEND is {keras.backend.backend()!r}", file=sys.stderr)
        return 2
    names = tz.list_models(pretrained=True) if args.all else args.names
    if not names:
        p.error("name at least one entry, or --all")
    for name in names:
        print(make_reference(name, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

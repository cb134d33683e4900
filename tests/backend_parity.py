"""Shipped weights on the active backend against the TensorFlow references
(``tests/data/backend_references/<name>.npz``, made by ``tools/make_backend_references.py``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

import topdown_zoo as tz
from topdown_zoo.paths import shipped_hub_dir

REFERENCES = Path(__file__).resolve().parent / "data" / "backend_references"


def check_shipped_step_outputs(name: str, monkeypatch: Any) -> tuple[Any, Any, int, Any]:
    """Load ``name``'s shipped weights, run ``step_outputs`` on the reference inputs and compare
    every step with TensorFlow's (≤ 1e-4). Returns (model, inputs, number of steps compared,
    TensorFlow's last step)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = np.load(REFERENCES / f"{name}.npz")
    model = tz.load(name, weights=shipped_hub_dir() / name)
    inputs = model.pack_inputs([ref[f"input_{s.name}"] for s in model.input_specs()])
    outputs = keras.tree.flatten(model.step_outputs(inputs, training=False))
    expected = sorted((k for k in ref.files if k.startswith("output_")), key=lambda k: int(k.split("_")[1]))
    assert len(outputs) == len(expected)
    for key, out in zip(expected, outputs):
        np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(out)), ref[key], rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name} {key}")
    return model, inputs, len(outputs), ref[expected[-1]]

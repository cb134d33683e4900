"""tools/measure_cbl_gain.py: the paired-gain summary and the docs/cbl.md table, on made-up runs (no training)."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_SPEC = importlib.util.spec_from_file_location("measure_cbl_gain", ROOT / "tools" / "measure_cbl_gain.py")
gain = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(gain)


def test_every_task_pairs_cbl_with_its_feed_forward_twin():
    from topdown_zoo.registry import get_spec

    for task, (train_task, roles, corruption) in gain.TASKS.items():
        assert train_task in gain.TASKS and gain.TASKS[train_task][2] is None  # corrupted tasks reuse clean runs
        assert get_spec(roles["ff"][0]).config["backbone"] == get_spec(roles["cbl"][0]).config["backbone"]
        assert get_spec(roles["ff"][0]).config["backbone_config"] == get_spec(roles["cbl"][0]).config["backbone_config"]
        assert "iterations" in get_spec(roles["cbl"][0]).config and "iterations" not in get_spec(roles["ff"][0]).config


def test_summary_is_paired_by_seed():
    per_seed = {"ff": {"0": [0.90], "1": [0.80], "2": [0.70]},
                "cbl": {"0": [0.88, 0.91], "1": [0.80, 0.82], "2": [0.69, 0.73]}}
    row = gain.summarise(per_seed, [0, 1, 2])
    assert row["gain"]["runs"] == pytest.approx([0.01, 0.02, 0.03])
    assert row["gain"]["mean"] == pytest.approx(0.02) and row["gain"]["std"] == pytest.approx(0.01)
    assert row["gain"]["paired_t"] == pytest.approx(0.02 / (0.01 / 3 ** 0.5))
    assert [s["mean"] for s in row["cbl_steps"]] == pytest.approx([0.79, 0.82])
    assert gain.step_accuracies({"accuracy": 0.9, "accuracy_step1": 0.9, "accuracy_step0": 0.8}) == [0.8, 0.9]
    assert gain.step_accuracies({"accuracy": 0.7}) == [0.7]


def test_table_is_written_between_the_markers(tmp_path):
    per_seed = {"ff": {"0": [0.9], "1": [0.8]}, "cbl": {"0": [0.85, 0.95], "1": [0.8, 0.79]}}
    doc = {"task": "noisy", "conditions": {"noise=0.3": gain.summarise(per_seed, [0, 1])}}
    data = tmp_path / "data"
    data.mkdir()
    (data / "cbl_gain_noisy.json").write_text(json.dumps(doc))
    page = tmp_path / "cbl.md"
    page.write_text(f"intro\n{gain.MARKERS[0]}\nold\n{gain.MARKERS[1]}\nafter\n")
    gain.write_table(page, data)
    text = page.read_text()
    assert "old" not in text and text.startswith("intro") and text.rstrip().endswith("after")
    assert "| noisy | noise=0.3 | 85.00 ± 7.07 | 87.00 ± 11.31 | 82.50 → 87.00 | **+2.00 ± 4.24** |" in text

"""`tools/measure_feedback_on_pretrained.py --quick` runs end to end in a subprocess and writes the
JSON that docs/cbl.md's "Feedback on a pretrained body (measured)" table is read from (structure only)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "measure_feedback_on_pretrained.py"


def test_quick_run_writes_both_settings_with_per_step_and_paired_gain(tmp_path):
    out = tmp_path / "feedback.json"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["command"].endswith("--quick")
    assert report["pretrained"] == "standard-cnn-mnist5k" and report["dataset"] == "digit_debris_mnist5k"
    assert report["seeds"] == [0] and report["epochs"] == 1
    assert report["feedback"]["iterations"] == 2 and report["feedback"]["taps"] == ["block1", "block2", "block3",
                                                                                     "block4"]
    levels = [str(v) for v in report["debris_levels"]]
    assert report["test_examples"] == 20 * len(levels)
    assert set(report["pretrained_without_finetuning"]["per_level"]) == set(levels)
    assert set(report["settings"]) == {"whole", "frozen_body"}
    for name, setting in report["settings"].items():
        (run,) = setting["runs"]
        assert run["init_step0_max_abs_diff"] == 0.0  # B starts as the pretrained model: y(0) = A's prediction
        a, b = run["A"], run["B"]
        assert len(b["per_step_accuracy"]) == 3 and b["accuracy"] == b["per_step_accuracy"][-1]
        assert run["gain"] == b["accuracy"] - a["accuracy"]
        assert b["trainable_parameters"] > a["trainable_parameters"] > 0  # B adds adapters + context head
        for side in (a, b):
            assert 0.0 <= side["accuracy"] <= 1.0 and set(side["per_level"]) == set(levels)
            assert len(side["train_loss_per_epoch"]) == 1
        summary = setting["summary"]
        assert summary["gain"]["values"] == [run["gain"]] and summary["gain"]["std"] is None  # one seed: no std
        assert len(summary["B_per_step"]) == 3
        if name == "frozen_body":
            assert b["frozen_weights_unchanged"] is True  # the really frozen conv blocks stay bit-identical
    whole, frozen = (report["settings"][k]["runs"][0] for k in ("whole", "frozen_body"))
    assert whole["A"]["trainable_parameters"] > frozen["A"]["trainable_parameters"]

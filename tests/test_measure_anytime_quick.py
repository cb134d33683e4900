"""tools/measure_anytime.py on smoke-sized data: step counts follow the tolerance, ONNX agrees (issue 12)."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import measure_anytime  # noqa: E402


def test_step_counts_follow_the_tolerance_and_onnx_stops_where_keras_does(tmp_path):
    out = tmp_path / "anytime.json"
    assert measure_anytime.main(["--quick", "--iterations", "3", "--tolerances", "0", "1e9", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    never, always = result["rows"]
    assert never["mean_steps"] == 3 and never["stopped_early"] == 0.0  # tolerance 0: all T steps
    assert always["mean_steps"] == 1 and always["stopped_early"] == 1.0  # the first change is below 1e9
    assert "| 1e+09 |" in measure_anytime.markdown(result)

    onnx = measure_anytime.measure("cbl-cnn-mnist5k", [1e9], 3, onnx=True, quick=True)["rows"][0]
    assert onnx["onnx_agrees_with_keras"] == 1.0
    assert onnx["onnx_max_abs_diff"] < 1e-3
    assert onnx["onnx_accuracy"] == onnx["accuracy"]

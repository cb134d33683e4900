"""`tools/compare_gncn_baselines.py --quick` trains every GNCN and baseline at smoke sizes in a
subprocess and writes the table (every model, every metric, the paper's columns) and its JSON."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "compare_gncn_baselines.py"
MODELS = ("gncn-t1-mnist5k", "gncn-t1-sigma-mnist5k", "gncn-pdh-mnist5k", "gvae-mnist5k", "gvae-cv-mnist5k",
          "rae-mnist5k", "gan-ae-mnist5k")
METRICS = ("bce", "log_px", "masked_mse", "latent_error")


def test_quick_run_tabulates_every_model_and_metric_and_replaces_its_block(tmp_path):
    doc = tmp_path / "ngc.md"
    doc.write_text("# head\n\n<!-- gncn-baselines:start -->\nold table\n<!-- gncn-baselines:end -->\n\ntail\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(SCRIPT), "--quick", "--seeds", "0", "--out", str(tmp_path / "out"), "--doc", str(doc)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    report = json.loads((tmp_path / "out" / "gncn_baselines.json").read_text())
    assert report["quick"] is True and report["seeds"] == [0] and report["metrics"] == list(METRICS)
    assert set(report["models"]) == set(MODELS)
    for name in MODELS:
        for key in METRICS:
            stat = report["models"][name][key]
            assert len(stat["values"]) == 1 and stat["std"] is None
            assert stat["mean"] == stat["mean"]  # finite, not NaN
    assert set(report["paper_mnist"]) == set(MODELS) - {"gncn-t1-mnist5k", "gncn-t1-sigma-mnist5k"}

    text = doc.read_text()
    assert "old table" not in text and text.startswith("# head") and text.rstrip().endswith("tail")
    block = text.split("<!-- gncn-baselines:start -->")[1].split("<!-- gncn-baselines:end -->")[0]
    header = next(line for line in block.splitlines() if line.startswith("| model"))
    for heading in ("BCE", "log p(x)", "M-MSE", "latent Err"):
        assert f"{heading}" in header and header.count(heading) == 2  # ours and the paper's column
    assert "(ours)" in header and "(paper)" in header
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert [row.split(" | ")[0][2:] for row in rows[:-1]] == list(MODELS)
    assert rows[-1].startswith("| no model: right half = mean training digit")  # the M-MSE floor
    assert report["mean_fill_masked_mse"] > 0
    assert all(len(row.strip("|").split("|")) == 3 + 2 * len(METRICS) for row in rows)

    # a rerun reuses the finished runs and replaces the block again (one block, not two)
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert doc.read_text().count("<!-- gncn-baselines:start -->") == 1

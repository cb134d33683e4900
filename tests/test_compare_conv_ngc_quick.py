"""`tools/compare_conv_ngc.py --quick` trains (smoke) Conv-NGC, Conv-AE and Conv-DAE, measures them and
writes the table between its markers and the JSON (structure only; a second run reuses the runs)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "compare_conv_ngc.py"
MODELS = ("conv-ngc-natural32", "conv-ae-natural32", "conv-dae-natural32")


def _run(tmp_path, doc):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path / "runs"), "--doc", str(doc),
                           "--json", str(tmp_path / "c.json")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_quick_comparison_writes_table_and_json_and_reuses_runs(tmp_path):
    doc = tmp_path / "conv-ngc.md"
    doc.write_text("# title\n\nkept before\n\n<!-- conv-ngc-comparison:begin -->\nold\n<!-- conv-ngc-comparison:end -->\n"
                   "\nkept after\n")
    out = _run(tmp_path, doc)
    assert all(f"{m}: training" in out for m in MODELS)
    text = doc.read_text()
    assert "kept before" in text and "kept after" in text and "\nold\n" not in text
    assert text.count("<!-- conv-ngc-comparison:begin -->") == 1
    for header in ("SSIM global (eq. 5)", "SSIM windowed (skimage)", "noisy input (floor)", "the paper's, on CIFAR-10",
                   "the paper's protocol (clamped at step 1 only)", "Out-of-distribution"):
        assert header in text, header
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["quick"] is True and set(report["results"]) == set(MODELS)
    for name in MODELS:
        levels = report["results"][name]
        assert set(levels) >= {"sigma_0.05", "sigma_0.1", "sigma_0.2"}
        main = levels["sigma_0.1"]
        for prefix in ("", "ood_", "denoise_", "noisy_"):
            assert {prefix + k for k in ("mse", "psnr", "ssim_global_eq5", "ssim_windowed")} <= set(main)
    assert "denoise_clamp_first_psnr" in report["results"]["conv-ngc-natural32"]["sigma_0.1"]
    assert report["paper"]["cifar10"]["Conv-NGC"]["denoise_psnr"] == 25.9004
    again = _run(tmp_path, doc)
    assert all(f"{m}: reusing" in again for m in MODELS)

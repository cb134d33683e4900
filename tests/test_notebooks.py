"""Every notebook in notebooks/ runs top to bottom, offline, in a fresh process (its ``assert``s are
the checks), and is stored without outputs so the repository stays clean."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Joins the code cells (minus IPython `%magic` / `!shell` lines) and execs them in one namespace.
# The joined source is registered with linecache so that a traceback shows the notebook's lines.
RUNNER = r"""
import json, linecache, sys, traceback
path = sys.argv[1]
cells = [c for c in json.load(open(path, encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
chunks = []
for n, cell in enumerate(cells, 1):
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    lines = [line for line in source.splitlines() if not line.startswith(("%", "!"))]
    chunks.append(f"# ---- code cell {n} ----\n" + "\n".join(lines) + "\n")
source = "\n".join(chunks)
filename = f"<{path}: code cells>"
linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
try:
    exec(compile(source, filename, "exec"), {"__name__": "__main__"})
except Exception:
    traceback.print_exc()  # the traceback module reads linecache, so the failing line is shown
    sys.exit(1)
"""


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_notebooks_are_found():
    assert "quickstart" in [p.stem for p in NOTEBOOKS], NOTEBOOK_DIR


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(notebook):
    nb = _load(notebook)
    assert nb["nbformat"] == 4
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert code, f"{notebook.name} has no code cells"
    for cell in code:
        assert cell.get("execution_count") is None and cell.get("outputs") == [], (
            f"{notebook.name} has stored outputs; clear them (Kernel > Restart & Clear Output) before committing")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TOPDOWN_ZOO_HUB"}
    env.update(HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(notebook)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (f"{notebook.name} failed (exit status {proc.returncode}); stderr tail:\n"
                                  f"{proc.stderr[-6000:]}")

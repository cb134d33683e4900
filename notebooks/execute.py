"""Execute the notebooks with nbclient and store them with their outputs (so they render on GitHub).

    .venv/bin/python notebooks/execute.py               # every notebook
    .venv/bin/python notebooks/execute.py attention     # some of them, by stem

Each notebook runs top to bottom in a fresh ``python3`` kernel (the Python that runs this script:
jupyter_client starts the kernel with ``sys.executable``), offline, in a scratch folder (what the
notebooks write under ``runs/`` does not land in the repository). Per-cell wall times are printed.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 300  # seconds per cell
#: what native code writes on file descriptors 1 and 2 (TensorFlow's absl / oneDNN start-up banners)
#: stays on the kernel's own stderr instead of landing in the stored outputs
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]


def kernel_env() -> dict[str, str]:
    """Offline, quiet, the shipped hub folders (not a user's TOPDOWN_ZOO_HUB)."""
    env = {k: v for k, v in os.environ.items() if k != "TOPDOWN_ZOO_HUB"}
    env.update(HF_HUB_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_DISABLE_TELEMETRY="1")
    return env


def execute(path: Path, cwd: Path, timeout: int = CELL_TIMEOUT) -> nbformat.NotebookNode:
    """``path`` executed in ``cwd`` (the notebook object with outputs; nbclient raises
    ``CellExecutionError`` when a cell fails, e.g. a failing ``assert``)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                            record_timing=True, extra_arguments=KERNEL_ARGUMENTS)
    client.execute(env=kernel_env())  # jupyter_client starts the kernel process with this environment
    return nb


def cell_seconds(nb: nbformat.NotebookNode) -> list[float]:
    """Wall time of every code cell, from nbclient's timing records."""
    from datetime import datetime

    out = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in timing:
            start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            out.append((end - start).total_seconds())
    return out


def strip_timing(nb: nbformat.NotebookNode) -> None:
    """Drop the per-cell timestamps before storing (they change on every run)."""
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)


def main(stems: list[str]) -> None:
    paths = sorted(HERE.glob("*.ipynb"))
    if stems:
        paths = [p for p in paths if p.stem in stems]
    for path in paths:
        with tempfile.TemporaryDirectory() as cwd:
            start = time.perf_counter()
            nb = execute(path, Path(cwd))
            total = time.perf_counter() - start
        print(f"{path.name}: {total:.1f} s; cells " + ", ".join(f"{s:.1f}" for s in cell_seconds(nb)))
        strip_timing(nb)
        nbformat.write(nb, path)


if __name__ == "__main__":
    main(sys.argv[1:])

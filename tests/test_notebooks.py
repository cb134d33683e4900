"""Every notebook in notebooks/ runs top to bottom in a fresh Jupyter kernel (nbclient), offline;
its ``assert`` cells are the checks. The notebooks are stored executed, with their outputs and
figures, so that they render where people read them (GitHub); refresh them after an edit with
``.venv/bin/python notebooks/execute.py [stem ...]``, which executes them the same way."""
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 180  # seconds per cell; the slowest cell takes about 30 s on a 2-core CPU


def _executor():
    spec = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOK_DIR / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_notebooks_are_found():
    assert "quickstart" in [p.stem for p in NOTEBOOKS], NOTEBOOK_DIR


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_executed(notebook):
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = _code_cells(nb)
    assert code, f"{notebook.name} has no code cells"
    refresh = f"run `.venv/bin/python notebooks/execute.py {notebook.stem}` and commit the result"
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{notebook.name} is not stored as one top-to-bottom run (execution counts {counts}); {refresh}")
    for cell in code:
        kinds = {output.output_type for output in cell.outputs}
        assert "error" not in kinds, f"{notebook.name} is stored with an error output; {refresh}"
        if "plt." in cell.source:
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"{notebook.name}: a cell that plots is stored without its figure; {refresh}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path):
    from nbclient.exceptions import CellExecutionError

    executor = _executor()
    try:
        nb = executor.execute(notebook, tmp_path, timeout=CELL_TIMEOUT)
    except CellExecutionError as err:  # its message holds the failing cell's source and traceback
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # without the terminal colours
        pytest.fail(f"{notebook.name} failed:\n{message}", pytrace=False)
    assert all(cell.execution_count for cell in _code_cells(nb))

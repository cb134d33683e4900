"""The README's backends table names, for every claim, the backend-matrix tests that keep it true:
this test fails when the table claims a column that no `backends`-marked test covers, or when a
named test file disappears or leaves the matrix."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

# column of the table -> the test files (in the backend matrix) that exercise it on every backend
COVERED_BY = {
    "load shipped weights": ["tests/models/cbl/test_cbl_backend_parity.py", "tests/models/ngc/test_ngc_backend_parity.py",
                             "tests/models/convrnn/test_convrnn_backend_parity.py", "tests/models/butd/test_butd_backends.py"],
    "inference (parity with TF ≤ 1e-4)": ["tests/backend_parity.py", "tests/test_contract.py"],
    "train (recipes, every family)": ["tests/test_recipes_on_backends.py"],
    "mixed precision": ["tests/learning/test_mixed_precision.py"],
    "export (ONNX / SavedModel)": ["tests/test_export.py"],
}


def _table() -> tuple[list[str], dict[str, list[str]]]:
    block = README[README.index("| backend |"):].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in block[0].strip("|").split("|")]
    rows = {}
    for line in block[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return header[1:], rows


def test_every_backend_row_claims_every_column_and_each_column_names_its_tests():
    columns, rows = _table()
    assert set(rows) == {"TensorFlow", "JAX", "PyTorch"}
    assert columns == list(COVERED_BY)
    for backend, cells in rows.items():
        assert len(cells) == len(columns), backend
        for column, cell in zip(columns, cells):
            assert cell.startswith("✓") or (backend == "TensorFlow" and cell == "reference"), (backend, column, cell)


def test_the_tests_named_for_each_column_exist_and_run_in_the_backend_matrix():
    for column, files in COVERED_BY.items():
        for name in files:
            text = (ROOT / name).read_text()
            assert "pytest.mark.backends" in text or name == "tests/backend_parity.py", (column, name)
    # the README names the matrix tests it relies on
    for name in ("tests/test_recipes_on_backends.py", "tests/learning/test_mixed_precision.py", "tests/test_contract.py"):
        assert name in README

"""The notebooks of docs/notebooks/ run top to bottom on a fresh kernel, from this checkout.

Each notebook is a chapter a reader steps through; a change to the package that breaks one of
its cells must fail here. The kernel starts in the repository root with the root first on
PYTHONPATH, so it imports this checkout's hebbref whether or not an editable install points
elsewhere (checked: the last cell prints hebbref.__file__). The committed files must carry their
outputs, figures included, because a reader on a web page sees only those.
"""
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300      # seconds per cell: the slowest cell takes well under a minute on 2 cores
IGNORED = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "runs"}


def _files_in_repo():
    found = set()
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders
                         if name not in IGNORED and not name.endswith(".egg-info")]
        found.update(os.path.join(folder, name) for name in files)
    return found


def _outputs(notebook, kind):
    return [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", []) if kind(output)]


def _is_error(output):
    return output.get("output_type") == "error"


def _is_figure(output):
    return "image/png" in output.get("data", {})


def test_the_three_chapters_are_there():
    assert [path.name for path in NOTEBOOKS] == [
        "01_the_rule.ipynb", "02_curriculum.ipynb", "03_language_model.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_with_outputs(path):
    """Every code cell was executed, none shows an error, and the figures are in the file."""
    notebook = nbformat.read(path, as_version=4)
    unexecuted = [k for k, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and cell.source.strip()
                  and cell.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: cells {unexecuted} were committed without running"
    assert not _outputs(notebook, _is_error), f"{path.name} was committed with an error output"
    assert _outputs(notebook, _is_figure), f"{path.name} was committed without its figures"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_runs_on_a_fresh_kernel(path, monkeypatch):
    """Every cell runs without an error, the kernel imports this checkout's hebbref, figures
    come out, and nothing is written into the repository (the notebooks use a temp folder)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import hebbref; print(hebbref.__file__)"))
    before = _files_in_repo()
    start = time.perf_counter()
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()  # raises on an error
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    imported = notebook.cells[-1].outputs[0]["text"].strip()
    assert Path(imported).resolve() == ROOT / "hebbref" / "__init__.py", (
        f"the kernel imported hebbref from {imported}, not from this checkout")
    assert _outputs(notebook, _is_figure), f"{path.name} drew no figure"
    written = sorted(_files_in_repo() - before)
    assert not written, f"{path.name} wrote into the repository: {written}"

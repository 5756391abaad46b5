"""Run the notebooks of this folder in place, so the committed files carry fresh outputs.

    python docs/notebooks/execute.py [NOTEBOOK ...]      (default: every *.ipynb here)

The kernel starts in the repository root with the root first on PYTHONPATH, as
tests/test_notebooks.py runs it, so the outputs come from this checkout's hebbref. Per-cell
timing is not recorded: it would change every file on every run. Prints each wall time.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(paths):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    for path in paths or sorted(HERE.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, timeout=300, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(ROOT)}}).execute()
        nbformat.write(notebook, path)
        print(f"{Path(path).name}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])

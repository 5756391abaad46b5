"""The quick benchmark (validation/bench.py --quick), run once for the tests of the bench.
Importing validation_scripts puts validation/ on sys.path, so the tests here import the
scripts' helpers (speed, common) by name."""
import json

import pytest

from validation_scripts import run_bench


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    json_path, png_path = folder / "bench.json", folder / "scaling.png"
    status, stdout, stderr = run_bench(["--quick", "--quiet", "--json", str(json_path),
                                        "--plot", str(png_path)])
    return {"status": status, "stdout": stdout, "stderr": stderr,
            "json": json.loads(json_path.read_text()), "png": png_path}

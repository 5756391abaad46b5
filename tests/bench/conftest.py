"""The quick benchmark, run once for the tests of hebbref/bench and validation/bench.py."""
import contextlib
import io
import json

import pytest

from hebbref import bench
from validation_scripts import load_script

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so only --quiet can silence the progress lines."""

    def isatty(self):
        return True


def run_main(argv):
    out, err = io.StringIO(), Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = bench.main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    json_path, png_path = folder / "bench.json", folder / "scaling.png"
    status, stdout, stderr = run_main(["--quick", "--quiet", "--json", str(json_path),
                                       "--plot", str(png_path)])
    return {"status": status, "stdout": stdout, "stderr": stderr,
            "json": json.loads(json_path.read_text()), "png": png_path}


def validation_bench():
    """validation/bench.py, imported by path."""
    return load_script("bench")

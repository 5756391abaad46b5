"""Import a script of validation/ by path (validation/ is a folder of scripts, not a package), and
run the bench (validation/bench.py) with its output captured. validation/ goes on sys.path, as
the scripts put it there themselves, so tests import its helpers (common, stats, speed) too."""
import contextlib
import importlib.util
import io
import os
import sys

VALIDATION = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                          os.pardir, "validation"))
if VALIDATION not in sys.path:
    sys.path.insert(0, VALIDATION)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_script(name):
    """validation/<name>.py as a fresh module named validation_<name>."""
    spec = importlib.util.spec_from_file_location(f"validation_{name}",
                                                  os.path.join(VALIDATION, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so only --quiet can silence the progress lines."""

    def isatty(self):
        return True


def run_bench(argv):
    """validation/bench.py's main(argv) -> (status, stdout, stderr)."""
    out, err = io.StringIO(), Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = load_script("bench").main(argv)
    return status, out.getvalue(), err.getvalue()

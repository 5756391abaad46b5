"""Results files: strict JSON (∞ and NaN as strings) with a run record."""
import json
import math

import numpy as np
import scipy

from hebbref.record import write_results


def refuse_constant(name):
    raise AssertionError(f"non-strict JSON constant {name}")


def test_results_are_strict_json_with_a_run_record(tmp_path):
    path = tmp_path / "results.json"
    write_results(path, {"T": math.inf, "low": -math.inf, "ppl": np.float32("nan"),
                         "steps": np.int64(3), "sizes": (256, 256), "_state": object()})
    saved = json.loads(path.read_text(), parse_constant=refuse_constant)
    assert {k: saved[k] for k in ("T", "low", "ppl", "steps", "sizes")} == {
        "T": "inf", "low": "-inf", "ppl": "nan", "steps": 3, "sizes": [256, 256]}
    assert "_state" not in saved
    record = saved["record"]
    assert record["versions"]["numpy"] == np.__version__
    assert record["versions"]["scipy"] == scipy.__version__
    assert set(record) >= {"versions", "git_commit", "command", "time_utc", "blas"}
    assert all(set(lib) == {"library", "version", "threads"} for lib in record["blas"])
    assert float(saved["T"]) == math.inf


def test_an_existing_record_is_kept(tmp_path):
    write_results(tmp_path / "r.json", {"record": {"note": "from the run"}})
    assert json.loads((tmp_path / "r.json").read_text())["record"] == {"note": "from the run"}

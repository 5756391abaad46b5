"""validation/mlp_subnormals.py: the MLP step over a longer run, with the share of Adam's moments
that are subnormal floats."""
import sys

import numpy as np

from validation_scripts import load_script


def test_subnormal_fraction_counts_exactly_the_nonzero_entries_below_tiny():
    """Zero and normal numbers are not counted; ±tiny/2 and the smallest subnormal are (float32
    and float64 each against their own tiny)."""
    module = load_script("mlp_subnormals")
    f32, f64 = np.finfo(np.float32), np.finfo(np.float64)
    a = np.array([0.0, f32.tiny, f32.tiny / 2, -f32.tiny / 2, f32.smallest_subnormal, 1.0],
                 dtype=np.float32)
    b = np.array([f32.tiny / 2, f64.tiny / 4], dtype=np.float64)   # normal in float64, subnormal
    assert module.subnormal_fraction([a]) == 3 / 6
    assert module.subnormal_fraction([a, b]) == 4 / 8


def test_smoke_run_writes_one_row_per_interval(monkeypatch, capsys):
    module = load_script("mlp_subnormals")
    written = {}
    common = sys.modules["common"]   # validation/common.py, which add_run writes through
    monkeypatch.setattr(common, "RESULTS", "/nonexistent")
    monkeypatch.setattr(common, "write_json", lambda name, data: written.update({name: data}))
    assert module.main(["--steps", "4", "--every", "2", "--label", "smoke"]) == 0
    rows = written["mlp_subnormals.json"]["runs"]["smoke"]
    assert [r["steps"] for r in rows] == [2, 4]
    assert all(r["hebbref_ms"] > 0 and 0.0 <= r["hebbref_adam_m_subnormal"] <= 1.0 for r in rows)
    assert len(capsys.readouterr().out.strip().splitlines()) == 2

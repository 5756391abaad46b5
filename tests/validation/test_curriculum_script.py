"""validation/curriculum.py at toy size: the lever study end to end (screen, choice, final,
report) and its choice rule (docs/MATH.md §9)."""
import json
import sys

import pytest

from hebbref.experiments.curriculum import CurriculumConfig
from hebbref.metrics import EXPOSURE_BUCKETS
from validation_scripts import load_script


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path / "cache"))


def _validation_script():
    """validation/curriculum.py, imported by path."""
    return load_script("curriculum")


def test_lever_study_smoke(tmp_path, monkeypatch):
    """The full study at toy size: screen on validation, choose, final on test, report. The
    chosen setting passes the criterion on validation if any setting does, and has the best
    score among those that do (or among all); the final table has every bucket."""
    script = _validation_script()
    common = sys.modules["common"]
    monkeypatch.setattr(common, "RESULTS", str(tmp_path))
    monkeypatch.setattr(script, "RESULTS", str(tmp_path))
    tiny_digits = CurriculumConfig(dataset="digits", classes=3, size=8, initial_classes=1,
                                   add_every=5, add_count=1, steps=60, batch_size=4,
                                   hidden_sizes=(8,), eval_every=2, eval_drawers=10)
    monkeypatch.setattr(script, "DATASETS", {"digits": tiny_digits})
    monkeypatch.setattr(script, "MODELS", [dict(optimizer="adam", lr=1e-2, activation="tanh")])
    monkeypatch.setattr(script, "SCREEN_SEEDS", (0,))
    monkeypatch.setattr(script, "TEST_SEEDS", (0, 1))
    script.main(["--quick"])
    results = json.loads((tmp_path / "curriculum_quick.json").read_text())
    table = script.lever_table(results["screen"])
    passing = [k for k in table if script.meets_criterion(table[k])]
    best = max(passing or table, key=lambda setting: script.score(table[setting]))
    assert results["chosen"]["rule"] == dict(zip(("gamma", "T", "write_scale"), best[2:]))
    assert set(results["summary"]["digits"]) == {"chosen", "paper rule"}
    assert set(results["summary"]["digits"]["chosen"]["difference"]) == {
        name for name, _, _ in EXPOSURE_BUCKETS}
    for png in ("curriculum_digits_by_exposure_quick.png", "curriculum_why_quick.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_choice_prefers_settings_that_meet_the_criterion():
    """meets_criterion is the lever study's test on validation means (>= 0.15 at 1 and 2 exposures,
    >= −0.01 at 21–50 and >50, every dataset); choose takes a passing setting over a higher
    score, and the best score when nothing passes."""
    script = _validation_script()
    buckets = script.BUCKETS

    def per_dataset(early, late):
        diff = {b: 0.0 for b in buckets}
        diff.update({"1": early, "2": early, "21-50": late, ">50": late})
        return {"kanji": [{"diff": diff}], "digits": [{"diff": diff}]}

    table = {"bold": per_dataset(0.6, -0.05), "safe": per_dataset(0.2, -0.005),
             "timid": per_dataset(0.1, 0.0)}
    assert [k for k in table if script.meets_criterion(table[k])] == ["safe"]
    assert script.score(table["bold"]) > script.score(table["safe"])
    assert script.choose(table) == "safe"
    del table["safe"]
    assert script.choose(table) == "bold"

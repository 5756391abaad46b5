"""validation/lm_table.py at smoke size on two small text corpora: the choice of the rule, the
table's ratios and intervals recomputed from the per-seed perplexities it stores, and the resume
from finished runs."""
import json
import os
import sys

import numpy as np
import pytest

VALIDATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                          "validation")
sys.path.insert(0, VALIDATION)
import common  # noqa: E402
import lm_buckets  # noqa: E402
import lm_table  # noqa: E402
from stats import seed_ratio_interval  # noqa: E402


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory, corpus_file):
    """lm_table on two text corpora (the shared Zipfian file and its lines reversed), results
    and runs in a temporary folder, three candidate rules, one finalist, seeds 0 and 1."""
    tmp_path = tmp_path_factory.mktemp("lm_table")
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch(monkeypatch, tmp_path, corpus_file)
        assert lm_table.main(["--quick", "--seeds", "0", "1", "--jobs", "1"]) == 0
    return tmp_path, corpus_file


@pytest.fixture
def study(study_folder):
    with open(study_folder[0] / "lm_table_quick.json", encoding="utf-8") as f:
        return json.load(f)


def patch(monkeypatch, tmp_path, corpus_file):
    other = tmp_path / "reversed.txt"
    other.write_text("\n".join(corpus_file.read_text().splitlines()[::-1]) + "\n")
    monkeypatch.setattr(lm_table, "CORPORA", {"a": f"text:{corpus_file}", "b": f"text:{other}"})
    monkeypatch.setattr(lm_table, "SCREEN_CORPUS", "b")
    monkeypatch.setattr(lm_table, "CANDIDATES", lm_table.CANDIDATES[:3])
    monkeypatch.setattr(lm_table, "FINALISTS", 1)
    monkeypatch.setattr(lm_table, "RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(lm_table, "RESULTS", str(tmp_path))
    monkeypatch.setattr(common, "RESULTS", str(tmp_path))


def test_ratios_and_intervals_follow_the_stored_perplexities(study):
    for corpus in ("a", "b"):
        for row, cells in study["table"][corpus].items():
            for bucket, cell in cells.items():
                if "ratio" not in cell:
                    continue
                ratios = np.array(cell["hebbian"]) / np.array(cell["baseline"])
                assert cell["ratios"] == pytest.approx(ratios.tolist())
                assert (cell["ratio"], cell["low"], cell["high"]) == pytest.approx(
                    seed_ratio_interval(ratios))
        model = study["runs"][corpus]
        overall = study["table"][corpus]["model"]["overall"]
        assert overall["baseline"] == [r["test"]["overall"]["perplexity"]
                                       for r in model["baseline"]]
        assert [r["config"]["seed"] for r in model["hebbian"]] == [0, 1]
        assert all(not r["config"]["hebbian"] for r in model["baseline"])


def test_the_chosen_rule_is_the_finalist_with_the_smallest_worst_ratio(study):
    table = study["selection"]["table"]
    screen = [row for row in table if row["corpus"] == "b"]
    assert len(screen) == 3
    best = min(screen, key=lambda row: row["worst_ratio"])
    setting = {k: best[k] for k in ("gamma", "T", "write_scale", "lam_rule", "write_gain")}
    assert study["chosen"] == setting  # one finalist: the best on the screen corpus
    assert [row for row in table if row["corpus"] == "a"][0]["T"] == setting["T"]
    for run in study["runs"]["a"]["hebbian"]:
        assert {k: run["config"][k] for k in setting} == setting


def test_a_second_run_reuses_every_finished_run(study_folder, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained or evaluated again")

    tmp_path, corpus_file = study_folder
    patch(monkeypatch, tmp_path, corpus_file)
    monkeypatch.setattr(lm_buckets, "run", no_training)
    monkeypatch.setattr(lm_table, "evaluate_cache", no_training)
    assert lm_table.main(["--quick", "--seeds", "0", "1", "--jobs", "1"]) == 0
    assert os.path.exists(tmp_path / "lm_table_a_quick.png")

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
    setting = {k: best[k] for k in ("gamma", "T", "write_scale", "lam_rule", "write_gain", "prior_count")}
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


def fake_run(valid):
    """A finished run as choose_full reads it: validation perplexity per bucket and overall."""
    rows = {"buckets": [{"name": b, "perplexity": p} for b, p in valid.items() if b != "overall"],
            "overall": {"name": "overall", "perplexity": valid["overall"]}}
    return {"valid": rows, "fine": rows}


def test_full_size_choice_takes_the_schedule_of_the_better_baseline_then_its_best_candidate():
    """The schedule is judged by the plain model alone (lower validation perplexity, geometric
    mean over corpora and seeds), and only candidates under it compete: a candidate of the other
    schedule with a smaller worst ratio is not chosen. Within the schedule the smaller larger-of-
    the-two-corpora worst ratio wins (lm_buckets.worst_ratio)."""
    base = {"rare": 100.0, "common": 10.0, "overall": 20.0}
    scaled = lambda f: fake_run({k: v * f.get(k, 1.0) for k, v in base.items()})
    models = [("constant", None), ("linear", None), ("constant", {"write_gain": 0.5}),
              ("linear", {"write_gain": 0.5}), ("linear", {"write_gain": 0.25})]
    runs = {
        "a": [[scaled({"overall": 1.10})] * 2, [scaled({})] * 2,
              [scaled({"rare": 0.5})] * 2,                      # best ratio, wrong schedule
              [scaled({"rare": 0.9, "common": 1.02})] * 2,      # worst ratio 1.02 on a
              [scaled({"rare": 0.9})] * 2],
        "b": [[scaled({"overall": 1.10})] * 2, [scaled({})] * 2, [scaled({"rare": 0.5})] * 2,
              [scaled({"rare": 0.9})] * 2,
              [scaled({"rare": 0.95, "common": 1.04})] * 2],    # worst ratio 1.04 on b
    }
    settings = {k: 0 for k in ("gamma", "T", "lam_rule", "write_scale")}
    models = [(s, None if m is None else {**settings, **m}) for s, m in models]
    record, chosen = lm_table.choose_full(runs, models)
    assert record["baseline_valid_ppl"]["linear"] < record["baseline_valid_ppl"]["constant"]
    assert record["baseline_valid_ppl_by_corpus"]["constant"]["a"] == pytest.approx(22.0)
    assert chosen == 3
    worst = {(r["corpus"], r["lr_schedule"], r["write_gain"]): r["worst_ratio"]
             for r in record["table"]}
    assert worst[("a", "linear", 0.5)] == pytest.approx(1.02)
    assert worst[("b", "linear", 0.25)] == pytest.approx(1.04)
    assert worst[("a", "constant", 0.5)] == pytest.approx(1.0)


def test_full_size_choice_prefers_a_candidate_that_meets_the_goal_on_validation():
    """Among the candidates of the chosen schedule, those meeting the goal on validation on both
    corpora (every bucket <= 1.00, overall <= 0.97) compete alone: a smaller worst ratio that
    misses the goal (overall 0.99 > 0.97) loses to a larger one that meets it on both corpora,
    and one that meets it on one corpus only does not count."""
    base = {"rare": 100.0, "common": 10.0, "overall": 20.0}
    scaled = lambda f: fake_run({k: v * f.get(k, 1.0) for k, v in base.items()})
    settings = {k: 0 for k in ("gamma", "T", "lam_rule", "write_scale")}
    models = [("linear", None)] + [("linear", {**settings, "write_gain": g})
                                   for g in (0.25, 0.5, 1.0)]
    near = scaled({"rare": 0.9, "common": 0.99, "overall": 0.99})      # worst 0.99, goal missed
    met = scaled({"rare": 0.5, "common": 0.995, "overall": 0.96})      # worst 0.995, goal met
    better = scaled({"rare": 0.5, "common": 0.98, "overall": 0.95})
    runs = {"a": [[scaled({})] * 2, [near] * 2, [met] * 2, [better] * 2],
            "b": [[scaled({})] * 2, [near] * 2, [met] * 2, [near] * 2]}
    record, chosen = lm_table.choose_full(runs, models)
    assert chosen == 2
    assert {(r["corpus"], r["write_gain"]): r["goal_met"] for r in record["table"]} == {
        ("a", 0.25): False, ("a", 0.5): True, ("a", 1.0): True,
        ("b", 0.25): False, ("b", 0.5): True, ("b", 1.0): False}


def test_full_size_study_end_to_end_at_smoke_size(tmp_path, corpus_file, monkeypatch):
    """--full-size on two tiny corpora: every candidate trains under its own schedule, the
    chosen pair is evaluated with the cache and MbPA, and the README section renders every row
    from the JSON, with the chosen setting's runs on both corpora. The probability the first
    seed's pair puts on each bucket's words sums to 1 over the buckets for every target bucket."""
    patch(monkeypatch, tmp_path, corpus_file)
    tiny = dict(hidden=8, embed_size=8, max_steps=6, eval_tokens=800, batch_size=8, bptt=10)
    monkeypatch.setattr(lm_table, "FULL_BASE", lm_table.dataclasses.replace(
        lm_table.FULL_BASE, **tiny))
    sections = {}
    monkeypatch.setattr(lm_table, "update_readme_section", sections.__setitem__)
    assert lm_table.main(["--full-size", "--seeds", "0", "1", "--jobs", "1",
                          "--mbpa-tokens", "300"]) == 0
    with open(tmp_path / "lm_table_full.json", encoding="utf-8") as f:
        results = json.load(f)
    assert len(results["selection"]["table"]) == 2 * len(lm_table.FULL_CANDIDATES)
    for corpus in ("a", "b"):
        assert all(results["table"][corpus][row] for row in lm_table.ROWS)
        for model in ("baseline", "hebbian"):
            assert {r["config"]["lr_schedule"] for r in results["runs"][corpus][model]} == {
                results["schedule"]}
        assert [r["config"]["write_scale"] for r in results["runs"][corpus]["hebbian"]] == [
            results["setting"]["write_scale"]] * 2
    text = sections["lm-books-full"]
    assert text.count("| + both |") == 2 and "Choice on validation" in text
    rows = results["selection"]["rows"]   # every model, baselines too, on both corpora
    assert len(rows) == 2 * (len(lm_table.FULL_CANDIDATES) + 2)
    assert all(r["theta_norm"] for r in rows)
    # Every word is in exactly one bucket, so a target's masses over the buckets sum to 1
    # (to float32 rounding: the model computes its softmax in float32).
    mass = results["selection"]["mass"]
    assert {(m["corpus"], m["model"]) for m in mass} == {
        (c, m) for c in ("a", "b") for m in ("baseline", "hebbian")}
    for m in mass:
        for target, by_word in m["mass"]["mass"].items():
            assert sum(by_word.values()) == pytest.approx(1.0, abs=1e-6), target
        assert set(m["mass"]["halved"]) == set(m["mass"]["mass"])
    assert "Where the probability goes" in text
    assert os.path.exists(tmp_path / "lm_table_a_full.png")

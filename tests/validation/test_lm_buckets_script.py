"""validation/lm_buckets.py's choice of the Hebbian setting (docs/MATH.md §10: gains on rare words and
no loss on frequent ones), on synthetic finished runs: the selection logic without training."""
import math

import pytest

from validation_scripts import load_script

BUCKETS = (">1K", "100–1K", "10–100", "<10", "<unk>")


def _script():
    return load_script("lm_buckets")


def _run(perplexities, overall):
    """A finished run's results as lm.run writes them (only what the choice reads)."""
    buckets = [{"name": n, "perplexity": p} for n, p in zip(BUCKETS, perplexities)]
    return {"valid": {"buckets": buckets, "overall": {"name": "overall", "perplexity": overall}}}


def test_worst_ratio_is_the_largest_geometric_mean_ratio_over_buckets_and_overall():
    """worst = max over {buckets except <unk>, overall} of (Π_s r_s)^(1/S), r_s the
    Hebbian/baseline perplexity ratio of seed s; a bucket without targets (None) is skipped."""
    script = _script()
    base = [_run([10, 100, 1000, 10000, 50], 200), _run([10, 100, 1000, 10000, 50], 200)]
    heb = [_run([11, 90, 900, 5000, 500], 190), _run([9, 80, 1100, None, 500], 170)]
    expected = max(math.sqrt(1.1 * 0.9), math.sqrt(0.9 * 0.8), math.sqrt(0.9 * 1.1),
                   math.sqrt(0.95 * 0.85))
    # <10 is missing on seed 1, so it is skipped on every seed; <unk> (10×) is never counted.
    heb[1]["valid"]["buckets"][3]["perplexity"] = 4000
    expected = max(expected, math.sqrt(0.5 * 0.4))
    assert script.worst_ratio(heb, base) == pytest.approx(expected)
    assert script.worst_ratio(heb[:1], base[:1]) == pytest.approx(1.1)
    with pytest.raises(ValueError):
        script.worst_ratio(heb, base[:1])


def test_tuning_points_change_one_option_then_cross_the_best_write_with_every_T():
    script = _script()
    default = dict(gamma=0.01, T=100.0, write_scale="none", lam_rule="paper")
    stage1 = script.tuning_points(default)
    assert stage1[0] == default
    changed = [{k for k in default if p[k] != default[k]} for p in stage1[1:]]
    assert all(len(c) == 1 for c in changed)             # one option at a time
    assert {p["T"] for p in stage1} == set(script.TUNE_T)
    assert {p["write_scale"] for p in stage1} == {"none", *script.WRITE_SCALES}
    assert script.tuning_points(default, "none") == []
    stage2 = script.tuning_points(default, "centred")
    assert {p["T"] for p in stage2} == set(script.TUNE_T) - {100.0}
    assert all(p["write_scale"] == "centred" for p in stage2)


def test_tune_confirms_on_a_second_seed_and_can_overturn_seed_0(monkeypatch):
    """Seed 0 ranks 'centred, T 20' first and 'centred, T 50' second; on seed 1 T 20 fails the
    goal (worse >1K) and T 50 is good, so the two-seed score picks T 50. Every training request
    is recorded: stage 1, stage 2 for the best write variant of stage 1, then the finalists on
    seed 1."""
    script = _script()
    monkeypatch.setattr(script, "FINALISTS", 2)
    monkeypatch.setattr(script, "mechanism_of", lambda base, seed: lambda run: {})
    trained = []

    def worst_on(seed, point):
        if point["write_scale"] != "centred":
            return 1.05
        return {(0, 20.0): 0.90, (0, 50.0): 0.92, (1, 20.0): 1.30, (1, 50.0): 0.93}.get(
            (seed, point["T"]), 1.01)

    def fake_sweep(function, configs, jobs):
        runs = []
        for c in configs:
            point = dict(gamma=c.gamma, T=c.T, write_scale=c.write_scale, lam_rule=c.lam_rule)
            trained.append((c.seed, point))
            r = worst_on(c.seed, point)
            runs.append(_run([100 * r, 50, 50, 50, 100], 50))   # rarer buckets: ratio 0.5
        return runs

    monkeypatch.setattr(script, "run_sweep", fake_sweep)
    base = script.dataclasses.replace(script.BASE, out="unused")
    baselines = [_run([100] * 5, 100), _run([100] * 5, 100)]
    first = _run([105, 50, 50, 50, 100], 50)      # the default point, screened already
    table, chosen, runs = script.tune(base, "torch-sgd", [0, 1], first, baselines, jobs=1)
    assert chosen["write_scale"] == "centred" and chosen["T"] == 50.0
    assert [s for s, _ in trained].count(1) == 2           # only the finalists on seed 1
    assert {p["T"] for s, p in trained if s == 1} == {20.0, 50.0}
    assert runs[1]["valid"]["buckets"][0]["perplexity"] == pytest.approx(93.0)
    two = {r["T"]: r["worst_ratio_two_seeds"] for r in table if "worst_ratio_two_seeds" in r}
    assert two[50.0] == pytest.approx(math.sqrt(0.92 * 0.93))
    assert two[20.0] == pytest.approx(math.sqrt(0.90 * 1.30))


@pytest.mark.parametrize("hebbian", [False, True])
def test_a_finished_baseline_is_reused_whatever_the_rule_fields_say(tmp_path, monkeypatch,
                                                                     hebbian):
    """train_one reuses a finished run whose saved config equals the wanted one; a baseline
    never reads the rule's fields (docs/MATH.md §5), so for it a different write_scale or T
    still matches, while a Hebbian run with another write is trained anew."""
    import dataclasses
    import json

    script = _script()
    wanted = script.LMConfig(corpus="bbc", hebbian=hebbian, out=str(tmp_path))
    saved = dataclasses.asdict(dataclasses.replace(wanted.validate(), write_scale="row_norm",
                                                   T=7.0))
    (tmp_path / "results.json").write_text(json.dumps({"status": "done", "config": saved}))
    trained = []
    monkeypatch.setattr(script, "run", lambda config, **_: trained.append(config) or {})
    result = script.train_one(wanted)
    assert (trained == []) == (not hebbian)
    if not hebbian:
        assert result["config"]["write_scale"] == "row_norm"

"""The curriculum experiment end to end at tiny size, and its bookkeeping (docs/MATH.md §9)."""
import dataclasses
import json

import numpy as np
import pytest

from hebbref import cli
from hebbref.experiments.curriculum import (CurriculumConfig, introduced, make_stream,
                                            prepare_data, run)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HEBBREF_CACHE_DIR", str(tmp_path / "cache"))


def tiny(tmp_path, **overrides):
    settings = dict(classes=4, initial_classes=2, add_every=4, add_count=1, steps=14,
                    batch_size=5, hidden_sizes=(8,), eval_every=3, out=str(tmp_path / "out"))
    settings.update(overrides)
    return CurriculumConfig(**settings)


def test_schedule_and_stream_draw_only_introduced_classes(tmp_path):
    config = tiny(tmp_path)
    assert [introduced(s, config) for s in (0, 3, 4, 8, 12, 100)] == [2, 2, 3, 4, 4, 4]
    train_y = np.repeat(np.arange(4), 15)
    stream = make_stream(config, train_y)
    assert len(stream) == config.steps
    for step, batch in enumerate(stream):
        assert batch.shape == (config.batch_size,)
        assert train_y[batch].max() < introduced(step, config)
    again = make_stream(config, train_y)
    assert all(np.array_equal(a, b) for a, b in zip(stream, again))


def test_tiny_run_bookkeeping(tmp_path):
    """Renders 4 classes, trains both models a few steps; every test image of an introduced
    class is counted once per evaluation, and exposure counts equal the training draws."""
    config = tiny(tmp_path)
    results = run(config, progress=False)
    evaluations = [s for s in range(config.steps) if (s + 1) % config.eval_every == 0
                   or s + 1 == config.steps]
    expected_total = sum(5 * introduced(s, config) for s in evaluations)  # 5 test drawers
    assert results["config"]["split"] == "test"
    for model in ("baseline", "hebbian"):
        r = results[model]
        assert sum(b["total"] for b in r["by_exposure"].values()) == expected_total
        assert np.sum(r["per_image"]["total"]) == expected_total
        assert np.sum(r["per_image"]["correct"]) == sum(
            b["correct"] for b in r["by_exposure"].values())
        assert sum(r["exposures"]) == config.steps * config.batch_size
        assert len(r["over_time"]) == len(evaluations)
    assert results["baseline"]["exposures"] == results["hebbian"]["exposures"]  # same stream
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["classes"] == 4
    for png in ("accuracy_by_exposure.png", "accuracy_over_time.png"):
        assert (tmp_path / "out" / png).read_bytes()[:4] == b"\x89PNG"


def test_cli_demo_pools_its_seeds(tmp_path, capsys):
    """`hebbref demo` runs seeds 0, 1, 2 (each its own results.json) and its table pools them:
    each bucket's accuracy is Σ correct / Σ evaluations over the three seeds' saved results."""
    code = cli.main(["demo", "--classes", "5", "--steps", "6", "--hidden-sizes", "8",
                     "--out", str(tmp_path / "demo"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "exposures" in out and "hebbian" in out and ">50" in out and "3 seeds pooled" in out
    saved = [json.loads((tmp_path / "demo" / f"seed-{s}" / "results.json").read_text())
             for s in range(3)]
    assert [r["config"]["seed"] for r in saved] == [0, 1, 2]
    assert (tmp_path / "demo" / "accuracy_by_exposure.png").read_bytes()[:4] == b"\x89PNG"
    bucket = next(b for b in saved[0]["hebbian"]["by_exposure"] if b != "0"
                  and sum(r["hebbian"]["by_exposure"][b]["total"] for r in saved))
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == [bucket])
    for model, cell in zip(("baseline", "hebbian"), row[1:3]):
        cells = [r[model]["by_exposure"][bucket] for r in saved]
        pooled = sum(c["correct"] for c in cells) / sum(c["total"] for c in cells)
        assert cell == f"{pooled:.3f}"
    assert cli.main(["demo", "--seeds", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_late_difference_says_whether_a_cost_remains(capsys):
    """The demo's table ends with the late Hebbian − baseline difference and its interval, and
    says "a cost remains" exactly when the interval lies below 0."""
    def results(baseline_correct):
        total = [[0] * 6 + [0, 4]] * 3
        return {"baseline": [{"per_image": {"correct": [[0] * 7 + [c] for c in baseline_correct]}}],
                "hebbian": [{"per_image": {"total": total, "correct": [[0] * 7 + [2]] * 3}}]}

    cli.print_late_difference(results([4, 4, 3]))
    out = capsys.readouterr().out
    assert ">50 exposures: -0.417" in out and "a cost remains" in out and "21-50" not in out
    cli.print_late_difference(results([2, 1, 3]))
    assert "no cost shown" in capsys.readouterr().out


def test_cli_small_class_count_and_schedule_options(tmp_path, capsys):
    """--classes below the default initial count just works (initial = classes); the schedule
    options reach the run's config."""
    out = tmp_path / "small"
    assert cli.main(["curriculum", "--classes", "3", "--steps", "4", "--hidden-sizes", "8",
                     "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "results.json").read_text())["config"]["initial_classes"] == 3
    assert cli.main(["curriculum", "--classes", "4", "--initial-classes", "1", "--add-every", "2",
                     "--add-count", "3", "--batch-size", "7", "--steps", "4", "--hidden-sizes",
                     "8", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert (config["initial_classes"], config["add_every"], config["add_count"],
            config["batch_size"]) == (1, 2, 3, 7)


def test_cli_write_levers_reach_the_config(tmp_path, capsys):
    """--write-gain 1 --centre-window 0 restore the full write on each batch's own mean; without
    them the config holds CurriculumConfig's defaults (docs/MATH.md §5.7)."""
    from hebbref.experiments.curriculum import CurriculumConfig

    out = tmp_path / "gain"
    assert cli.main(["curriculum", "--classes", "3", "--steps", "2", "--hidden-sizes", "8",
                     "--write-gain", "1", "--centre-window", "0", "--out", str(out),
                     "--quiet"]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert (config["write_gain"], config["centre_window"]) == (1.0, 0.0)
    assert cli.main(["curriculum", "--classes", "3", "--steps", "2", "--hidden-sizes", "8",
                     "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    default = CurriculumConfig()
    assert (config["write_gain"], config["centre_window"]) == (default.write_gain,
                                                               default.centre_window)
    assert default.centre_window > 0 and default.write_gain < 1   # the levers are on


def test_cli_rejects_bad_gamma(tmp_path, capsys):
    code = cli.main(["curriculum", "--gamma", "2", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "gamma" in capsys.readouterr().err


def test_non_finite_loss_stops_with_the_step(tmp_path):
    """A diverging run (lr = 1e30) raises FloatingPointError naming the step, not a NaN table."""
    config = tiny(tmp_path, optimizer="sgd", lr=1e30)
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError,
                                                  match=r"non-finite training loss .* at step \d+"):
        run(config, progress=False)


def test_held_out_drawers_split_validation_from_test(tmp_path):
    """Test = drawers 0..k−1, validation = k..2k−1 of every class, training = the rest; both
    splits train on the same images, and no held-out image is a training image."""
    test_config = tiny(tmp_path, dataset="digits", classes=3, size=8, eval_drawers=10)
    valid_config = tiny(tmp_path, dataset="digits", classes=3, size=8, eval_drawers=10,
                        split="validation")
    (train_x, train_y), (test_x, test_y) = prepare_data(test_config)
    (train_x2, train_y2), (valid_x, valid_y) = prepare_data(valid_config)
    np.testing.assert_array_equal(train_x, train_x2)
    np.testing.assert_array_equal(train_y, train_y2)
    assert np.bincount(test_y).tolist() == np.bincount(valid_y).tolist() == [10, 10, 10]
    rows = lambda x: {r.tobytes() for r in x}
    assert not rows(test_x) & rows(valid_x)
    assert not (rows(test_x) | rows(valid_x)) & rows(train_x)


def test_rule_switched_off_reproduces_the_baseline(tmp_path):
    """End to end docs/MATH.md §8 P1: with T = 0 the Hebbian model is the baseline, bit for bit, so
    every evaluation and tally agree; with the rule on (either write_scale) they differ."""
    config = tiny(tmp_path, dataset="digits", classes=4, size=8, eval_drawers=10, out=None,
                  T=0.0, write_scale="row_norm")
    off = run(config, progress=False)
    assert off["hebbian"] == off["baseline"]
    for write_scale in ("none", "row_norm"):
        on = run(dataclasses.replace(config, T=100.0, write_scale=write_scale), progress=False)
        assert on["hebbian"]["per_image"] != on["baseline"]["per_image"]


def test_cli_passes_rule_optimizer_and_split_options(tmp_path):
    out = tmp_path / "opts"
    assert cli.main(["curriculum", "--dataset", "digits", "--size", "8", "--classes", "3",
                     "--steps", "4", "--hidden-sizes", "8", "--eval-every", "1",
                     "--eval-drawers", "10", "--write-scale", "row_norm", "--lam-rule",
                     "exact_mean", "--optimizer", "rmsprop", "--split", "validation",
                     "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "results.json").read_text())["config"]
    assert (config["write_scale"], config["lam_rule"], config["optimizer"], config["split"],
            config["eval_every"]) == ("row_norm", "exact_mean", "rmsprop", "validation", 1)
    parsed = cli.build_parser().parse_args(["lm", "--write-scale", "row_norm", "--lam-rule",
                                            "exact_mean"])
    assert (parsed.write_scale, parsed.lam_rule) == ("row_norm", "exact_mean")

"""The curriculum experiment end to end at tiny size, and its bookkeeping (METHOD §5)."""
import json

import numpy as np
import pytest

from hebbref import cli
from hebbref.experiments.curriculum import CurriculumConfig, introduced, make_stream, run


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
    for model in ("baseline", "hebbian"):
        r = results[model]
        assert sum(b["total"] for b in r["by_exposure"].values()) == expected_total
        assert sum(r["exposures"]) == config.steps * config.batch_size
        assert len(r["over_time"]) == len(evaluations)
    assert results["baseline"]["exposures"] == results["hebbian"]["exposures"]  # same stream
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["config"]["classes"] == 4
    for png in ("accuracy_by_exposure.png", "accuracy_over_time.png"):
        assert (tmp_path / "out" / png).read_bytes()[:4] == b"\x89PNG"


def test_cli_demo_prints_table(tmp_path, capsys):
    code = cli.main(["demo", "--classes", "5", "--steps", "6", "--hidden-sizes", "8",
                     "--out", str(tmp_path / "demo"), "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "exposures" in out and "hebbian" in out and ">50" in out


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

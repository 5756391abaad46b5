"""The language-model experiment: exact resume, Ctrl-C, non-finite loss, and a tiny smoke run."""
import dataclasses
import json
import os
import signal

import numpy as np
import pytest

from hebbref.checkpoint import load_checkpoint
from hebbref.experiments import lm, lm_train
from hebbref.experiments.lm import LMConfig, load_state, run


def final_arrays(out):
    groups, meta = load_checkpoint(os.path.join(out, "checkpoint.npz"))
    meta.pop("config")
    return groups, meta


@pytest.mark.parametrize("overrides", [dict(), dict(dropout=0.3, layers=2, optimizer="sgd",
                                                    lr=0.5, hebbian=True),
                                       dict(hebbian=False, optimizer="rmsprop")])
def test_resume_is_bit_exact(tiny, tmp_path, overrides):
    """k steps, save, load, k more steps == 2k uninterrupted steps, for every saved array
    (parameters, optimiser state, Hebbian counts, carried LSTM state) and the RNG/position.
    At a constant lr: the resume raises max_steps, which reshapes a linear schedule (that one's
    exact resume is test_interrupted_linear_schedule_resumes_exactly)."""
    k = 7
    overrides = {"lr_schedule": "constant", **overrides}
    run(tiny(tmp_path / "straight", max_steps=2 * k, **overrides), progress=False)
    run(tiny(tmp_path / "split", max_steps=k, **overrides), progress=False)
    run(tiny(tmp_path / "split", max_steps=2 * k, **overrides),
        resume=tmp_path / "split" / "checkpoint.npz", progress=False)
    straight, meta_straight = final_arrays(tmp_path / "straight")
    split, meta_split = final_arrays(tmp_path / "split")
    assert meta_straight == meta_split
    assert meta_split["step"] == 2 * k
    assert straight.keys() == split.keys()
    for group in straight:
        assert straight[group].keys() == split[group].keys()
        for name, value in straight[group].items():
            assert np.array_equal(value, split[group][name]), f"{group}/{name} differs"


def test_interrupted_linear_schedule_resumes_exactly(tiny, tmp_path, monkeypatch):
    """A run with the linear lr schedule stopped by Ctrl-C after k of 2k steps and resumed ends
    with the same arrays as the run never stopped: the schedule follows the step count saved in
    the checkpoint, not the process."""
    k, real_step, calls = 5, lm.lm_train_step, {"n": 0}
    run(tiny(tmp_path / "straight", max_steps=2 * k, lr_schedule="linear"), progress=False)

    def step_then_stop(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == k:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(lm, "lm_train_step", step_then_stop)
    config = tiny(tmp_path / "split", max_steps=2 * k, lr_schedule="linear", checkpoint_every=100)
    assert run(config, progress=False)["status"] == "interrupted"
    monkeypatch.setattr(lm, "lm_train_step", real_step)
    run(config, resume=tmp_path / "split" / "checkpoint.npz", progress=False)
    straight, meta_straight = final_arrays(tmp_path / "straight")
    split, meta_split = final_arrays(tmp_path / "split")
    assert meta_straight == meta_split
    for group in straight:
        for name, value in straight[group].items():
            assert np.array_equal(value, split[group][name]), f"{group}/{name} differs"


def test_resume_crosses_an_epoch_boundary(tiny, tmp_path):
    config = tiny(tmp_path / "a", epochs=2, lr_schedule="constant")  # max_steps changes below
    state_steps = run(config, progress=False)["steps"]
    half = state_steps // 2 + 1
    run(tiny(tmp_path / "b", epochs=2, max_steps=half, lr_schedule="constant"), progress=False)
    run(tiny(tmp_path / "b", epochs=2, lr_schedule="constant"),
        resume=tmp_path / "b" / "checkpoint.npz",
        progress=False)
    a, _ = final_arrays(tmp_path / "a")
    b, _ = final_arrays(tmp_path / "b")
    for name, value in a["params"].items():
        assert np.array_equal(value, b["params"][name])


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_stop_signal_writes_checkpoint_and_stops_cleanly(tiny, tmp_path, monkeypatch,
                                                         stop):
    """Ctrl-C, SIGTERM and SIGHUP: the step in flight completes and a checkpoint is written, so
    no step since the last checkpoint is lost (that a checkpoint resumes exactly is
    test_resume_is_bit_exact)."""
    real_step = lm.lm_train_step
    calls = {"n": 0}

    def step_then_signal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), getattr(signal, stop))
        return real_step(*args, **kwargs)

    monkeypatch.setattr(lm, "lm_train_step", step_then_signal)
    # Whatever handled each signal before (the default, or SIG_IGN in a background job) is back.
    before = {number: signal.getsignal(number) for number in lm.STOP_SIGNALS}
    results = run(tiny(tmp_path, checkpoint_every=100, max_steps=6), progress=False)
    assert (results["status"], results["signal"]) == ("interrupted", stop)
    _, state = load_state(tmp_path / "checkpoint.npz")
    assert state.step == 3
    assert {number: signal.getsignal(number) for number in lm.STOP_SIGNALS} == before


def test_non_finite_loss_stops_with_the_step_and_keeps_last_checkpoint(tiny, tmp_path,
                                                                     monkeypatch):
    real_loss = lm_train.lm_loss
    calls = {"n": 0}

    def loss_goes_nan(*args, **kwargs):
        calls["n"] += 1
        loss, *rest = real_loss(*args, **kwargs)
        return (float("nan") if calls["n"] == 5 else loss), *rest

    monkeypatch.setattr(lm_train, "lm_loss", loss_goes_nan)
    with pytest.raises(FloatingPointError, match="step 5"):
        run(tiny(tmp_path, checkpoint_every=2), progress=False)
    _, state = load_state(tmp_path / "checkpoint.npz")
    assert state.step == 4
    assert all(np.isfinite(v).all() for v in state.params.values())


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_each_step_trains_at_its_scheduled_lr(tiny, tmp_path, monkeypatch, schedule):
    """Step s of S trains at lr ("constant") or at lr · (1 − s/S) ("linear"): the first step at
    lr, every later one smaller, the last still above 0, so every step of the run trains."""
    real_step, seen = lm.lm_train_step, []

    def recording_step(state, x, y, config, lr=None):
        seen.append(lr)
        return real_step(state, x, y, config, lr)

    monkeypatch.setattr(lm, "lm_train_step", recording_step)
    S = 9
    config = tiny(tmp_path, max_steps=S, lr_schedule=schedule, lr=0.5)
    run(config, progress=False)
    expected = [0.5 * (1 - s / S) if schedule == "linear" else 0.5 for s in range(S)]
    assert seen == pytest.approx(expected, rel=1e-12)
    if schedule == "linear":
        assert seen[0] == 0.5 and all(a > b > 0 for a, b in zip(seen, seen[1:]))


def test_foreign_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(2))
    with pytest.raises(ValueError, match="not a hebbref checkpoint"):
        run(resume=path, progress=False)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="gamma"):
        LMConfig(gamma=1.5).validate()
    with pytest.raises(ValueError, match="T"):
        LMConfig(T=-1).validate()
    with pytest.raises(ValueError, match="hidden"):
        LMConfig(hidden=0).validate()
    with pytest.raises(ValueError, match="lr_schedule"):
        LMConfig(lr_schedule="cosine").validate()


@pytest.mark.parametrize("curve_every, expected", [(100, [*range(2, 45, 2), 45]),
                                                    (1, list(range(1, 46)))])
def test_short_run_has_a_learning_curve(tiny, tmp_path, curve_every, expected):
    """A run of `steps` steps has a curve point at least every max(1, steps // 20) steps and
    at its last step, whatever curve_every says; a smaller curve_every still gives more."""
    results = run(tiny(tmp_path, max_steps=45, curve_every=curve_every), progress=False)
    assert [point[0] for point in results["curve"]] == expected


@pytest.mark.slow
def test_quick_like_run_on_bbc(tmp_path):
    """The real corpus end to end at tiny size: every evaluated target is in exactly one row and
    the overall perplexity is the token-weighted log-mean of the rows."""
    config = lm.quick_config(hidden=8, embed_size=8, max_steps=4, eval_tokens=1500,
                             curve_every=2, curve_tokens=500, out=str(tmp_path))
    results = run(config, progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["steps"] == 4 and [point[0] for point in saved["curve"]] == [1, 2, 3, 4]
    for split in ("valid", "test"):
        rows = saved[split]["buckets"]
        overall = saved[split]["overall"]
        assert sum(r["tokens"] for r in rows) == overall["tokens"]
        weighted = sum(r["tokens"] * r["mean_nll"] for r in rows if r["tokens"]) / overall["tokens"]
        assert np.isclose(np.log(overall["perplexity"]), weighted)
    assert results["corpus"]["vocab_size"] > 10000


def test_cache_evaluation_rows(tiny, tmp_path):
    """--cache adds validation/test bucket tables with the cache at values chosen on validation;
    every evaluated target is counted in both the plain and the cache tables."""
    results = run(tiny(tmp_path, max_steps=6, cache=True), progress=False)
    cache = results["cache"]
    assert set(cache["chosen"]) == {"window", "theta_c", "lambda_c"}
    best = min(cache["grid"], key=lambda g: g["mean_nll"])
    assert (best["window"], best["theta_c"], best["lambda_c"]) == tuple(
        cache["chosen"][k] for k in ("window", "theta_c", "lambda_c"))
    for split in ("valid", "test"):
        assert cache[split]["overall"]["tokens"] == results[split]["overall"]["tokens"]
    assert (tmp_path / "buckets.png").exists()


def test_evaluation_tables_equal_on_the_plain_path(tiny, tmp_path):
    """docs/MATH.md §6.2, §6.4: evaluate_buckets and evaluate_cache with config.reference (the
    plain twins through stream.walk and the cache) give the fast path's tables on a float64 model: every bucket's
    perplexity to relative 1e-9, and the same cache choice."""
    from hebbref.data.text import load_corpus
    from hebbref.models.lm import lm_init

    config = tiny(tmp_path, dtype="float64", eval_tokens=80, cache=True).validate()
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    params = lm_init(len(corpus.vocab), 6, 5, np.random.default_rng(0), dtype=np.float64)
    fast, plain = ({**lm.evaluate_buckets(c, corpus, params),
                    "cache": lm.evaluate_cache(c, corpus, params)}
                   for c in (config, dataclasses.replace(config, reference=True)))
    assert plain["cache"]["chosen"] == fast["cache"]["chosen"]
    pairs = [(fast[s], plain[s]) for s in ("valid", "test")]
    pairs += [(fast["cache"][s], plain["cache"][s]) for s in ("valid", "test")]
    for table_fast, table_plain in pairs:
        for row_fast, row_plain in zip(table_fast["buckets"] + [table_fast["overall"]],
                                       table_plain["buckets"] + [table_plain["overall"]]):
            assert row_fast["tokens"] == row_plain["tokens"]
            if row_fast["tokens"]:
                assert row_plain["perplexity"] == pytest.approx(row_fast["perplexity"],
                                                                rel=1e-9, abs=0)

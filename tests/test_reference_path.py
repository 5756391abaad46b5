"""The switch to the plain path (`reference=True`, `--reference`): every layer, the loss, the
optimiser and the rule run through their plain NumPy twins, numba is never imported, and the
results equal the fast path's to rounding (docs/MATH.md §3, P7 for the rule; each twin pair is
tested on its own beside its layer; this file checks them together, end to end)."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from hebbref.data.batching import batchify, bptt_segments
from hebbref.data.text import load_corpus
from hebbref.experiments import curriculum
from hebbref.experiments.lm import run
from hebbref.experiments.lm_train import LMConfig, init_state, lm_train_step

# In float64 the twins differ only in rounding order (a few ulp per operation); over a short run
# that stays many orders of magnitude below this bound, while a wrong twin (a different formula,
# a skipped step) shows at 1e-3 or more.
RELATIVE = 1e-9


def numba_loaded_after(command):
    """Run `hebbref.cli.main(command)` in a fresh interpreter; return whether numba or the row
    threads of the fast softmax (hebbref.threads) ended up in sys.modules (the child checks that
    the command succeeded)."""
    code = ("import sys, hebbref.cli as cli; rc = cli.main(sys.argv[1:]); "
            "assert rc == 0, rc; print('numba' in sys.modules or 'hebbref.threads' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("reference", [True, False])
def test_demo_reference_never_imports_numba(tmp_path, reference):
    """`hebbref demo --reference` runs without numba; the fast run of the same command loads it
    (Adam's step is a numba kernel), so the check can see an import."""
    command = ["demo", "--steps", "30", "--classes", "10", "--hidden-sizes", "32", "--quiet",
               "--optimizer", "adam",
               "--out", str(tmp_path)] + (["--reference"] if reference else [])
    assert numba_loaded_after(command) is not reference


@pytest.mark.parametrize("reference", [True, False])
def test_lm_reference_never_imports_numba(corpus_file, tmp_path, reference):
    """`hebbref lm --reference` (training, learning curve, checkpoint, evaluation, cache, MbPA)
    runs without numba; the fast run of the same command loads it."""
    command = ["lm", "--corpus", f"text:{corpus_file}", "--embed-size", "6", "--hidden", "5",
               "--batch-size", "4", "--bptt", "5", "--max-steps", "6", "--eval-tokens", "200",
               "--cache", "--mbpa", "--mbpa-tokens", "60",
               "--quiet", "--out", str(tmp_path)] + (["--reference"] if reference else [])
    assert numba_loaded_after(command) is not reference


def relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0


def lm_losses(config):
    """The per-step training losses and the final state of lm_train_step over config.max_steps
    BPTT segments of the training split (the loop of experiments.lm.train, within one epoch)."""
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    state = init_state(config, len(corpus.vocab))
    data = batchify(corpus.train, config.batch_size)
    losses = [lm_train_step(state, x, y, config)
              for _, (_, x, y) in zip(range(config.max_steps), bptt_segments(data, config.bptt))]
    return np.array(losses), state


@pytest.mark.parametrize("overrides", [dict(optimizer="sgd", lr=1.0, clip=0.25),
                                       dict(optimizer="adam", lr=0.01, dropout=0.3, layers=2),
                                       dict(optimizer="rmsprop", lr=0.01, hebbian=False)])
def test_lm_reference_equals_fast_step_by_step(corpus_file, tmp_path, overrides):
    """float64, 12 BPTT segments with the carried state: the per-step training losses, the final
    parameters and Hebbian counts, and the final perplexities of the plain path equal the fast
    path's to relative 1e-9 (counts and the number of evaluated tokens exactly)."""
    config = LMConfig(corpus=f"text:{corpus_file}", embed_size=6, hidden=5, batch_size=4, bptt=5,
                      max_steps=12, curve_every=5, curve_tokens=200, eval_tokens=300,
                      dtype="float64", T=1000.0, out=str(tmp_path / "fast"),
                      **overrides).validate()
    plain = dataclasses.replace(config, reference=True, out=str(tmp_path / "plain"))
    (fast_losses, fast_state), (plain_losses, plain_state) = lm_losses(config), lm_losses(plain)
    params = max(relative_difference(plain_state.params[k], v)
                 for k, v in fast_state.params.items())
    losses = relative_difference(plain_losses, fast_losses)
    fast, reference = run(config, progress=False), run(plain, progress=False)
    metrics = []
    for split in ("valid", "test"):
        for fast_row, plain_row in zip(fast[split]["buckets"] + [fast[split]["overall"]],
                                       reference[split]["buckets"] + [reference[split]["overall"]]):
            assert plain_row["tokens"] == fast_row["tokens"]
            if fast_row["perplexity"] is not None:
                metrics.append(relative_difference(plain_row["perplexity"], fast_row["perplexity"]))
    print(f"\nLM {overrides}: max relative difference, per-step losses {losses:.1e}, "
          f"final parameters {params:.1e}, final perplexities {max(metrics):.1e}")
    assert losses < RELATIVE and params < RELATIVE and max(metrics) < RELATIVE
    if config.hebbian:
        assert np.array_equal(plain_state.hebbian_softmax.counts, fast_state.hebbian_softmax.counts)
        assert fast_state.hebbian_softmax.counts.max() > 1    # the rule did run
    assert np.all(np.diff(fast_losses) != 0)                  # and so did the optimiser


def test_curriculum_reference_equals_fast_step_by_step():
    """float64 digits curriculum, 40 steps, a loss and an evaluation every step, both models:
    the per-step training losses of the plain path equal the fast path's to relative 1e-9,
    and every held-out image is classified the same (exposure tallies and accuracies equal)."""
    config = curriculum.CurriculumConfig(dataset="digits", classes=10, size=8, initial_classes=3,
                                         add_every=8, add_count=2, steps=40, batch_size=8,
                                         hidden_sizes=(16,), eval_every=1, eval_drawers=5,
                                         optimizer="adam", lr=3e-3).validate()
    (train_x, train_y), (test_x, test_y) = curriculum.prepare_data(config)
    data = ((train_x.astype(np.float64), train_y), (test_x.astype(np.float64), test_y))
    stream = curriculum.make_stream(config, train_y)
    plain = dataclasses.replace(config, reference=True)
    worst = 0.0
    for hebbian in (False, True):
        fast = curriculum.run_model(config, data, stream, hebbian=hebbian, progress=False)
        reference = curriculum.run_model(plain, data, stream, hebbian=hebbian, progress=False)
        fast_losses = [point["loss"] for point in fast["over_time"]]
        plain_losses = [point["loss"] for point in reference["over_time"]]
        assert len(fast_losses) == config.steps
        worst = max(worst, relative_difference(plain_losses, fast_losses))
        assert reference["per_image"] == fast["per_image"]
        assert reference["by_exposure"] == fast["by_exposure"]
        assert [p["accuracy"] for p in reference["over_time"]] == \
            [p["accuracy"] for p in fast["over_time"]]
    print(f"\ncurriculum: max relative difference of the per-step losses {worst:.1e}; "
          f"held-out classifications identical")
    assert worst < RELATIVE

"""Reproduction 2: word-level LSTM language model, perplexity by word frequency (docs/MATH.md
§10). `run(config) -> results` trains one model (plain or Hebbian softmax), evaluates it by
training-frequency bucket and writes results JSON, plots and a checkpoint to config.out. The
config and the training step are in `lm_train`; this module drives them: epochs, BPTT segments,
curves, checkpoints, stop signals, evaluation. A resume continues exactly (`lm_checkpoint`)."""
import dataclasses
import math
import os
import signal
import time

import numpy as np
from tqdm import tqdm

from hebbref.data.batching import batchify, bptt_segments, num_segments
from hebbref.data.text import corpus_identity, load_corpus
from hebbref.experiments.lm_checkpoint import (check_resumable, load_state, resumed_config,
                                               save_state)
from hebbref.experiments.lm_train import (DEFAULT_LR, QUICK_SETTINGS, LMConfig,  # noqa: F401
                                          TrainState, init_state, lm_train_step, quick_config,
                                          scheduled_lr)
from hebbref.files import check_writable_folder, release_folder
from hebbref.metrics import frequency_buckets, perplexity_by_bucket
from hebbref.models.lm import lm_initial_state
from hebbref.record import run_record, write_results
from hebbref.stream import eval_tokens, walk

# Each stops training like Ctrl-C: the step in flight completes and a checkpoint is written.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def evaluate(params, tokens, *, batch_size, bptt, progress=False, desc="evaluate",
             reference=False):
    """NLL of every target of a token stream, state carried across segments (no dropout).
    tokens: (M,) -> (nll (K,) float64, targets (K,) int64), K = targets covered after batchify.
    progress: show a bar (only on a terminal); reference: the plain twins (stream.walk)."""
    nll, targets = [], []
    for _, y, _, _, segment_nll in walk(params, tokens, batch_size=batch_size, bptt=bptt,
                                        reference=reference, progress=progress, desc=desc):
        nll.append(segment_nll)
        targets.append(y.reshape(-1))
    return np.concatenate(nll), np.concatenate(targets)


class StopSignals:
    """Turns SIGINT, SIGTERM and SIGHUP into a flag checked between steps, so the step in flight
    completes and a consistent checkpoint can be written. `received` is the first signal's
    number (None if none came); later ones are ignored while the block runs."""

    def __enter__(self):
        self.received = None
        self.previous = {number: signal.signal(number, self._handle) for number in STOP_SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.received = self.received or signum

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def _perplexity(mean_nll):
    return math.exp(mean_nll) if mean_nll < 700 else math.inf  # exp overflows past ~709


def train(config, corpus, state, *, checkpoint_path=None, progress=True):
    """Train until config.epochs or config.max_steps are done and write the checkpoint. Returns
    "done", or the name of the stop signal received ("SIGINT", "SIGTERM", "SIGHUP")."""
    data = batchify(corpus.train, config.batch_size)
    per_epoch = num_segments(data, config.bptt)
    total = per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    curve_valid = corpus.valid[:config.curve_tokens + 1]
    # at least 20 points and the last step, so a short run's curve is never empty
    curve_every = min(config.curve_every, max(1, total // 20))
    bar = tqdm(total=total, initial=state.step, disable=None if progress else True,
               desc="hebbian" if config.hebbian else "baseline", unit="step")
    loss_sum, loss_n, tick, tokens_since = 0.0, 0, time.perf_counter(), 0
    with StopSignals() as stop:
        while state.step < total and stop.received is None:
            if state.position == per_epoch:
                state.epoch, state.position = state.epoch + 1, 0
                state.lstm_state = lm_initial_state(state.params, config.batch_size)
            _, x, y = next(bptt_segments(data, config.bptt, start=state.position * config.bptt))
            loss = lm_train_step(state, x, y, config, scheduled_lr(config, state.step, total))
            state.position, state.step = state.position + 1, state.step + 1
            loss_sum, loss_n, tokens_since = loss_sum + loss, loss_n + 1, tokens_since + y.size
            if state.step % curve_every == 0 or state.step == total:
                nll, _ = evaluate(state.params, curve_valid, batch_size=config.eval_batch_size,
                                  bptt=config.bptt, reference=config.reference)
                tokens_seen = state.step * config.batch_size * config.bptt
                state.curve.append((state.step, tokens_seen, float(np.exp(nll.mean()))))
            if checkpoint_path and (state.step % config.checkpoint_every == 0 or stop.received):
                save_state(checkpoint_path, config, state)
            now = time.perf_counter()
            if now - tick > 1.0:
                bar.set_postfix(tok_s=f"{tokens_since / (now - tick):.0f}",
                                ppl=f"{_perplexity(loss_sum / loss_n):.1f}")
                loss_sum, loss_n, tick, tokens_since = 0.0, 0, now, 0
            bar.update(1)
    bar.close()
    if stop.received:
        return signal.Signals(stop.received).name
    if checkpoint_path:
        save_state(checkpoint_path, config, state)
    return "done"


def evaluate_buckets(config, corpus, params, progress=False):
    """Validation and test perplexity, overall and per training-frequency bucket (docs/MATH.md
    §6.2)."""
    return _by_bucket(config, corpus, lambda split, tokens: evaluate(
        params, tokens, batch_size=config.eval_batch_size, bptt=config.bptt, progress=progress,
        desc=f"evaluate {split}", reference=config.reference))


def _by_bucket(config, corpus, score):
    """{split: perplexity_by_bucket of score(split, tokens) = (nll, targets)} for valid, test."""
    buckets = frequency_buckets(config.buckets)
    results = {}
    for split in ("valid", "test"):
        nll, targets = score(split, eval_tokens(corpus, split, config.eval_tokens))
        results[split] = perplexity_by_bucket(nll, targets, corpus.train_counts,
                                              corpus.word_to_id["<unk>"], buckets)
    return results


def evaluate_cache(config, corpus, params):
    """docs/MATH.md §6.4: choose (W, θ_c, λ_c) on the validation split, then report validation
    and test perplexity by bucket with the cache at the chosen values."""
    from hebbref.cache import evaluate_with_cache, grid_search

    walk_args = dict(batch_size=config.eval_batch_size, bptt=config.bptt,
                     reference=config.reference)
    chosen = grid_search(params, eval_tokens(corpus, "valid", config.eval_tokens), **walk_args)
    point = {k: chosen[k] for k in ("window", "theta_c", "lambda_c")}
    score = lambda _, tokens: evaluate_with_cache(params, tokens, **point, **walk_args)
    return {"chosen": point, "grid": chosen["grid"], **_by_bucket(config, corpus, score)}


def run(config=None, *, resume=None, progress=True):
    """Train (or resume) and evaluate one model; write results to config.out if set.
    resume: a checkpoint to continue in its folder (unless config.out names another); `config`
    may change only RESUME_MAY_CHANGE (else a ValueError naming the option). Returns the config,
    corpus sizes, learning curve, bucket perplexities, throughput, a run record and the status:
    "done", or "interrupted" with the stop signal's name under "signal"."""
    state = None
    if resume is not None:
        saved, state = load_state(resume)
        config = resumed_config(saved, config, os.path.dirname(os.path.abspath(resume)))
    config = (config or LMConfig()).validate()
    if config.out:  # before any work: a bad or busy --out should not cost a training run
        check_writable_folder(config.out)
    try:
        return _run(config, state, resume, progress)
    finally:
        if config.out:
            release_folder(config.out)


def _run(config, state, resume, progress):
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    if resume is None:
        state = init_state(config, len(corpus.vocab))
        state.corpus = corpus_identity(corpus)
    else:
        segments = num_segments(batchify(corpus.train, config.batch_size), config.bptt)
        check_resumable(state, corpus, segments, resume)
    checkpoint_path = os.path.join(config.out, "checkpoint.npz") if config.out else None
    start_step, start_time = state.step, time.perf_counter()
    # Signals after the first (caught inside train) are noted and ignored until the checkpoint
    # and results are written: a second Ctrl-C must not lose them.
    with StopSignals() as late:
        stopped_by = train(config, corpus, state, checkpoint_path=checkpoint_path,
                           progress=progress)
        if stopped_by == "done" and late.received:
            stopped_by = signal.Signals(late.received).name
        seconds = time.perf_counter() - start_time
        results = {"config": dataclasses.asdict(config),
                   "status": "done" if stopped_by == "done" else "interrupted",
                   "corpus": {"source": corpus.source, "vocab_size": len(corpus.vocab),
                              **{f"{split}_tokens": int(getattr(corpus, split).size)
                                 for split in ("train", "valid", "test")}},
                   "steps": state.step, "curve": state.curve, "record": run_record(),
                   "tokens_per_second": (state.step - start_step) * config.batch_size
                                        * config.bptt / max(seconds, 1e-9)}
        if stopped_by != "done":
            results["signal"] = stopped_by
        if config.out and stopped_by != "done":
            write_outputs(config, results)
    if stopped_by == "done":
        results.update(evaluate_buckets(config, corpus, state.params, progress=progress))
        if config.cache:
            results["cache"] = evaluate_cache(config, corpus, state.params)
        if config.mbpa:
            from hebbref.mbpa import evaluate_mbpa
            results["mbpa"] = evaluate_mbpa(config, corpus, state.params, with_cache=config.cache)
        if config.out:
            write_outputs(config, results)
    results["_state"] = state
    return results


def write_outputs(config, results):
    """results.json, and after a finished run the learning-curve and bucket plots."""
    write_results(os.path.join(config.out, "results.json"), results)
    if results["status"] == "done":
        from hebbref.plots import plot_lm_buckets, plot_lm_curves

        name = "hebbian" if config.hebbian else "baseline"
        plot_lm_curves({name: [results]}, os.path.join(config.out, "learning_curve.png"))
        plot_lm_buckets({name: [results], **({f"{name} + cache": [results["cache"]]}
                                             if config.cache else {})},
                        os.path.join(config.out, "buckets.png"))

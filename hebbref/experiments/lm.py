"""Reproduction 2: word-level LSTM language model, perplexity by word frequency (METHOD §6).

`run(config) -> results` trains one model (plain or Hebbian softmax), evaluates validation and
test perplexity overall and per training-frequency bucket, and writes results JSON, plots and a
checkpoint to config.out. Training resumes exactly from a checkpoint (`resume=`): parameters,
optimiser state, Hebbian counts, the carried LSTM state, the dropout RNG, the data position and
the step are all saved.
"""
import dataclasses
import json
import math
import os
import signal
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from hebbref.checkpoint import atomic_write, load_checkpoint, rng_from_state, rng_state, save_checkpoint
from hebbref.data.text import batchify, load_corpus
from hebbref.hebbian import HebbianSoftmax
from hebbref.metrics import frequency_buckets, perplexity_by_bucket
from hebbref.models.lm import lm_forward, lm_init, lm_initial_state, lm_loss
from hebbref.nn.softmax import nll_per_target
from hebbref.train import train_step
from hebbref.validate import check_int, check_number


@dataclass
class LMConfig:
    """Everything that determines a run. Defaults: the validation-size model on BBC News."""

    corpus: str = "bbc"
    min_count: int = 2
    hebbian: bool = True
    gamma: float = 0.01      # γ and T chosen on BBC validation perplexity (validation/README.md)
    T: float = 100.0
    lam_rule: str = "paper"
    write_scale: str = "none"  # METHOD §2 option; "row_norm" rescales each h_t to ‖θ'[y_t]‖
    embed_size: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.0
    batch_size: int = 32
    bptt: int = 35
    epochs: int = 1
    optimizer: str = "sgd"   # with Adam (lr 2e-3) the bias learns word frequencies too slowly
    lr: float = 20.0         # and the Hebbian rows swamp the logits early on (see validation/)
    clip: float = 0.25
    seed: int = 0
    dtype: str = "float32"
    buckets: str = "default"
    max_steps: int | None = None       # stop after this many training steps (None: all epochs)
    eval_batch_size: int = 10
    eval_tokens: int | None = None     # evaluate on the first this-many tokens of each split
    curve_every: int = 100             # validation perplexity for the learning curve, in steps
    curve_tokens: int = 20000          # ... on the first this-many validation tokens
    checkpoint_every: int = 200
    cache: bool = False                # also evaluate with a neural cache (METHOD §7)
    out: str | None = None

    def validate(self):
        check_number(self.gamma, "gamma", low=0.0, high=1.0)
        check_number(self.T, "T", low=0.0, allow_inf=True)
        check_number(self.dropout, "dropout", low=0.0, high=0.99)
        check_number(self.lr, "lr", low=0.0)
        for name in ("embed_size", "hidden", "layers", "batch_size", "bptt", "epochs",
                     "eval_batch_size", "curve_every", "checkpoint_every", "min_count"):
            check_int(getattr(self, name), name, 1)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        return self


def quick_config(**overrides):
    """`hebbref lm --quick`: a small model on part of the corpus, a few minutes on 2 cores."""
    settings = dict(embed_size=64, hidden=64, batch_size=20, bptt=20, max_steps=400,
                    eval_tokens=20000, curve_every=100, curve_tokens=5000, checkpoint_every=100)
    settings.update(overrides)
    return LMConfig(**settings)


@dataclass
class TrainState:
    """Everything that changes during training; saved whole in checkpoints."""

    params: dict
    opt_state: dict
    hebbian: HebbianSoftmax | None
    lstm_state: list
    rng: np.random.Generator
    epoch: int = 0
    position: int = 0          # index of the next BPTT segment within the epoch
    step: int = 0
    curve: list = dataclasses.field(default_factory=list)   # [(step, tokens, valid ppl)]


def init_state(config, vocab_size):
    rng = np.random.default_rng(config.seed)
    params = lm_init(vocab_size, config.embed_size, config.hidden, rng, num_layers=config.layers,
                     dtype=np.dtype(config.dtype))
    hebbian = (HebbianSoftmax(vocab_size, gamma=config.gamma, T=config.T,
                              lam_rule=config.lam_rule, write_scale=config.write_scale)
               if config.hebbian else None)
    return TrainState(params, {}, hebbian, lm_initial_state(params, config.batch_size),
                      np.random.default_rng([config.seed, 1]))


def save_state(path, config, state):
    groups = {"params": state.params, "optimizer": state.opt_state,
              "lstm_state": {f"{k}{layer}": a for layer, pair in enumerate(state.lstm_state)
                             for k, a in zip("hc", pair)}}
    if state.hebbian is not None:
        groups["hebbian"] = {"counts": state.hebbian.counts}
    meta = {"kind": "lm", "config": dataclasses.asdict(config), "rng": rng_state(state.rng),
            "epoch": state.epoch, "position": state.position, "step": state.step,
            "curve": state.curve}
    save_checkpoint(path, groups, meta)


def load_state(path):
    """(config, TrainState) from a checkpoint written by save_state."""
    groups, meta = load_checkpoint(path)
    if meta.get("kind") != "lm":
        raise ValueError(f"checkpoint {os.fspath(path)!r} is not a language-model checkpoint")
    config = LMConfig(**meta["config"])
    lstm = groups["lstm_state"]
    hebbian = None
    if config.hebbian:
        counts = groups["hebbian"]["counts"]
        hebbian = HebbianSoftmax(counts.shape[0], gamma=config.gamma, T=config.T,
                                 lam_rule=config.lam_rule, write_scale=config.write_scale,
                                 counts=counts)
    state = TrainState(
        params=groups["params"], opt_state=groups.get("optimizer", {}), hebbian=hebbian,
        lstm_state=[(lstm[f"h{i}"], lstm[f"c{i}"]) for i in range(len(lstm) // 2)],
        rng=rng_from_state(meta["rng"]), epoch=meta["epoch"], position=meta["position"],
        step=meta["step"], curve=[tuple(p) for p in meta["curve"]])
    return config, state


def evaluate(params, tokens, *, batch_size, bptt, progress=False, desc="evaluate"):
    """NLL of every target of a token stream, state carried across segments (no dropout).

    tokens: (M,) -> (nll (K,), targets (K,)), K = targets covered after batchify.
    progress: show a bar (only on a terminal).
    """
    data = batchify(tokens, batch_size)
    state = lm_initial_state(params, data.shape[1])
    nll, targets = [], []
    starts = range(0, data.shape[0] - 1, bptt)
    for start in tqdm(starts, desc=desc, unit="segment", leave=False,
                      disable=None if progress else True):
        x = data[start:start + bptt]
        y = data[start + 1:start + 1 + x.shape[0]]
        x = x[:y.shape[0]]
        z, _, state, _ = lm_forward(params, x, state)
        nll.append(nll_per_target(z, y.reshape(-1)))
        targets.append(y.reshape(-1))
    return np.concatenate(nll).astype(np.float64), np.concatenate(targets)


def _segments_per_epoch(data, bptt):
    return math.ceil((data.shape[0] - 1) / bptt)


class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between steps, so the step in flight completes
    and a consistent checkpoint can be written."""

    def __enter__(self):
        self.requested = False
        self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


def train(config, corpus, state, *, checkpoint_path=None, progress=True):
    """Train until config.epochs are done or config.max_steps steps have run. Returns
    "done" or "interrupted" (Ctrl-C: the checkpoint is written before returning)."""
    data = batchify(corpus.train, config.batch_size)
    per_epoch = _segments_per_epoch(data, config.bptt)
    total = per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    curve_valid = corpus.valid[:config.curve_tokens + 1]
    bar = tqdm(total=total, initial=state.step, disable=None if progress else True,
               desc="hebbian" if config.hebbian else "baseline", unit="step")
    loss_sum, loss_n, tick, tokens_since = 0.0, 0, time.perf_counter(), 0
    with _Interrupt() as interrupt:
        while state.step < total:
            if state.position == per_epoch:
                state.epoch, state.position = state.epoch + 1, 0
                state.lstm_state = lm_initial_state(state.params, config.batch_size)
            start = state.position * config.bptt
            x = data[start:start + config.bptt]
            y = data[start + 1:start + 1 + x.shape[0]]
            x = x[:y.shape[0]]
            loss, grads, h, new_lstm_state = lm_loss(state.params, x, y, state.lstm_state,
                                                     dropout=config.dropout, rng=state.rng)
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite training loss {loss} at step {state.step + 1} (epoch "
                    f"{state.epoch}, segment {state.position}); the last checkpoint is intact")
            train_step(state.params, grads, state.opt_state, h, y.reshape(-1),
                       optimizer=config.optimizer, lr=config.lr, clip=config.clip,
                       hebbian=state.hebbian)
            state.lstm_state = new_lstm_state
            state.position += 1
            state.step += 1
            loss_sum, loss_n, tokens_since = loss_sum + loss, loss_n + 1, tokens_since + y.size
            if state.step % config.curve_every == 0:
                nll, _ = evaluate(state.params, curve_valid, batch_size=config.eval_batch_size,
                                  bptt=config.bptt)
                tokens_seen = state.step * config.batch_size * config.bptt
                state.curve.append((state.step, tokens_seen, float(np.exp(nll.mean()))))
            if checkpoint_path and (state.step % config.checkpoint_every == 0 or interrupt.requested):
                save_state(checkpoint_path, config, state)
            now = time.perf_counter()
            if now - tick > 1.0:
                bar.set_postfix(tok_s=f"{tokens_since / (now - tick):.0f}",
                                ppl=f"{math.exp(loss_sum / loss_n):.1f}")
                loss_sum, loss_n, tick, tokens_since = 0.0, 0, now, 0
            bar.update(1)
            if interrupt.requested:
                bar.close()
                return "interrupted"
    bar.close()
    if checkpoint_path:
        save_state(checkpoint_path, config, state)
    return "done"


def evaluate_buckets(config, corpus, params, progress=False):
    """Validation and test perplexity, overall and per training-frequency bucket (METHOD §6)."""
    buckets = frequency_buckets(config.buckets)
    results = {}
    for split in ("valid", "test"):
        tokens = getattr(corpus, split)
        if config.eval_tokens is not None:
            tokens = tokens[:config.eval_tokens + 1]
        nll, targets = evaluate(params, tokens, batch_size=config.eval_batch_size,
                                bptt=config.bptt, progress=progress, desc=f"evaluate {split}")
        results[split] = perplexity_by_bucket(nll, targets, corpus.train_counts,
                                              corpus.word_to_id["<unk>"], buckets)
    return results


def evaluate_cache(config, corpus, params):
    """METHOD §7: choose (W, θ_c, λ_c) on the validation split, then report validation and test
    perplexity by bucket with the cache at the chosen values."""
    from hebbref.cache import evaluate_with_cache, grid_search

    def split_tokens(split):
        tokens = getattr(corpus, split)
        return tokens if config.eval_tokens is None else tokens[:config.eval_tokens + 1]

    chosen = grid_search(params, split_tokens("valid"), batch_size=config.eval_batch_size,
                         bptt=config.bptt)
    results = {"chosen": {k: chosen[k] for k in ("window", "theta_c", "lambda_c")},
               "grid": chosen["grid"]}
    buckets = frequency_buckets(config.buckets)
    for split in ("valid", "test"):
        nll, targets = evaluate_with_cache(params, split_tokens(split),
                                           batch_size=config.eval_batch_size, bptt=config.bptt,
                                           **results["chosen"])
        results[split] = perplexity_by_bucket(nll, targets, corpus.train_counts,
                                              corpus.word_to_id["<unk>"], buckets)
    return results


def run(config=None, *, resume=None, progress=True):
    """Train (or resume) and evaluate one model; write results to config.out if set.

    Returns a dict with the config, corpus statistics, the learning curve, bucket perplexities,
    training throughput and the status ("done" or "interrupted").
    """
    if resume is not None:
        config_saved, state = load_state(resume)
        if config is not None:  # only the stopping point and output folder may change
            config_saved = dataclasses.replace(config_saved, max_steps=config.max_steps,
                                               out=config.out or config_saved.out)
        config = config_saved
    config = (config or LMConfig()).validate()
    corpus = load_corpus(config.corpus, min_count=config.min_count, seed=config.seed)
    if resume is None:
        state = init_state(config, len(corpus.vocab))
    checkpoint_path = os.path.join(config.out, "checkpoint.npz") if config.out else None
    start_step, start_time = state.step, time.perf_counter()
    status = train(config, corpus, state, checkpoint_path=checkpoint_path, progress=progress)
    seconds = time.perf_counter() - start_time
    results = {
        "config": dataclasses.asdict(config),
        "status": status,
        "corpus": {"source": corpus.source, "vocab_size": len(corpus.vocab),
                   "train_tokens": int(corpus.train.size), "valid_tokens": int(corpus.valid.size),
                   "test_tokens": int(corpus.test.size)},
        "steps": state.step,
        "tokens_per_second": (state.step - start_step) * config.batch_size * config.bptt
                             / max(seconds, 1e-9),
        "curve": state.curve,
    }
    if status == "done":
        results.update(evaluate_buckets(config, corpus, state.params, progress=progress))
        if config.cache:
            results["cache"] = evaluate_cache(config, corpus, state.params)
    if config.out:
        write_json(os.path.join(config.out, "results.json"), results)
        if status == "done":
            from hebbref.plots import plot_lm_buckets, plot_lm_curves

            name = "hebbian" if config.hebbian else "baseline"
            runs = {name: [results]}
            if config.cache:
                runs[f"{name} + cache"] = [results["cache"]]
            plot_lm_curves({name: [results]}, os.path.join(config.out, "learning_curve.png"))
            plot_lm_buckets(runs, os.path.join(config.out, "buckets.png"))
    results["_state"] = state
    return results


def write_json(path, data):
    """Atomic JSON write (numbers only; private keys starting with "_" are left out)."""
    clean = {k: v for k, v in data.items() if not k.startswith("_")}
    atomic_write(path, lambda f: f.write(json.dumps(clean, indent=2, default=float).encode()))

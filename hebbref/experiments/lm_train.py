"""What the language model trains (`LMConfig`), what changes while it trains (`TrainState`) and
one truncated-BPTT step (`lm_train_step`); the loop around it is `hebbref.experiments.lm.train`.
"""
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from hebbref.data.text import absolute_spec
from hebbref.files import check_memory
from hebbref.hebbian import HebbianOptions, HebbianSoftmax
from hebbref.models.lm import (EMBED_INITS, LSTM_BIAS_INITS, SOFTMAX_BIAS_INITS, lm_init,
                               lm_initial_state, lm_loss)
from hebbref.optim import OPTIMIZERS
from hebbref.train import train_step
from hebbref.checks import check_int, check_number

# Each optimiser's own default: Adam and RMSProp at SGD's lr of 20 diverge (perplexity ~10⁴⁷).
DEFAULT_LR = {"sgd": 20.0, "adam": 2e-3, "rmsprop": 2e-3}
LR_SCHEDULES = ("constant", "linear")
BUCKET_CHOICES = ("default", "paper")


@dataclass
class LMConfig(HebbianOptions):
    """Everything that determines a run. Defaults: the validation-size model on BBC News."""

    corpus: str = "bbc"
    min_count: int = 2
    hebbian: bool = True
    # The rule's settings, with lr_schedule below: of the candidates trained at E = H = 128 for
    # one epoch on BBC and Shakespeare, 3 seeds, the one that met the study's goal on both
    # corpora's validation splits (validation/README.md, "Perplexity on news and books"):
    # centred writes (docs/MATH.md §5.2) at half size (§5.7), T = 20, λ = 1/(c + 1), so the row
    # gradient descent trained weighs like one activation (prior_count, §5.7). γ has no effect
    # here: while the rule is on (c < T), λ > γ.
    gamma: float = 0.01
    T: float = 20.0
    lam_rule: str = "paper"
    write_scale: str = "centred"
    write_gain: float = 0.5
    prior_count: float = 1.0
    embed_size: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.0
    batch_size: int = 32
    bptt: int = 35
    epochs: int = 1
    # SGD, clip 0.25 and the torch-style initialisation below: the cell whose Hebbian model was
    # best in validation/README.md, "Reproduction 2", the "Screen" table.
    optimizer: str = "sgd"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    clip: float = 0.25
    # "linear": lr · (1 − s / S) at step s of S (docs/MATH.md §4.6), so the model evaluated is
    # not wherever the last full-size steps put it. Its baselines had the lower validation
    # perplexity on both corpora (validation/README.md, "Perplexity on news and books"). S counts
    # the run's steps: a resume with another --max-steps or --epochs reshapes what is left.
    lr_schedule: str = "linear"
    seed: int = 0
    dtype: str = "float32"
    buckets: str = "default"
    max_steps: int | None = None       # stop after this many training steps (None: all epochs)
    eval_batch_size: int = 10
    eval_tokens: int | None = None     # evaluate on the first this-many tokens of each split
    curve_every: int = 100             # validation perplexity for the learning curve, in steps
    curve_tokens: int = 20000          # ... on the first this-many validation tokens
    checkpoint_every: int = 200
    cache: bool = False                # also evaluate with a neural cache (docs/MATH.md §6.4)
    # models.lm.lm_init's options: the "torch" rows of the "Screen" table
    embed_init: str = "normal"
    softmax_bias_init: str = "uniform"
    lstm_bias_init: str = "torch"
    mbpa: bool = False                 # also evaluate with MbPA, alone and with the cache (§8)
    mbpa_memory: int = 1000            # M: pairs kept per evaluation column
    mbpa_tokens: int | None = 10000    # MbPA rows on the first this-many tokens of each split
    # Every layer, the loss, the optimiser, the rule, the cache and MbPA on their plain twins
    reference: bool = False
    out: str | None = None

    def validate(self):
        """The checked config, with the corpus path made absolute and lr filled in."""
        if not isinstance(self.corpus, str):
            raise TypeError(f"corpus must be a string, got {type(self.corpus).__name__}")
        for name in ("hebbian", "cache", "mbpa", "reference"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        self.hebbian_config()  # the rule's fields, checked where the rule defines them
        for name, choices in (("optimizer", tuple(OPTIMIZERS)),
                              ("dtype", ("float32", "float64")), ("buckets", BUCKET_CHOICES),
                              ("embed_init", EMBED_INITS), ("softmax_bias_init", SOFTMAX_BIAS_INITS),
                              ("lstm_bias_init", LSTM_BIAS_INITS),
                              ("lr_schedule", LR_SCHEDULES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(self, name)!r}")
        lr = DEFAULT_LR[self.optimizer] if self.lr is None else self.lr
        check_number(self.dropout, "dropout", low=0.0, high=0.99)
        check_number(lr, "lr", low=0.0)
        check_number(self.clip, "clip", low=0.0)  # 0: no clipping
        check_int(self.seed, "seed", 0)
        for name in ("embed_size", "hidden", "layers", "batch_size", "bptt", "epochs",
                     "eval_batch_size", "curve_every", "curve_tokens", "checkpoint_every",
                     "min_count", "mbpa_memory"):
            check_int(getattr(self, name), name, 1)
        for name in ("max_steps", "eval_tokens", "mbpa_tokens"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 1)
        for name in ("eval_tokens", "mbpa_tokens", "curve_tokens"):  # batchify needs 2 a column
            if (getattr(self, name) or math.inf) + 1 < 2 * self.eval_batch_size:
                raise ValueError(f"{name}={getattr(self, name)} is too few for eval_batch_size="
                                 f"{self.eval_batch_size}: at least {2 * self.eval_batch_size - 1}")
        E, H, L, T = self.embed_size, self.hidden, self.layers, self.bptt
        weights = 3 * L * 4 * H * (E + H + 1)  # parameters and two optimiser buffers
        caches = T * max(self.batch_size, self.eval_batch_size) * (E + 12 * L * H)
        memory = self.mbpa_memory * self.eval_batch_size * H if self.mbpa else 0
        check_memory((weights + caches + memory) * np.dtype(self.dtype).itemsize,
                     f"hidden={H}, embed_size={E}, layers={L}, batch_size={self.batch_size}, "
                     f"bptt={T}, mbpa_memory={self.mbpa_memory}")
        return dataclasses.replace(self, lr=float(lr), corpus=absolute_spec(self.corpus))


# `hebbref lm --quick`: a small model on part of the corpus, a few minutes on 2 cores.
QUICK_SETTINGS = dict(embed_size=64, hidden=64, batch_size=20, bptt=20, max_steps=400,
                      eval_tokens=20000, curve_every=100, curve_tokens=5000,
                      checkpoint_every=100)


def quick_config(**overrides):
    """The --quick config, with overrides."""
    return LMConfig(**{**QUICK_SETTINGS, **overrides})


@dataclass
class TrainState:
    """Everything that changes during training; saved whole in checkpoints."""

    params: dict
    opt_state: dict
    hebbian_softmax: HebbianSoftmax | None     # None: the plain softmax (config.hebbian False)
    lstm_state: list
    rng: np.random.Generator
    epoch: int = 0
    position: int = 0          # index of the next BPTT segment within the epoch
    step: int = 0
    curve: list = dataclasses.field(default_factory=list)   # [(step, tokens, valid ppl)]
    corpus: dict | None = None  # corpus_identity of the corpus trained on (checked on resume)


def init_state(config, vocab_size):
    rng = np.random.default_rng(config.seed)
    params = lm_init(vocab_size, config.embed_size, config.hidden, rng, num_layers=config.layers,
                     dtype=np.dtype(config.dtype), embed_init=config.embed_init,
                     softmax_bias_init=config.softmax_bias_init,
                     lstm_bias_init=config.lstm_bias_init)
    hebbian_softmax = (HebbianSoftmax.from_config(config.hebbian_config(), vocab_size)
                       if config.hebbian else None)
    return TrainState(params, {}, hebbian_softmax, lm_initial_state(params, config.batch_size),
                      np.random.default_rng([config.seed, 1]))


def scheduled_lr(config, step, total):
    """The learning rate of training step `step` (0-based) of `total`: config.lr throughout
    ("constant"), or falling linearly from config.lr towards 0 ("linear")."""
    if config.lr_schedule == "linear":
        return config.lr * (1.0 - step / total)
    return config.lr


def lm_train_step(state, x, y, config, lr=None):
    """One truncated-BPTT step in docs/MATH.md §5 order, updating state in place. x, y: (T, N)
    token ids, y[t] the token after x[t]; lr: this step's (None: config.lr). Returns the
    segment's mean NLL; raises FloatingPointError on a non-finite loss, before anything is
    changed."""
    loss, grads, h, lstm_state = lm_loss(  # docs/MATH.md §2.9, §3
        state.params, x, y, state.lstm_state, dropout=config.dropout, rng=state.rng,
        reference=config.reference)
    if not np.isfinite(loss):
        raise FloatingPointError(
            f"non-finite training loss {loss} at step {state.step + 1} (epoch {state.epoch}, "
            f"segment {state.position}); the last checkpoint is intact")
    train_step(state.params, grads, state.opt_state, h, np.asarray(y).reshape(-1),  # θ' → θ, §2
               optimizer=config.optimizer, lr=config.lr if lr is None else lr, clip=config.clip or None,
               hebbian_softmax=state.hebbian_softmax, reference=config.reference)
    state.lstm_state = lstm_state
    return loss

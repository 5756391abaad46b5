"""Language-model checkpoints: save the whole TrainState, load it back as untrusted input.

A checkpoint may be corrupt, hand-edited or written for another corpus, so every field is
checked before training continues from it: the config like any config (every option present),
scalars for type and range, every array for its name, shape and dtype against the config before
any is read, every float array for finiteness (and second moments for sign), the Hebbian counts
for range, the RNG for being hebbref's PCG64, and the corpus against the identity recorded when
the run started. Only state hebbref writes is read, so a resumed run can always be saved again."""
import dataclasses
import os

import numpy as np

from hebbref.checkpoint import load_checkpoint, rng_from_state, rng_state, save_checkpoint
from hebbref.data.text import corpus_identity
from hebbref.experiments.lm_train import LMConfig, TrainState
from hebbref.hebbian import HebbianSoftmax
from hebbref.checks import check_int

# Options a resumed run may change: where it stops, how it is evaluated, and which of two equal
# paths computes it (reference). Any other option would make the resumed run a different
# experiment from the one the checkpoint holds.
RESUME_MAY_CHANGE = ("max_steps", "epochs", "checkpoint_every", "eval_batch_size",
                     "eval_tokens", "buckets", "cache", "reference", "out")
# Options added after checkpoints were first written, with the value every run before them used
# (not today's default): a checkpoint without lr_schedule trained at a constant lr, one without
# prior_count at the paper's λ = 1/c.
ADDED_LATER = {"lr_schedule": "constant", "prior_count": 0.0}
MAX_COUNT = 2**62  # Hebbian counts above this could wrap int64 within one batch
BUFFERS = {"adam": ("m", "v"), "rmsprop": ("v",), "sgd": ()}  # hebbref.optim's, per parameter


def save_state(path, config, state):
    groups = {"params": state.params, "optimizer": state.opt_state,
              "lstm_state": {f"{k}{layer}": a for layer, pair in enumerate(state.lstm_state)
                             for k, a in zip("hc", pair)}}
    if state.hebbian_softmax is not None:
        groups["hebbian"] = {"counts": state.hebbian_softmax.counts}
    meta = {"kind": "lm", "config": dataclasses.asdict(config), "rng": rng_state(state.rng),
            "epoch": state.epoch, "position": state.position, "step": state.step,
            "curve": state.curve, "corpus": state.corpus}
    save_checkpoint(path, groups, meta)


def load_state(path):
    """(config, TrainState) from a checkpoint written by save_state, every field checked (the
    arrays' shapes and dtypes before any is read). FileNotFoundError for a missing file,
    ValueError naming the checkpoint and the field for anything malformed or inconsistent."""
    groups, meta = load_checkpoint(path, expect=_check_layout)
    try:
        return _state_from(groups, meta)
    except (ValueError, TypeError, KeyError) as error:
        what = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"checkpoint {os.fspath(path)!r} is not a valid language-model "
                         f"checkpoint: {what}") from None


def _config(meta):
    if meta.get("kind") != "lm":
        raise ValueError(f"its metadata's kind is {meta.get('kind')!r}, not 'lm' (a language-"
                         f"model checkpoint)")
    if not isinstance(meta.get("config"), dict):
        raise TypeError("config must be a dict")
    config = {**ADDED_LATER, **meta["config"]}
    missing = sorted({f.name for f in dataclasses.fields(LMConfig)} - set(config))
    if missing:  # a default filled in would be a silent change of the run
        raise ValueError(f"config lacks {missing}")
    return LMConfig(**config).validate()


def _check_layout(meta, headers):
    """Raise unless `headers` ({key: (shape, dtype)}, read before any array) are exactly the
    arrays a checkpoint of meta's config holds."""
    config, corpus = _config(meta), meta.get("corpus")
    if not (isinstance(corpus, dict) and isinstance(corpus.get("sha256"), dict)):
        raise ValueError("corpus must record vocab_size and the sha256 of each split")
    vocab_size = check_int(corpus.get("vocab_size"), "corpus vocab_size", 2)
    if 5 * config.layers > len(headers):  # before listing the names of 10⁶ layers
        raise ValueError(f"the config's layers={config.layers} need more than "
                         f"{5 * config.layers} arrays, the file holds {len(headers)}")
    dtype, count = np.dtype(config.dtype), np.dtype(np.int64)
    V, E, H = vocab_size, config.embed_size, config.hidden
    params = {"embed.E": (V, E), "softmax.theta": (V, H), "softmax.b": (V,)}
    for layer in range(1, config.layers + 1):
        params.update({f"lstm{layer}.Wx": (E if layer == 1 else H, 4 * H),
                       f"lstm{layer}.Wh": (H, 4 * H), f"lstm{layer}.b": (4 * H,)})
    layout = {f"params/{name}": (shape, dtype) for name, shape in params.items()}
    layout.update({f"optimizer/{buffer}/{name}": (shape, dtype) for name, shape in params.items()
                   for buffer in BUFFERS[config.optimizer]})
    layout.update({f"optimizer/step/{name}": ((), count) for name in params})
    layout.update({f"lstm_state/{k}{i}": ((config.batch_size, config.hidden), dtype)
                   for i in range(config.layers) for k in "hc"})
    if config.hebbian:
        layout["hebbian/counts"] = ((vocab_size,), count)
    shaping = ("embed_size", "hidden", "layers", "batch_size", "dtype", "optimizer", "hebbian")
    origin = (f"(as set by the config's {', '.join(f'{n}={getattr(config, n)}' for n in shaping)}"
              f" and the corpus's vocab_size={vocab_size})")
    for key in sorted(set(layout) | set(headers)):
        if key not in headers or key not in layout:
            raise ValueError(f"{key} is {'missing' if key in layout else 'not expected'} "
                             f"{origin}")
        if headers[key] != layout[key]:
            raise ValueError(f"{key} must be {layout[key][1]} of shape {layout[key][0]} "
                             f"{origin}, got {headers[key][1]} of shape {headers[key][0]}")


def _state_from(groups, meta):
    config = _config(meta)
    step = check_int(meta["step"], "step", 0)
    for group in ("params", "optimizer", "lstm_state"):
        for name, value in groups.get(group, {}).items():
            if name.startswith("step/"):
                if value != step:
                    raise ValueError(f"optimizer/{name} is {value}, the checkpoint's step {step}")
            elif not np.isfinite(value).all() or (name.startswith("v/") and value.min() < 0):
                raise ValueError(f"{group}/{name} holds NaN, Inf"
                                 + (" or a negative value" if name.startswith("v/") else ""))
    lstm = groups["lstm_state"]
    curve = meta["curve"]
    if not isinstance(curve, list) or not all(_curve_point(p) for p in curve):
        raise ValueError("curve must be a list of [step, tokens, perplexity]")
    hebbian = groups.get("hebbian")
    if hebbian is not None:
        counts = hebbian["counts"]
        if counts.min() < 1 or counts.max() > MAX_COUNT:
            raise ValueError(f"hebbian/counts must lie in [1, 2**62], got [{counts.min()}, "
                             f"{counts.max()}]")
        hebbian = HebbianSoftmax.from_config(config.hebbian_config(), counts.size, counts=counts)
    state = TrainState(
        params=groups["params"], opt_state=groups.get("optimizer", {}), hebbian_softmax=hebbian,
        lstm_state=[(lstm[f"h{i}"], lstm[f"c{i}"]) for i in range(config.layers)],
        rng=rng_from_state(meta["rng"]), epoch=check_int(meta["epoch"], "epoch", 0),
        position=check_int(meta["position"], "position", 0), step=step,
        curve=[tuple(p) for p in curve], corpus=meta["corpus"])
    return config, state


def _curve_point(point):
    return (isinstance(point, list) and len(point) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in point[:2])
            and isinstance(point[2], (int, float)) and not isinstance(point[2], bool))


def resumed_config(saved, given, folder):
    """The config a resume continues with: the saved one, with only RESUME_MAY_CHANGE taken
    from `given` (an LMConfig or None). Any other difference is a ValueError naming the option;
    the run continues in the checkpoint's folder unless `given.out` names another."""
    config = dataclasses.replace(saved, out=folder)
    if given is None:
        return config
    given = given.validate()
    for field in dataclasses.fields(LMConfig):
        value, kept = getattr(given, field.name), getattr(saved, field.name)
        if field.name not in RESUME_MAY_CHANGE and value != kept:
            raise ValueError(f"{field.name}={value!r} contradicts the checkpoint, which was "
                             f"trained with {field.name}={kept!r}; leave it out to resume")
    changes = {name: getattr(given, name) for name in RESUME_MAY_CHANGE}
    changes["out"] = given.out or folder
    return dataclasses.replace(config, **changes)


def check_resumable(state, corpus, segments_per_epoch, path):
    """Raise ValueError unless `state` can continue on `corpus`: the same corpus as when it was
    saved, and a step, epoch and segment position consistent with each other."""
    where, now = f"checkpoint {os.fspath(path)!r}", corpus_identity(corpus)
    if state.corpus != now:
        changed = [name for name in ("vocab_sha256", "vocab_size", "tokens", "sha256")
                   if state.corpus.get(name) != now[name]]
        raise ValueError(f"{where} was trained on a different corpus: its {', '.join(changed)} "
                         f"differ from this corpus's")
    if (state.position > segments_per_epoch
            or state.step != state.epoch * segments_per_epoch + state.position):
        raise ValueError(f"{where} holds step {state.step}, epoch {state.epoch} and position "
                         f"{state.position}, inconsistent with {segments_per_epoch} segments "
                         f"per epoch (step = epoch · segments + position)")

"""Language-model checkpoints: save the whole TrainState, load it back as untrusted input.

A checkpoint may be corrupt, hand-edited or written for another corpus, so every field is
checked before training continues from it: the config like any config, scalars for type and
range, every array for its name, shape and dtype against the config, the Hebbian counts for
range, and the corpus against the identity recorded when the run started.
"""
import dataclasses
import os
import warnings

import numpy as np

from hebbref.checkpoint import load_checkpoint, rng_from_state, rng_state, save_checkpoint
from hebbref.data.text import corpus_identity
from hebbref.experiments.lm_train import LMConfig, TrainState
from hebbref.hebbian import HebbianSoftmax
from hebbref.validate import check_int

# Options a resumed run may change: where it stops, how it is evaluated, and which of two equal
# paths computes it (reference). Any other option would make the resumed run a different
# experiment from the one the checkpoint holds.
RESUME_MAY_CHANGE = ("max_steps", "epochs", "checkpoint_every", "eval_batch_size",
                     "eval_tokens", "buckets", "cache", "reference", "out")
MAX_COUNT = 2**62  # Hebbian counts above this could wrap int64 within one batch


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
    """(config, TrainState) from a checkpoint written by save_state, every field checked.

    Raises FileNotFoundError for a missing file, ValueError naming the checkpoint and the field
    for anything malformed or inconsistent."""
    groups, meta = load_checkpoint(path)
    try:
        return _state_from(groups, meta)
    except (ValueError, TypeError, KeyError) as error:
        what = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"checkpoint {os.fspath(path)!r} is not a valid language-model "
                         f"checkpoint: {what}") from None


def _state_from(groups, meta):
    if meta.get("kind") != "lm":
        raise ValueError("it is not a language-model checkpoint")
    if not isinstance(meta["config"], dict):
        raise TypeError("config must be a dict")
    config = LMConfig(**meta["config"]).validate()
    params = groups["params"]
    _check_arrays("params", params, _param_shapes(config, _vocab_size(meta, params)),
                  config.dtype)
    _check_optimizer(groups.get("optimizer", {}), params)
    lstm = groups["lstm_state"]
    shape = (config.batch_size, config.hidden)
    _check_arrays("lstm_state", lstm, {f"{k}{i}": shape for i in range(config.layers)
                                       for k in "hc"}, config.dtype)
    hebbian = _hebbian(config, groups.get("hebbian"), params["softmax.theta"].shape[0])
    curve = meta["curve"]
    if not isinstance(curve, list) or not all(_curve_point(p) for p in curve):
        raise ValueError("curve must be a list of [step, tokens, perplexity]")
    state = TrainState(
        params=params, opt_state=groups.get("optimizer", {}), hebbian_softmax=hebbian,
        lstm_state=[(lstm[f"h{i}"], lstm[f"c{i}"]) for i in range(config.layers)],
        rng=rng_from_state(meta["rng"]), epoch=check_int(meta["epoch"], "epoch", 0),
        position=check_int(meta["position"], "position", 0),
        step=check_int(meta["step"], "step", 0), curve=[tuple(p) for p in curve],
        corpus=meta.get("corpus"))
    return config, state


def _vocab_size(meta, params):
    """V from the recorded corpus identity; checkpoints of older versions have none, and then
    the embedding's rows give V (every other array is checked against it)."""
    corpus = meta.get("corpus")
    if corpus is None:
        embed = params.get("embed.E")
        return embed.shape[0] if isinstance(embed, np.ndarray) and embed.ndim == 2 else 0
    if not (isinstance(corpus, dict) and isinstance(corpus.get("vocab_sha256"), str)
            and isinstance(corpus.get("tokens"), dict)):
        raise ValueError("corpus must record vocab_sha256, vocab_size and tokens")
    return corpus.get("vocab_size")


def _param_shapes(config, vocab_size):
    V, E, H = check_int(vocab_size, "corpus vocab_size", 2), config.embed_size, config.hidden
    shapes = {"embed.E": (V, E), "softmax.theta": (V, H), "softmax.b": (V,)}
    for layer in range(1, config.layers + 1):
        shapes.update({f"lstm{layer}.Wx": (E if layer == 1 else H, 4 * H),
                       f"lstm{layer}.Wh": (H, 4 * H), f"lstm{layer}.b": (4 * H,)})
    return shapes


def _check_arrays(group, arrays, shapes, dtype):
    if sorted(arrays) != sorted(shapes):
        raise ValueError(f"{group} holds {sorted(arrays)}, the config needs {sorted(shapes)}")
    for name, shape in shapes.items():
        value = arrays[name]
        if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype != dtype:
            raise ValueError(f"{group}/{name} must be {dtype} of shape {shape}, got "
                             f"{getattr(value, 'dtype', type(value).__name__)} "
                             f"{getattr(value, 'shape', '')}")
        if not np.isfinite(value).all():
            raise ValueError(f"{group}/{name} holds NaN or Inf")


def _check_optimizer(opt_state, params):
    for key, value in opt_state.items():
        kind, _, name = key.partition("/")
        if name not in params:
            raise ValueError(f"optimizer/{key} belongs to no parameter")
        if kind == "step":
            check_int(value, f"optimizer/{key}", 0)
        elif not (isinstance(value, np.ndarray) and value.shape == params[name].shape
                  and value.dtype == params[name].dtype):
            raise ValueError(f"optimizer/{key} must match params/{name} in shape and dtype")


def _hebbian(config, group, vocab_size):
    if not config.hebbian:
        if group is not None:
            raise ValueError("hebbian counts are saved but the config has hebbian=False")
        return None
    counts = group["counts"]
    if not (isinstance(counts, np.ndarray) and counts.shape == (vocab_size,)
            and counts.dtype == np.int64):
        raise ValueError(f"hebbian/counts must be int64 of shape ({vocab_size},)")
    if counts.min() < 1 or counts.max() > MAX_COUNT:
        raise ValueError(f"hebbian/counts must lie in [1, 2**62], got [{counts.min()}, "
                         f"{counts.max()}]")
    return HebbianSoftmax.from_config(config.hebbian_config(), vocab_size, counts=counts)


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
    where = f"checkpoint {os.fspath(path)!r}"
    if state.corpus is None:
        warnings.warn(f"{where} records no corpus identity (an older hebbref); the corpus "
                      f"cannot be checked", stacklevel=3)
    elif state.corpus != corpus_identity(corpus):
        now = corpus_identity(corpus)
        changed = [f"{key} {state.corpus.get(key)} -> {now[key]}"
                   for key in ("vocab_size", "tokens") if state.corpus.get(key) != now[key]]
        raise ValueError(f"{where} was trained on a different corpus: "
                         f"{'; '.join(changed) or 'same sizes, other words'}")
    if (state.position > segments_per_epoch
            or state.step != state.epoch * segments_per_epoch + state.position):
        raise ValueError(f"{where} holds step {state.step}, epoch {state.epoch} and position "
                         f"{state.position}, inconsistent with {segments_per_epoch} segments "
                         f"per epoch (step = epoch · segments + position)")

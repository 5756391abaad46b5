"""Word-level language model: embedding → LSTM (1 or more layers) → softmax (docs/MATH.md §2.9).
`state` is a list of (h, c) per layer, carried between segments as plain arrays (no gradient
flows back). The activations entering the softmax, after dropout, are returned as (T·N, H): the
Hebbian rule uses exactly these.
"""
import numpy as np

from hebbref.models import prefixed, sub
from hebbref.nn.dropout import dropout_backward, dropout_forward
from hebbref.nn.embedding import embedding_backward, embedding_forward
from hebbref.nn.lstm import (LSTM_BIAS_INITS, lstm_backward, lstm_backward_reference,
                             lstm_forward, lstm_forward_reference, lstm_init)
from hebbref.nn.softmax import (SOFTMAX_BIAS_INITS, linear_cross_entropy,
                                softmax_cross_entropy_reference, softmax_init,
                                softmax_layer_backward, softmax_layer_forward)
from hebbref.checks import check_labels


# Initialisation options (docs/MATH.md §2.9); the second of each is torch's default, so a
# default-initialised PyTorch model can be matched in distribution.
EMBED_INITS = ("uniform", "normal")              # U(−0.1, 0.1) | N(0, 1)


def lm_init(vocab_size, embed_size, hidden_size, rng, *, num_layers=1, forget_bias=1.0,
            dtype=np.float32, embed_init="uniform", softmax_bias_init="zero",
            lstm_bias_init="forget_one"):
    """{"embed.E": (V, E), "lstm1.Wx", "lstm1.Wh", "lstm1.b", ..., "softmax.theta": (V, H),
    "softmax.b": (V,)}, each drawn once, in that order. embed_init "uniform" U(−0.1, 0.1) or
    "normal" N(0, 1); the bias inits are lstm_init's and softmax_init's bias_init."""
    for name, value, choices in (("embed_init", embed_init, EMBED_INITS),
                                 ("lstm_bias_init", lstm_bias_init, LSTM_BIAS_INITS),
                                 ("softmax_bias_init", softmax_bias_init, SOFTMAX_BIAS_INITS)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    shape = (vocab_size, embed_size)
    E = rng.standard_normal(shape) if embed_init == "normal" else rng.uniform(-0.1, 0.1, shape)
    params = {"embed.E": E.astype(dtype)}
    for layer in range(1, num_layers + 1):
        input_size = embed_size if layer == 1 else hidden_size
        params.update(prefixed(f"lstm{layer}", lstm_init(
            input_size, hidden_size, rng, forget_bias=forget_bias, bias_init=lstm_bias_init,
            dtype=dtype)))
    params.update(prefixed("softmax", softmax_init(hidden_size, vocab_size, rng, dtype=dtype,
                                                   bias_init=softmax_bias_init)))
    return params


def num_lstm_layers(params):
    return sum(1 for k in params if k.endswith(".Wh"))


def lm_initial_state(params, batch_size):
    """Zero (h, c) of shape (N, H) for every LSTM layer."""
    H = params["lstm1.Wh"].shape[0]
    dtype = params["lstm1.Wh"].dtype
    return [(np.zeros((batch_size, H), dtype), np.zeros((batch_size, H), dtype))
            for _ in range(num_lstm_layers(params))]


def lm_forward(params, x, state, *, dropout=0.0, rng=None, reference=False):
    """Inputs:  x: (T, N) token ids; state: list of (h0, c0), each (N, H), one per layer;
             dropout and a Generator (rng None: evaluation); reference: the plain twins here
             and in lm_backward.
    Outputs: z: (T·N, V) logits; h: (T·N, H) activations entering the softmax;
             new_state: list of (h_T, c_T); cache for lm_backward.
    """
    h, new_state, cache = _hidden_forward(params, x, state, dropout, rng, reference)
    z, softmax_cache = softmax_layer_forward(h, sub(params, "softmax"))
    return z, h, new_state, (cache, softmax_cache)


def _hidden_forward(params, x, state, dropout, rng, reference=False):
    """Embedding, LSTM layers and dropouts: h (T·N, H) as the softmax sees it, the new state
    and the cache for _hidden_backward, which runs the twins of the forward run here."""
    check_labels(x, "x", params["embed.E"].shape[0])
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T, N), got {x.shape}")
    if len(state) != num_lstm_layers(params):
        raise ValueError(f"state must hold one (h, c) pair per LSTM layer "
                         f"({num_lstm_layers(params)}), got {len(state)}")
    lstm = lstm_forward_reference if reference else lstm_forward
    a, embed_cache = embedding_forward(x, sub(params, "embed"))
    caches, new_state = [], []
    for layer, (h0, c0) in enumerate(state, start=1):
        a, drop_cache = dropout_forward(a, dropout, rng)
        a, lstm_cache = lstm(a, h0, c0, sub(params, f"lstm{layer}"))
        caches.append((drop_cache, lstm_cache))
        new_state.append((lstm_cache["hT"], lstm_cache["cT"]))
    a, out_drop_cache = dropout_forward(a, dropout, rng)
    T, N, H = a.shape
    return (a.reshape(T * N, H), new_state,
            (embed_cache, caches, out_drop_cache, (T, N, H), reference))


def lm_backward(dz, cache):
    """Inputs: dz: (T·N, V); cache from lm_forward. Outputs: grads keyed as params
    ("embed.E" is a SparseRows over the touched rows only). Runs the plain twins if the
    forward did (lm_forward's reference)."""
    hidden_cache, softmax_cache = cache
    dh, softmax_grads = softmax_layer_backward(dz, softmax_cache)
    return _hidden_backward(dh, prefixed("softmax", softmax_grads), hidden_cache)


def _hidden_backward(dh, grads, cache):
    """From dh (T·N, H), the gradient into the softmax's input, down to the embedding; adds
    every layer's gradients to `grads` and returns it."""
    embed_cache, caches, out_drop_cache, shape, reference = cache
    lstm = lstm_backward_reference if reference else lstm_backward
    da = dropout_backward(dh.reshape(shape), out_drop_cache)
    for layer in range(len(caches), 0, -1):
        drop_cache, lstm_cache = caches[layer - 1]
        da, _, _, lstm_grads = lstm(da, lstm_cache)
        grads.update(prefixed(f"lstm{layer}", lstm_grads))
        da = dropout_backward(da, drop_cache)
    grads.update(prefixed("embed", embedding_backward(da, embed_cache, reference=reference)))
    return grads


def lm_loss(params, x, y, state, *, dropout=0.0, rng=None, reference=False):
    """One truncated-BPTT segment. x, y: (T, N) input ids and next-token targets; reference:
    lm_forward → softmax_cross_entropy_reference → lm_backward on the plain twins; else the
    softmax and its loss fused (linear_cross_entropy), without the (T·N, V) logits.
    Returns loss (mean NLL), grads, h: (T·N, H) for the Hebbian rule, new_state (detached).
    """
    V = params["softmax.theta"].shape[0]
    if reference:
        z, h, new_state, cache = lm_forward(params, x, state, dropout=dropout, rng=rng,
                                            reference=True)
        y = check_labels(y, "y", V, shape=x.shape)
        loss, dz = softmax_cross_entropy_reference(z, y.reshape(-1))
        return loss, lm_backward(dz, cache), h, new_state
    h, new_state, cache = _hidden_forward(params, x, state, dropout, rng)
    y = check_labels(y, "y", V, shape=x.shape)
    loss, dh, softmax_grads = linear_cross_entropy(h, sub(params, "softmax"), y.reshape(-1))
    return loss, _hidden_backward(dh, prefixed("softmax", softmax_grads), cache), h, new_state

"""Word-level language model: embedding → LSTM (1 or more layers) → softmax (METHOD §4, §6).

    e_t = E[x_t],   h^1 = lstm_1(dropout(e)), ...,   h = dropout(h^L),   z_t = h_t θᵀ + b

Truncated BPTT: `state` is a list of (h, c) per layer; the returned state is the segment's final
state, plain arrays, so the next segment starts from it with no gradient flowing back.
The activations entering the softmax, after dropout, are returned flattened to (T·N, H): the
Hebbian rule uses exactly these (METHOD §1).
"""
import numpy as np

from hebbref.models import prefixed, sub
from hebbref.nn.dropout import dropout_backward, dropout_forward
from hebbref.nn.embedding import embedding_backward, embedding_forward
from hebbref.nn.lstm import lstm_backward, lstm_forward, lstm_forward_reference, lstm_init
from hebbref.nn.softmax import (linear_cross_entropy, softmax_init, softmax_layer_backward,
                                softmax_layer_forward)
from hebbref.validate import check_labels


# Initialisation options (METHOD §4 leaves them open). The first of each is hebbref's original
# choice; the second is what torch's nn.Embedding / nn.LSTM / nn.Linear draw by default, so a
# PyTorch model with default initialisation can be matched in distribution.
EMBED_INITS = ("uniform", "normal")              # U(−0.1, 0.1) | N(0, 1)
SOFTMAX_BIAS_INITS = ("zero", "uniform")         # 0 | U(−1/√H, 1/√H)
LSTM_BIAS_INITS = ("forget_one", "torch")        # 0 with forget block = forget_bias | see below


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def lm_init(vocab_size, embed_size, hidden_size, rng, *, num_layers=1, forget_bias=1.0,
            dtype=np.float32, embed_init="uniform", softmax_bias_init="zero",
            lstm_bias_init="forget_one"):
    """Parameters {"embed.E": (V, E), "lstm1.Wx", "lstm1.Wh", "lstm1.b", ...,
    "softmax.theta": (V, H), "softmax.b": (V,)}.

    embed_init: "uniform" E ~ U(−0.1, 0.1) | "normal" E ~ N(0, 1) (torch.nn.Embedding).
    softmax_bias_init: "zero" | "uniform" b ~ U(−1/√H, 1/√H) (torch.nn.Linear).
    lstm_bias_init: "forget_one": b = 0 except the forget block = forget_bias |
        "torch": b = b_ih + b_hh with both ~ U(−1/√H, 1/√H), the sum torch.nn.LSTM adds
        (forget_bias is then ignored).
    The defaults draw the same random numbers in the same order as before these options existed;
    the other choices draw their extra numbers after all the defaults' draws.
    """
    _check_choice(embed_init, "embed_init", EMBED_INITS)
    _check_choice(softmax_bias_init, "softmax_bias_init", SOFTMAX_BIAS_INITS)
    _check_choice(lstm_bias_init, "lstm_bias_init", LSTM_BIAS_INITS)
    params = {"embed.E": rng.uniform(-0.1, 0.1, (vocab_size, embed_size)).astype(dtype)}
    for layer in range(1, num_layers + 1):
        input_size = embed_size if layer == 1 else hidden_size
        layer_params = lstm_init(input_size, hidden_size, rng, forget_bias=forget_bias, dtype=dtype)
        params.update(prefixed(f"lstm{layer}", layer_params))
    params.update(prefixed("softmax", softmax_init(hidden_size, vocab_size, rng, dtype=dtype)))
    bound = 1.0 / np.sqrt(hidden_size)
    if embed_init == "normal":
        params["embed.E"] = rng.standard_normal((vocab_size, embed_size)).astype(dtype)
    if lstm_bias_init == "torch":
        for layer in range(1, num_layers + 1):
            pair = rng.uniform(-bound, bound, (2, 4 * hidden_size))
            params[f"lstm{layer}.b"] = pair.sum(axis=0).astype(dtype)
    if softmax_bias_init == "uniform":
        params["softmax.b"] = rng.uniform(-bound, bound, vocab_size).astype(dtype)
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
             dropout probability and a Generator (rng None = evaluation, no dropout);
             reference: run the plain twins (lstm_forward_reference).
    Outputs: z: (T·N, V) logits; h: (T·N, H) activations entering the softmax;
             new_state: list of (h_T, c_T); cache for lm_backward.
    """
    h, new_state, cache = _hidden_forward(params, x, state, dropout, rng, reference)
    z, softmax_cache = softmax_layer_forward(h, sub(params, "softmax"))
    return z, h, new_state, (cache, softmax_cache)


def _hidden_forward(params, x, state, dropout, rng, reference=False):
    """Embedding, LSTM layers and dropouts: h (T·N, H) as the softmax sees it, the new state
    and the cache for _hidden_backward."""
    check_labels(x, "x", params["embed.E"].shape[0])
    if x.ndim != 2:
        raise ValueError(f"x must have shape (T, N), got {x.shape}")
    if len(state) != num_lstm_layers(params):
        raise ValueError(f"state must hold one (h, c) pair per LSTM layer "
                         f"({num_lstm_layers(params)}), got {len(state)}")
    a, embed_cache = embedding_forward(x, sub(params, "embed"))
    caches, new_state = [], []
    for layer, (h0, c0) in enumerate(state, start=1):
        a, drop_cache = dropout_forward(a, dropout, rng)
        forward = lstm_forward_reference if reference else lstm_forward
        a, lstm_cache = forward(a, h0, c0, sub(params, f"lstm{layer}"))
        caches.append((drop_cache, lstm_cache))
        new_state.append((lstm_cache["hT"], lstm_cache["cT"]))
    a, out_drop_cache = dropout_forward(a, dropout, rng)
    T, N, H = a.shape
    return a.reshape(T * N, H), new_state, (embed_cache, caches, out_drop_cache, (T, N, H))


def lm_backward(dz, cache):
    """Inputs: dz: (T·N, V); cache from lm_forward. Outputs: grads keyed as params
    ("embed.E" is a SparseRows over the touched rows only)."""
    hidden_cache, softmax_cache = cache
    dh, softmax_grads = softmax_layer_backward(dz, softmax_cache)
    return _hidden_backward(dh, prefixed("softmax", softmax_grads), hidden_cache)


def _hidden_backward(dh, grads, cache):
    """From dh (T·N, H), the gradient into the softmax's input, down to the embedding; adds
    every layer's gradients to `grads` and returns it."""
    embed_cache, caches, out_drop_cache, shape = cache
    da = dropout_backward(dh.reshape(shape), out_drop_cache)
    for layer in range(len(caches), 0, -1):
        drop_cache, lstm_cache = caches[layer - 1]
        da, _, _, lstm_grads = lstm_backward(da, lstm_cache)
        grads.update(prefixed(f"lstm{layer}", lstm_grads))
        da = dropout_backward(da, drop_cache)
    grads.update(prefixed("embed", embedding_backward(da, embed_cache)))
    return grads


def lm_loss(params, x, y, state, *, dropout=0.0, rng=None):
    """One truncated-BPTT segment.

    Inputs:  x, y: (T, N) input ids and next-token targets; state: list of (h0, c0).
    Outputs: loss (mean NLL over T·N targets); grads; h: (T·N, H) for the Hebbian rule;
             new_state (detached).
    The plain path is lm_forward → softmax_cross_entropy_reference → lm_backward; this runs
    the softmax layer and its loss fused (linear_cross_entropy), without the (T·N, V) logits.
    """
    h, new_state, cache = _hidden_forward(params, x, state, dropout, rng)
    y = check_labels(y, "y", params["softmax.theta"].shape[0], shape=x.shape)
    loss, dh, softmax_grads = linear_cross_entropy(h, sub(params, "softmax"), y.reshape(-1))
    return loss, _hidden_backward(dh, prefixed("softmax", softmax_grads), cache), h, new_state

"""Gradient checks: every analytic backward pass against central finite differences in float64,
each layer's output reduced to f = Σ out ⊙ w (docs/MATH.md §3.4). `hebbref gradcheck` prints
the table and exits non-zero if any error exceeds 1e-6."""
import numpy as np

from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.models.lm import lm_init, lm_initial_state, lm_loss
from hebbref.nn.activations import ACTIVATIONS
from hebbref.nn.dropout import dropout_backward, dropout_forward
from hebbref.nn.embedding import SparseRows, embedding_backward, embedding_forward
from hebbref.nn.linear import linear_backward, linear_forward
from hebbref.nn.lstm import lstm_backward, lstm_forward, lstm_init
from hebbref.nn.mlp import mlp_backward, mlp_forward, mlp_init
from hebbref.nn.softmax import softmax_cross_entropy, softmax_layer_backward, softmax_layer_forward

EPS = 1e-5
THRESHOLD = 1e-6
ROUNDING_FLOOR = 1e-3
# "linear" as an activation is the identity; said in full so it is not read as the dense layer.
ACTIVATION_LABELS = {"linear": "identity (linear)"}


def numerical_gradient(f, x, eps=EPS):
    """Central differences of the scalar f() with respect to every entry of x (modified in place
    and restored). x: any shape, float64 -> gradient of the same shape."""
    grad = np.zeros_like(x)
    flat, grad_flat = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        original = flat[k]
        flat[k] = original + eps
        f_plus = f()
        flat[k] = original - eps
        f_minus = f()
        flat[k] = original
        grad_flat[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(analytic, numeric, floor=0.0):
    """max |a − n| / max(max |a|, max |n|, floor) (floor: see _check); 0.0 when that is zero."""
    analytic = densify(analytic, numeric.shape)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0), floor)
    return 0.0 if scale == 0.0 else float(np.abs(analytic - numeric).max() / scale)


def densify(grad, shape):
    """A SparseRows gradient as a dense array of `shape` (only for checking, never in training)."""
    if isinstance(grad, SparseRows):
        dense = np.zeros(shape)
        dense[grad.ids] = grad.rows
        return dense
    return grad


def _check(layer, arrays, f, analytic):
    """[(layer, name, error)] for each (name, array) against its analytic gradient, the error
    relative to at least ROUNDING_FLOOR·|f|, above a central difference's rounding (§3.4)."""
    floor = ROUNDING_FLOOR * abs(f())
    return [(layer, name, relative_error(analytic[name], numerical_gradient(f, array), floor))
            for name, array in arrays.items()]


def _away_from_zero(rng, shape):
    """Normal draws pushed at least 0.1 from 0, so ReLU's kink is never inside ±ε."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


def _random_biases(params, rng):
    """Non-zero biases: with zero biases a dead ReLU unit feeds a pre-activation of exactly 0
    into the next ReLU, whose kink then lies inside ±ε."""
    for key in params:
        if key.split(".")[-1].startswith("b"):
            params[key] = _away_from_zero(rng, params[key].shape)
    return params


def check_linear(rng, N=3, D=4, M=5):
    params = {"W": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}
    x, w = rng.standard_normal((N, D)), rng.standard_normal((N, M))
    out, cache = linear_forward(x, params)
    dx, grads = linear_backward(w, cache)
    return _check("dense layer", {"x": x, **params},
                  lambda: (linear_forward(x, params)[0] * w).sum(), {"x": dx, **grads})


def check_activations(rng, N=3, D=4):
    rows = []
    for name, (forward, backward) in ACTIVATIONS.items():
        x = _away_from_zero(rng, (N, D))
        w = rng.standard_normal((N, D))
        _, cache = forward(x)
        dx = backward(w, cache)
        rows += _check(f"activation {ACTIVATION_LABELS.get(name, name)}", {"x": x},
                       lambda: (forward(x)[0] * w).sum(), {"x": dx})
    return rows


def check_dropout(rng, N=3, D=4, p=0.5):
    x, w = rng.standard_normal((N, D)), rng.standard_normal((N, D))
    seed = int(rng.integers(2**31))
    f = lambda: (dropout_forward(x, p, np.random.default_rng(seed))[0] * w).sum()  # same mask
    _, mask = dropout_forward(x, p, np.random.default_rng(seed))
    return _check("dropout", {"x": x}, f, {"x": dropout_backward(w, mask)})


def check_embedding(rng, T=3, N=2, V=6, E=4):
    params = {"E": rng.standard_normal((V, E))}
    ids = rng.integers(0, V, (T, N))
    ids[0, 0] = ids[-1, -1]  # at least one repeated id, whose rows must be summed
    w = rng.standard_normal((T, N, E))
    _, cache = embedding_forward(ids, params)
    return _check("embedding", params, lambda: (embedding_forward(ids, params)[0] * w).sum(),
                  embedding_backward(w, cache))


def check_lstm(rng, T=4, N=2, D=3, H=3):
    params = lstm_init(D, H, rng)
    params["b"] = rng.standard_normal(4 * H) * 0.5
    x, h0, c0 = (rng.standard_normal(s) for s in ((T, N, D), (N, H), (N, H)))
    w = rng.standard_normal((T, N, H))
    _, cache = lstm_forward(x, h0, c0, params)
    dx, dh0, dc0, grads = lstm_backward(w, cache)
    f = lambda: (lstm_forward(x, h0, c0, params)[0] * w).sum()
    return _check("lstm", {"x": x, "h0": h0, "c0": c0, **params}, f,
                  {"x": dx, "h0": dh0, "c0": dc0, **grads})


def check_softmax(rng, N=4, H=3, V=5):
    params = {"theta": rng.standard_normal((V, H)), "b": rng.standard_normal(V)}
    h, y = rng.standard_normal((N, H)), rng.integers(0, V, N)
    z, cache = softmax_layer_forward(h, params)
    _, dz = softmax_cross_entropy(z, y)
    dh, grads = softmax_layer_backward(dz, cache)
    f = lambda: softmax_cross_entropy(softmax_layer_forward(h, params)[0], y)[0]
    return (_check("softmax_cross_entropy", {"z": z}, lambda: softmax_cross_entropy(z, y)[0],
                   {"z": dz})
            + _check("softmax_layer", {"h": h, **params}, f, {"h": dh, **grads}))


def check_mlp(rng, N=3, sizes=(4, 5, 3), activation="tanh"):
    params = _random_biases(mlp_init(list(sizes), rng), rng)
    x = _away_from_zero(rng, (N, sizes[0]))
    w = rng.standard_normal((N, sizes[-1]))
    _, cache = mlp_forward(x, params, activation)
    dx, grads = mlp_backward(w, cache)
    return _check(f"mlp[{activation}]", {"x": x, **params},
                  lambda: (mlp_forward(x, params, activation)[0] * w).sum(), {"x": dx, **grads})


def check_classifier(rng, N=5, D=4, hidden=(6, 5), V=4, activation="relu"):
    params = _random_biases(classifier_init(D, list(hidden), V, rng), rng)
    x, y = rng.standard_normal((N, D)), rng.integers(0, V, N)
    _, grads, _ = classifier_loss(params, x, y, activation=activation)
    return _check(f"model: mlp classifier[{activation}]", params,
                  lambda: classifier_loss(params, x, y, activation=activation)[0], grads)


def check_lm(rng, segments=2, T=3, N=2, V=7, E=3, H=4, num_layers=1):
    """The LM through `segments` carried truncated-BPTT segments. In each segment the incoming
    state is the previous segment's final state, held fixed (detached), as in training."""
    params = lm_init(V, E, H, rng, num_layers=num_layers, dtype=np.float64)
    # O(1) weights: at the small initial scale the gradients are ~1e-3 of the loss, and the
    # rounding error of f (≈1e-16·|f|/ε) would dominate the check.
    params = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    stream = rng.integers(0, V, (segments * T + 1, N))
    state = lm_initial_state(params, N)
    rows = []
    for s in range(segments):
        x, y = stream[s * T:(s + 1) * T], stream[s * T + 1:(s + 1) * T + 1]
        _, grads, _, new_state = lm_loss(params, x, y, state)
        carried = state
        rows += _check(f"model: lm segment {s + 1}/{segments}", params,
                       lambda: lm_loss(params, x, y, carried)[0], grads)
        state = new_state
    return rows


def run_all(seed=0):
    """Every layer and both whole models at small default sizes: list of (layer, param, error)."""
    rng = np.random.default_rng(seed)
    rows = []
    for check in (check_linear, check_activations, check_dropout, check_embedding, check_lstm,
                  check_softmax, check_mlp, check_classifier, check_lm):
        rows += check(rng)
    rows += check_mlp(rng, activation="relu")
    rows += check_lm(rng, num_layers=2, segments=3)
    return rows


def format_table(rows, threshold=THRESHOLD):
    """The rows as an aligned table (columns as wide as their longest entry) and a summary line."""
    width = max(len("layer or model"), *(len(layer) for layer, _, _ in rows))
    name_width = max(len("parameter"), *(len(name) for _, name, _ in rows))
    header = f"{'layer or model':<{width}}  {'parameter':<{name_width}}  max rel. error  ok"
    lines = [header, "-" * len(header)]
    for layer, name, err in rows:
        lines.append(f"{layer:<{width}}  {name:<{name_width}}  {err:14.3e}  "
                     f"{'yes' if err <= threshold else 'NO'}")
    worst = max(err for _, _, err in rows)
    lines.append(f"{len(rows)} gradients checked; worst max relative error {worst:.3e} "
                 f"(threshold {threshold:g})")
    return "\n".join(lines)


def failures(rows, threshold=THRESHOLD):
    """The (layer, parameter, error) rows whose error is above threshold (or NaN)."""
    return [(layer, name, err) for layer, name, err in rows if not err <= threshold]


def main(seed=0):
    """Print the table; return the process exit code (0 when every error ≤ THRESHOLD)."""
    rows = run_all(seed)
    print(format_table(rows))
    return 1 if failures(rows) else 0

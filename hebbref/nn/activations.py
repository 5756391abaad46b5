"""Element-wise non-linearities, each a forward/backward pair (docs/MATH.md §2.2); "linear" is
the identity (the "linear" features of docs/MATH.md §9)."""
import numpy as np

from hebbref.checks import check_array


def sigmoid(x):
    """Stable logistic function: never evaluates exp of a large positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def relu_forward(x):
    """x: (...) -> out: (...) = max(x, 0); cache = x."""
    x = check_array(x, "x")
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dout: (...) -> dx: (...) = dout · [x > 0]."""
    return dout * (cache > 0)


def tanh_forward(x):
    """x: (...) -> out: (...) = tanh(x); cache = out."""
    out = np.tanh(check_array(x, "x"))
    return out, out


def tanh_backward(dout, cache):
    """dout: (...) -> dx: (...) = dout · (1 − tanh(x)²)."""
    return dout * (1 - cache * cache)


def sigmoid_forward(x):
    """x: (...) -> out: (...) = σ(x); cache = out."""
    out = sigmoid(check_array(x, "x"))
    return out, out


def sigmoid_backward(dout, cache):
    """dout: (...) -> dx: (...) = dout · σ(x)(1 − σ(x))."""
    return dout * cache * (1 - cache)


def identity_forward(x):
    """x: (...) -> out = x."""
    return check_array(x, "x"), None


def identity_backward(dout, cache):
    """dout -> dx = dout."""
    return dout


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "linear": (identity_forward, identity_backward),
}


def get_activation(name):
    """Return the (forward, backward) pair named `name` (one of ACTIVATIONS)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]

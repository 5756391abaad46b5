"""Dense (affine) layer: out = x W + b (docs/MATH.md §2)."""
from hebbref.checks import check_array, check_same_dtype


def linear_forward(x, params):
    """Inputs:  x: (N, D); params: {"W": (D, M), "b": (M,)}.
    Outputs: out: (N, M) = x W + b; cache (x, W).
    """
    W = check_array(params.get("W"), "params['W']", ndim=2)
    b = check_array(params.get("b"), "params['b']", shape=(W.shape[1],))
    x = check_array(x, "x", shape=(None, W.shape[0]))
    check_same_dtype("x", x, "params['W']", W)
    return x @ W + b, (x, W)


def linear_backward(dout, cache, *, input_grad=True):
    """Inputs:  dout: (N, M); cache from linear_forward; input_grad: False skips dx (a model's
             first layer, whose input is data).
    Outputs: dx: (N, D) = dout Wᵀ (None if not input_grad);
             grads {"W": (D, M) = xᵀ dout, "b": (M,) = Σ_n dout_n}.
    """
    x, W = cache
    dx = dout @ W.T if input_grad else None
    return dx, {"W": x.T @ dout, "b": dout.sum(axis=0)}

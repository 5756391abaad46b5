"""Multi-layer perceptron (docs/MATH.md §2.3): a_0 = x, a_l = act(a_{l−1} W_l + b_l), h = a_L,
the features that enter the softmax layer, whose mean the Hebbian rule writes into θ.
"""
import numpy as np

from hebbref.nn.activations import get_activation
from hebbref.nn.linear import linear_backward, linear_forward


def mlp_init(sizes, rng, *, dtype=np.float64):
    """{"W1": (D, H_1), "b1": (H_1,), ...} for sizes [D, H_1, ..., H_L]; W_l ~ N(0, 2 / fan_in)
    (He initialisation, suited to ReLU), biases zero."""
    params = {}
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)
        params[f"b{l}"] = np.zeros(fan_out, dtype=dtype)
    return params


def num_layers(params):
    """L, the number of dense layers in an MLP parameter dict."""
    return sum(1 for k in params if k.startswith("W"))


def mlp_forward(x, params, activation="relu"):
    """x: (N, D); activation: a key of ACTIVATIONS -> h: (N, H_L), cache for mlp_backward."""
    act_forward, _ = get_activation(activation)
    caches = []
    a = x
    for l in range(1, num_layers(params) + 1):
        z, linear_cache = linear_forward(a, {"W": params[f"W{l}"], "b": params[f"b{l}"]})
        a, act_cache = act_forward(z)
        caches.append((linear_cache, act_cache))
    return a, (caches, activation)


def mlp_backward(dh, cache, *, input_grad=True):
    """dh: (N, H_L) -> dx: (N, D) (None with input_grad=False: the input is data), grads
    {"W1": ..., "b1": ..., ...} matching params."""
    caches, activation = cache
    _, act_backward = get_activation(activation)
    grads = {}
    da = dh
    for l in range(len(caches), 0, -1):
        linear_cache, act_cache = caches[l - 1]
        dz = act_backward(da, act_cache)
        da, layer_grads = linear_backward(dz, linear_cache, input_grad=input_grad or l > 1)
        grads[f"W{l}"], grads[f"b{l}"] = layer_grads["W"], layer_grads["b"]
    return da, grads

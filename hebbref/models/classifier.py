"""MLP classifier: h = mlp(x), z = h θᵀ + b, L = cross-entropy(z, y) (docs/MATH.md §2.9)."""
import numpy as np

from hebbref.models import prefixed, sub
from hebbref.nn.mlp import mlp_backward, mlp_forward, mlp_init
from hebbref.nn.softmax import (softmax_cross_entropy, softmax_cross_entropy_reference,
                                softmax_init, softmax_layer_backward, softmax_layer_forward)


def classifier_init(input_size, hidden_sizes, num_classes, rng, *, dtype=np.float64):
    """Parameters {"mlp.W1", "mlp.b1", ..., "softmax.theta": (V, H_L), "softmax.b": (V,)}."""
    params = prefixed("mlp", mlp_init([input_size, *hidden_sizes], rng, dtype=dtype))
    softmax = softmax_init(hidden_sizes[-1], num_classes, rng, dtype=dtype)
    params.update(prefixed("softmax", softmax))
    return params


def classifier_forward(params, x, *, activation="relu"):
    """x: (N, D) -> z: (N, V) logits, h: (N, H) the features entering the softmax, cache."""
    h, mlp_cache = mlp_forward(x, sub(params, "mlp"), activation)
    z, softmax_cache = softmax_layer_forward(h, sub(params, "softmax"))
    return z, h, (mlp_cache, softmax_cache)


def classifier_loss(params, x, y, *, activation="relu", reference=False):
    """x: (N, D); y: (N,) labels; reference: softmax_cross_entropy_reference, not its fast twin
    -> loss (mean cross-entropy), grads keyed as params, h: (N, H) for the Hebbian rule."""
    z, h, (mlp_cache, softmax_cache) = classifier_forward(params, x, activation=activation)
    if reference:
        loss, dz = softmax_cross_entropy_reference(z, y)
    else:
        loss, dz = softmax_cross_entropy(z, y, overwrite_z=True)
    dh, softmax_grads = softmax_layer_backward(dz, softmax_cache)
    _, mlp_grads = mlp_backward(dh, mlp_cache, input_grad=False)
    return loss, {**prefixed("mlp", mlp_grads), **prefixed("softmax", softmax_grads)}, h

"""Flat parameter dicts (hebbref/models/__init__.py): a layer's parameters by prefix and back."""
import numpy as np

from hebbref.models import prefixed, sub


def test_sub_and_prefixed_are_inverse_and_keep_the_arrays():
    W1, b1, theta = np.zeros((2, 3)), np.zeros(3), np.zeros((4, 3))
    params = {"mlp.W1": W1, "mlp.b1": b1, "softmax.theta": theta, "mlp2.W1": np.ones(1)}
    mlp = sub(params, "mlp")
    assert mlp.keys() == {"W1", "b1"} and mlp["W1"] is W1 and mlp["b1"] is b1
    assert prefixed("mlp", mlp) == {"mlp.W1": W1, "mlp.b1": b1}
    assert sub(params, "softmax") == {"theta": theta}
    assert sub(params, "lstm1") == {}

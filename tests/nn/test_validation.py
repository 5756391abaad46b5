"""Bad input at every public entry point of nn/ and models/ raises ValueError or TypeError
whose message names the offending argument (wrong ndim or shape, labels out of range or
non-integer, NaN/Inf, mismatched dtypes)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.models.classifier import classifier_init, classifier_loss
from hebbref.models.lm import lm_init, lm_initial_state, lm_loss
from hebbref.nn.activations import relu_forward, sigmoid_forward, tanh_forward, get_activation
from hebbref.nn.embedding import embedding_forward
from hebbref.nn.linear import linear_forward
from hebbref.nn.lstm import lstm_forward, lstm_init
from hebbref.nn.mlp import mlp_forward, mlp_init
from hebbref.nn.softmax import (softmax_cross_entropy, softmax_cross_entropy_reference,
                                softmax_layer_forward)

rng = np.random.default_rng(0)


def with_nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def with_inf(a):
    a = a.copy()
    a.flat[-1] = -np.inf
    return a


# Each entry: a call taking a dict of keyword arguments, the valid arguments, and corruptions
# (argument to replace, replacement, exception type, text the message must contain).
def linear_case():
    args = {"x": rng.standard_normal((3, 4)),
            "params": {"W": rng.standard_normal((4, 2)), "b": np.zeros(2)}}
    bad = [
        ("x", rng.standard_normal((3, 5)), ValueError, "x"),
        ("x", rng.standard_normal(4), ValueError, "x"),
        ("x", with_nan(args["x"]), ValueError, "x"),
        ("x", args["x"].astype(np.float32), TypeError, "x"),
        ("x", [[1.0] * 4], TypeError, "x"),
        ("params", {"W": rng.standard_normal((4, 2)), "b": np.zeros(3)}, ValueError, "params['b']"),
        ("params", {"W": with_inf(rng.standard_normal((4, 2))), "b": np.zeros(2)}, ValueError,
         "params['W']"),
    ]
    return lambda a: linear_forward(**a), args, bad


def activation_case(forward):
    def case():
        args = {"x": rng.standard_normal((2, 3))}
        bad = [("x", with_nan(args["x"]), ValueError, "x"),
               ("x", np.arange(6).reshape(2, 3), TypeError, "x"),
               ("x", [1.0, 2.0], TypeError, "x")]
        return lambda a: forward(**a), args, bad
    return case


def embedding_case():
    args = {"ids": np.array([[0, 3], [2, 2]]), "params": {"E": rng.standard_normal((4, 3))}}
    bad = [
        ("ids", np.array([[0, 4]]), ValueError, "ids"),
        ("ids", np.array([[-1, 0]]), ValueError, "ids"),
        ("ids", np.array([[0.0, 1.0]]), TypeError, "ids"),
        ("params", {"E": rng.standard_normal(4)}, ValueError, "params['E']"),
        ("params", {"E": with_nan(rng.standard_normal((4, 3)))}, ValueError, "params['E']"),
    ]
    return lambda a: embedding_forward(**a), args, bad


def lstm_case():
    T, N, D, H = 3, 2, 4, 5
    args = {"x": rng.standard_normal((T, N, D)), "h0": np.zeros((N, H)), "c0": np.zeros((N, H)),
            "params": lstm_init(D, H, rng)}
    bad = [
        ("x", rng.standard_normal((N, D)), ValueError, "x"),
        ("x", rng.standard_normal((T, N, D + 1)), ValueError, "x"),
        ("x", with_nan(args["x"]), ValueError, "x"),
        ("x", args["x"].astype(np.float32), TypeError, "h0"),
        ("h0", np.zeros((N + 1, H)), ValueError, "h0"),
        ("c0", np.zeros((N, H - 1)), ValueError, "c0"),
        ("c0", with_inf(np.zeros((N, H))), ValueError, "c0"),
        ("params", {**lstm_init(D, H, rng), "Wh": np.zeros((H, 4 * H + 1))}, ValueError,
         "params['Wh']"),
        ("params", {**lstm_init(D, H, rng), "b": np.zeros(3)}, ValueError, "params['b']"),
    ]
    return lambda a: lstm_forward(**a), args, bad


def softmax_ce_case(cross_entropy=softmax_cross_entropy):
    args = {"z": rng.standard_normal((4, 3)), "y": np.array([0, 2, 1, 1])}
    bad = [
        ("y", np.array([0, 3, 1, 1]), ValueError, "y"),
        ("y", np.array([0, -1, 1, 1]), ValueError, "y"),
        ("y", np.array([0.0, 1.0, 1.0, 1.0]), TypeError, "y"),
        ("y", np.array([0, 1, 1]), ValueError, "y"),
        ("z", with_nan(args["z"]), ValueError, "z"),
        ("z", rng.standard_normal(4), ValueError, "z"),
    ]
    return lambda a: cross_entropy(**a), args, bad


def softmax_layer_case():
    args = {"h": rng.standard_normal((4, 3)),
            "params": {"theta": rng.standard_normal((5, 3)), "b": np.zeros(5)}}
    bad = [
        ("h", rng.standard_normal((4, 2)), ValueError, "h"),
        ("h", with_inf(args["h"]), ValueError, "h"),
        ("h", args["h"].astype(np.float32), TypeError, "h"),
        ("params", {"theta": rng.standard_normal((5, 3)), "b": np.zeros(4)}, ValueError,
         "params['b']"),
    ]
    return lambda a: softmax_layer_forward(**a), args, bad


def mlp_case():
    args = {"x": rng.standard_normal((3, 4)), "params": mlp_init([4, 5, 2], rng),
            "activation": "relu"}
    bad = [
        ("x", rng.standard_normal((3, 3)), ValueError, "x"),
        ("x", with_nan(args["x"]), ValueError, "x"),
        ("activation", "swish", ValueError, "activation"),
    ]
    return lambda a: mlp_forward(**a), args, bad


def classifier_case():
    args = {"params": classifier_init(4, [5], 3, rng), "x": rng.standard_normal((2, 4)),
            "y": np.array([0, 2])}
    bad = [
        ("y", np.array([0, 3]), ValueError, "y"),
        ("y", np.array([0.5, 1.0]), TypeError, "y"),
        ("y", np.array([0, 1, 2]), ValueError, "y"),
        ("x", rng.standard_normal((2, 5)), ValueError, "x"),
        ("x", with_nan(args["x"]), ValueError, "x"),
    ]
    return lambda a: classifier_loss(**a), args, bad


def lm_case():
    params = lm_init(6, 3, 4, rng, dtype=np.float64)
    args = {"params": params, "x": np.array([[0, 1], [2, 3]]), "y": np.array([[1, 2], [3, 5]]),
            "state": lm_initial_state(params, 2)}
    bad = [
        ("x", np.array([[0, 6], [2, 3]]), ValueError, "x"),
        ("x", np.array([0, 1]), ValueError, "x"),
        ("x", np.array([[0.0, 1.0], [2.0, 3.0]]), TypeError, "x"),
        ("y", np.array([[1, 2], [3, 6]]), ValueError, "y"),
        ("y", np.array([[1, 2]]), ValueError, "y"),
        ("state", [], ValueError, "state"),
        ("state", lm_initial_state(params, 3), ValueError, "h0"),
    ]
    return lambda a: lm_loss(**a), args, bad


CASES = {
    "linear_forward": linear_case, "relu_forward": activation_case(relu_forward),
    "tanh_forward": activation_case(tanh_forward),
    "sigmoid_forward": activation_case(sigmoid_forward), "embedding_forward": embedding_case,
    "lstm_forward": lstm_case, "softmax_cross_entropy": softmax_ce_case,
    "softmax_cross_entropy_reference": lambda: softmax_ce_case(softmax_cross_entropy_reference),
    "softmax_layer_forward": softmax_layer_case, "mlp_forward": mlp_case,
    "classifier_loss": classifier_case, "lm_loss": lm_case,
}


@pytest.mark.parametrize("entry_point", sorted(CASES))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_bad_input_names_the_argument(entry_point, data):
    call, args, bad = CASES[entry_point]()
    call(args)  # the valid arguments are accepted
    key, value, error, needle = data.draw(st.sampled_from(bad))
    with pytest.raises(error) as info:
        call({**args, key: value})
    assert needle in str(info.value), f"{entry_point}: message {info.value!r} lacks {needle!r}"


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        get_activation("gelu")

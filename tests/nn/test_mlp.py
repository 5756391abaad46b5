"""MLP feature extractor (hebbref/nn/mlp.py) against central finite differences in float64,
for every activation, and against torch autograd."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.nn.mlp import mlp_backward, mlp_forward, mlp_init

from torch_gold import ACTIVATIONS, assert_matches, leaf, randomised, torch_mlp

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, sizes=st.lists(small, min_size=2, max_size=4),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
def test_mlp_gradients(seed, N, sizes, activation):
    rng = np.random.default_rng(seed)
    rows = gradcheck.check_mlp(rng, N, tuple(sizes), activation)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("N, sizes", [(1, (1, 1)), (4, (3, 5, 2)), (2, (4, 1, 3, 2))])
def test_mlp_matches_torch(torch, activation, N, sizes):
    """h = act(... act(x W1 + b1) ...), dx and every dW_l, db_l (docs/MATH.md §2)."""
    rng = np.random.default_rng(N + 10 * len(sizes) + ACTIVATIONS.index(activation))
    params = randomised(mlp_init(list(sizes), rng), rng, scale=1.0)
    x = rng.standard_normal((N, sizes[0]))
    upstream = rng.standard_normal((N, sizes[-1]))
    h, cache = mlp_forward(x, params, activation)
    dx, grads = mlp_backward(upstream, cache)

    tx = leaf(x)
    tparams = {k: leaf(v) for k, v in params.items()}
    th = torch_mlp(tx, tparams, len(sizes) - 1, activation)
    (th * torch.tensor(upstream)).sum().backward()
    assert_matches("h", h, th)
    assert_matches("dx", dx, tx.grad)
    assert set(grads) == set(params), f"grad keys {sorted(grads)} != param keys {sorted(params)}"
    for key in params:
        assert_matches(f"d{key}", grads[key], tparams[key].grad)


def test_mlp_backward_without_input_grad_gives_the_same_parameter_grads():
    """input_grad=False (the classifier's first layer takes data) skips dx = dz W1ᵀ only: dx is
    None and every ∂L/∂W_l, ∂L/∂b_l is bit-identical to the full backward's (docs/MATH.md §2)."""
    rng = np.random.default_rng(3)
    params = mlp_init([5, 4, 3], rng)
    x, upstream = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
    _, cache = mlp_forward(x, params, "relu")
    _, full = mlp_backward(upstream, cache)
    dx, grads = mlp_backward(upstream, cache, input_grad=False)
    assert dx is None and set(grads) == set(full)
    for key in full:
        np.testing.assert_array_equal(grads[key], full[key])

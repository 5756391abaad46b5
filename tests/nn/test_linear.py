"""Dense layer (hebbref/nn/linear.py) against central finite differences in float64 (docs/MATH.md §3),
at hypothesis-drawn shapes that include batch 1, and against torch autograd."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.nn.linear import linear_backward, linear_forward

from torch_gold import assert_backward_matches, leaf

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=small, D=small, M=small)
def test_linear_gradients(seed, N, D, M):
    rows = gradcheck.check_linear(np.random.default_rng(seed), N, D, M)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("N, D, M", [(1, 1, 1), (1, 4, 3), (5, 2, 1), (6, 3, 4)])
def test_linear_matches_torch(torch, N, D, M):
    """out = x W + b with W (D, M), i.e. torch's F.linear with weight Wᵀ; dx, dW, db
    (docs/MATH.md §2)."""
    rng = np.random.default_rng(100 * N + 10 * D + M)
    params = {"W": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}
    x, upstream = rng.standard_normal((N, D)), rng.standard_normal((N, M))
    out, cache = linear_forward(x, params)
    dx, grads = linear_backward(upstream, cache)

    gold = {"x": leaf(x), "W": leaf(params["W"]), "b": leaf(params["b"])}
    gold_out = torch.nn.functional.linear(gold["x"], gold["W"].T, gold["b"])
    assert_backward_matches(upstream, out, gold_out, {"x": dx, **grads}, gold)

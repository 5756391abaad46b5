"""Embedding lookup and its sparse gradient (hebbref/nn/embedding.py) against central finite
differences in float64, with repeated ids (V as small as 1), and against torch autograd."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref import gradcheck
from hebbref.nn.embedding import embedding_backward, embedding_forward

from torch_gold import assert_matches, densify, leaf

small = st.integers(1, 4)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, V=st.integers(1, 6), E=small)
def test_embedding_gradients(seed, T, N, V, E):
    rows = gradcheck.check_embedding(np.random.default_rng(seed), T, N, V, E)
    assert not gradcheck.failures(rows), gradcheck.format_table(rows)


@pytest.mark.parametrize("ids_shape, V, E", [((1,), 1, 1), ((1, 1), 4, 3), ((5, 3), 4, 2),
                                             ((2, 6), 50, 5), ((12,), 3, 1)])
def test_embedding_matches_torch(torch, ids_shape, V, E):
    """out = E[ids], and the sparse gradient, densified, equals torch's dense dE: repeated ids
    sum their rows, untouched rows are zero and absent from the SparseRows (METHOD §4)."""
    F = torch.nn.functional
    rng = np.random.default_rng(V * E + len(ids_shape))
    table = rng.standard_normal((V, E))
    ids = rng.integers(0, V, ids_shape)
    ids.reshape(-1)[-1] = ids.reshape(-1)[0]  # at least one repeat whenever there are two ids
    upstream = rng.standard_normal((*ids_shape, E))
    out, cache = embedding_forward(ids, {"E": table})
    grads = embedding_backward(upstream, cache)

    ttable = leaf(table)
    tout = F.embedding(torch.tensor(ids), ttable)
    (tout * torch.tensor(upstream)).sum().backward()
    assert_matches("out", out, tout)
    np.testing.assert_array_equal(grads["E"].ids, np.unique(ids),
                                  err_msg="SparseRows ids must be exactly the touched ids")
    assert_matches("dE (densified)", densify(grads["E"], V), ttable.grad)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, V=st.integers(1, 6), E=small,
       dtype=st.sampled_from([np.float32, np.float64]))
def test_embedding_backward_reference_equals_the_kernel_bit_for_bit(seed, T, N, V, E, dtype):
    """embedding_backward(reference=True) (np.add.at) == the numba path, ids and rows bit for
    bit: both add the rows of a repeated id in the order of the positions (docs/MATH.md §2.4)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (T, N))
    upstream = (rng.standard_normal((T, N, E)) * 10.0 ** rng.integers(-3, 4, (T, N, E)))
    _, cache = embedding_forward(ids, {"E": np.zeros((V, E), dtype)})
    plain = embedding_backward(upstream.astype(dtype), cache, reference=True)["E"]
    fast = embedding_backward(upstream.astype(dtype), cache)["E"]
    assert plain.ids.dtype == fast.ids.dtype == np.int64 and plain.rows.dtype == dtype
    np.testing.assert_array_equal(plain.ids, fast.ids)
    np.testing.assert_array_equal(plain.rows, fast.rows)

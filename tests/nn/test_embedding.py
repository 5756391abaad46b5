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
    sum their rows, untouched rows are zero and absent from the SparseRows (docs/MATH.md §2)."""
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


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=small, N=small, V=st.integers(1, 6), E=small,
       dtype=st.sampled_from([np.float32, np.float64]), reference=st.booleans())
def test_embedding_backward_equals_a_dense_loop_bit_for_bit(seed, T, N, V, E, dtype, reference):
    """Both paths (np.add.at with reference=True, the numba kernel otherwise) give the sorted
    touched ids and, for each, the rows of its positions summed from zero in position order:
    a dense (V, E) loop doing exactly that is matched bit for bit, and its other rows are zero
    (docs/MATH.md §2.4). Upstream values span many binades, so a different order would show."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (T, N))
    upstream = (rng.standard_normal((T, N, E)) * 10.0 ** rng.integers(-3, 4, (T, N, E)))
    upstream = upstream.astype(dtype)
    dense = np.zeros((V, E), dtype)
    for position, v in enumerate(ids.reshape(-1)):
        dense[v] += upstream.reshape(-1, E)[position]
    _, cache = embedding_forward(ids, {"E": np.zeros((V, E), dtype)})
    grad = embedding_backward(upstream, cache, reference=reference)["E"]
    assert grad.ids.dtype == np.int64 and grad.rows.dtype == dtype
    np.testing.assert_array_equal(grad.ids, np.unique(ids))
    np.testing.assert_array_equal(grad.rows, dense[grad.ids])
    assert not np.delete(dense, grad.ids, axis=0).any()

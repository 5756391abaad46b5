"""The numba row kernels against their NumPy twin and a plain loop (STYLE: numba kernels sit
beside their pure-NumPy twins; METHOD §4: the embedding's sparse gradient and the sparse-row
optimisers are built on them)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.kernels import coalesce_rows, scatter_add_rows, scatter_add_rows_numpy

DTYPES = [np.float32, np.float64]


@st.composite
def scatter_problems(draw, dtype):
    """A target (V, E), ids (K,) drawn from a few values (so most are repeats) and rows (K, E)."""
    V = draw(st.integers(1, 6))
    E = draw(st.integers(0, 4))
    K = draw(st.integers(0, 40))
    ids = np.array(draw(st.lists(st.integers(0, V - 1), min_size=K, max_size=K)), dtype=np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Magnitudes spread over many decades, so the sum depends on the order of additions.
    scale = 10.0 ** rng.integers(-8, 9, size=(K, E))
    rows = (rng.standard_normal((K, E)) * scale).astype(dtype)
    target = rng.standard_normal((V, E)).astype(dtype)
    return target, ids, rows


def test_add_at_and_kernel_add_in_index_order():
    """np.add.at and the kernel both add rows in the order of k (checked, not assumed).

    From target 0 the rows 1, 1e16, −1e16 (float64) give ((0 + 1) + 1e16) − 1e16 = 0 in index
    order, while any order that cancels 1e16 − 1e16 before adding the 1 (reverse order, or
    1 + (1e16 − 1e16)) gives 1. So exactly 0 means sequential index order, which is why exact
    equality is the right test below.
    """
    for dtype, big in ((np.float64, 1e16), (np.float32, 1e8)):
        rows = np.array([[1.0], [big], [-big]], dtype=dtype)
        ids = np.zeros(3, dtype=np.int64)
        for scatter in (scatter_add_rows_numpy, scatter_add_rows):
            target = np.zeros((1, 1), dtype=dtype)
            scatter(target, ids, rows)
            assert target[0, 0] == 0.0, (scatter.__name__, dtype, target)
            reverse = np.zeros((1, 1), dtype=dtype)
            scatter(reverse, ids, rows[::-1].copy())
            assert reverse[0, 0] == 1.0, (scatter.__name__, dtype, reverse)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_scatter_add_rows_numba_equals_numpy(dtype, data):
    """target[ids[k]] += rows[k] for all k, repeats summed: numba kernel == np.add.at exactly.

    Both add in index order (test above), and IEEE addition in one dtype is deterministic, so
    the results must be bit-identical in float32 and float64 alike.
    """
    target, ids, rows = data.draw(scatter_problems(dtype))
    expected = target.copy()
    scatter_add_rows_numpy(expected, ids, rows)
    got = target.copy()
    scatter_add_rows(got, ids, rows)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
    # And both equal a plain Python loop over k.
    loop = target.copy()
    for k in range(ids.shape[0]):
        loop[ids[k]] += rows[k]
    np.testing.assert_array_equal(got, loop)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_rows_empty_ids_leaves_target(dtype):
    target = np.arange(12, dtype=dtype).reshape(4, 3)
    before = target.copy()
    for scatter in (scatter_add_rows, scatter_add_rows_numpy):
        scatter(target, np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=dtype))
        np.testing.assert_array_equal(target, before)


def test_scatter_add_rows_accepts_int32_ids():
    target = np.zeros((3, 2))
    scatter_add_rows(target, np.array([2, 0, 2], dtype=np.int32), np.ones((3, 2)))
    np.testing.assert_array_equal(target, [[1, 1], [0, 0], [2, 2]])


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_coalesce_rows_equals_dense_loop(dtype, data):
    """coalesce_rows(ids, rows) = (sorted unique ids, their summed rows) (METHOD §4 sparse grad).

    Reference: a dense (V, E) array of zeros with rows added one by one in order of k; its
    non-touched rows must be zero and its touched rows must equal the coalesced rows exactly
    (both sum from zero in index order).
    """
    _, ids, rows = data.draw(scatter_problems(dtype))
    V = int(ids.max()) + 1 if ids.size else 1
    dense = np.zeros((V, rows.shape[1]), dtype=dtype)
    for k in range(ids.shape[0]):
        dense[ids[k]] += rows[k]

    unique_ids, summed = coalesce_rows(ids, rows)

    assert unique_ids.dtype == np.int64
    assert summed.dtype == dtype
    np.testing.assert_array_equal(unique_ids, sorted(set(ids.tolist())))
    assert summed.shape == (unique_ids.shape[0], rows.shape[1])
    np.testing.assert_array_equal(summed, dense[unique_ids])
    untouched = np.setdiff1d(np.arange(V), unique_ids)
    assert not dense[untouched].any()

"""Row blocks on threads (hebbref.threads) and the cross-entropy that uses them."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from hebbref import threads
from hebbref.nn.softmax import log_softmax, softmax_cross_entropy


@settings(max_examples=200, deadline=None)
@given(n_rows=st.integers(1, 5000), row_size=st.integers(1, 5000), count=st.integers(1, 8))
def test_row_blocks_cover_every_row_once(n_rows, row_size, count):
    """The slices are contiguous, in order, cover range(n_rows) exactly once, number at most
    `count`, and are all big enough to be worth a thread unless there is only one."""
    blocks = threads.row_blocks(n_rows, row_size, count)
    assert blocks[0].start == 0 and blocks[-1].stop == n_rows
    assert all(a.stop == b.start for a, b in zip(blocks[:-1], blocks[1:]))
    assert all(b.stop > b.start for b in blocks)
    assert 1 <= len(blocks) <= count
    if len(blocks) > 1:
        assert all((b.stop - b.start + 1) * row_size >= threads.MIN_BLOCK for b in blocks)


def test_blas_threads_follow_threadpool_limits():
    """Code under threadpool_limits(1) (a sweep worker) gets one thread."""
    with threadpool_limits(1, user_api="blas"):
        assert threads.blas_threads() == 1
    assert threads.blas_threads() >= 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 40), V=st.integers(1, 30), blocks=st.integers(2, 5),
       seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_is_the_same_on_any_number_of_threads(dtype, N, V, blocks, seed):
    """Each row's loss and gradient are computed by the same operations whatever the split, so
    the loss and dz on several threads equal one block bit for bit; and they are the formula
    L = −mean log softmax(z)[y], dz = (softmax(z) − onehot(y)) / N."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((N, V)) * 5).astype(dtype)
    y = rng.integers(0, V, N)
    loss_one, dz_one = threads_run(1, z, y)
    loss_many, dz_many = threads_run(blocks, z, y)
    assert loss_many == loss_one
    np.testing.assert_array_equal(dz_many, dz_one)
    logp = log_softmax(z.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss_one == pytest.approx(-logp[np.arange(N), y].mean(), rel=tol, abs=tol)
    expected = np.exp(logp)
    expected[np.arange(N), y] -= 1.0
    np.testing.assert_allclose(dz_one, expected / N, rtol=tol, atol=tol / N)


def threads_run(count, z, y):
    """The cross-entropy with every row block worth a thread and `count` threads."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "MIN_BLOCK", 1)
        patch.setattr(threads, "blas_threads", lambda: count)
        return softmax_cross_entropy(z.copy(), y, overwrite_z=True)

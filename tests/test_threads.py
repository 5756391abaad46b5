"""Row blocks on threads (hebbref.threads). The cross-entropy that uses them is checked against
its plain twin in tests/nn/test_softmax.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from hebbref import threads


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


def test_map_row_blocks_calls_fn_on_every_block_in_order():
    """fn(block, *args) once per block, results in block order, whether on one thread or more."""
    def first_and_sum(rows, data, offset):
        return rows.start, int(data[rows].sum()) + offset
    data = np.arange(100)
    for count in (1, 3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(threads, "MIN_BLOCK", 1)
            results = threads.map_row_blocks(first_and_sum, (data, 7), 100, 1, threads=count)
            blocks = threads.row_blocks(100, 1, count)
        assert len(results) == count == len(blocks)
        assert results == [(b.start, int(data[b].sum()) + 7) for b in blocks]


def test_blas_limit_caps_the_threads_and_restores_them():
    """blas_limit(1) runs its body on one BLAS thread and gives the count back on exit;
    blas_limit(None) changes nothing."""
    with threadpool_limits(2, user_api="blas"):
        before = threads.blas_threads()
        with threads.blas_limit(1):
            assert threads.blas_threads() == 1
        assert threads.blas_threads() == before
        with threads.blas_limit(None):
            assert threads.blas_threads() == before

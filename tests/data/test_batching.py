"""Truncated-BPTT batching of a token stream (docs/MATH.md §2, §10; hebbref/data/batching.py)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbref.data.batching import batchify, bptt_segments, num_segments


def test_batchify_columns_are_contiguous_streams():
    data = batchify(np.arange(23), 4)  # 23 // 4 = 5 rows, 3 tokens dropped
    assert data.shape == (5, 4) and data.dtype == np.int64
    for b in range(4):
        assert data[:, b].tolist() == list(range(5 * b, 5 * b + 5))


def test_batchify_errors():
    with pytest.raises(ValueError, match="too few"):
        batchify(np.arange(7), 4)
    with pytest.raises(ValueError, match="batch_size"):
        batchify(np.arange(10), 0)
    with pytest.raises(TypeError, match="tokens"):
        batchify(np.arange(10.0), 2)
    with pytest.raises(ValueError, match="tokens"):
        batchify(np.arange(10).reshape(2, 5), 2)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(2, 40), batch=st.integers(1, 4), bptt=st.integers(1, 12),
       data=st.data())
def test_bptt_segments_tile_the_stream_and_resume(length, batch, bptt, data):
    """x segments tile data[:-1] and y segments tile data[1:] (y is x shifted by one step, also
    across segment boundaries); all segments have bptt steps but the last; starting at any
    segment's start yields exactly the remaining segments (exact resume, docs/MATH.md §10)."""
    stream = np.arange(length * batch) * 7 % 101
    grid = batchify(stream, batch)
    segments = list(bptt_segments(grid, bptt))
    assert len(segments) == num_segments(grid, bptt) == math.ceil((length - 1) / bptt)
    assert np.array_equal(np.concatenate([x for _, x, _ in segments]), grid[:-1])
    assert np.array_equal(np.concatenate([y for _, _, y in segments]), grid[1:])
    assert all(x.shape == (bptt, batch) for _, x, _ in segments[:-1])
    assert [s for s, _, _ in segments] == list(range(0, length - 1, bptt))
    k = data.draw(st.integers(0, len(segments) - 1))
    resumed = list(bptt_segments(grid, bptt, start=segments[k][0]))
    assert len(resumed) == len(segments) - k
    for (s1, x1, y1), (s2, x2, y2) in zip(resumed, segments[k:]):
        assert s1 == s2 and np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_bptt_segments_errors():
    grid = batchify(np.arange(20), 2)  # (10, 2)
    assert list(bptt_segments(grid, 3, start=9)) == []
    with pytest.raises(ValueError, match="start"):
        bptt_segments(grid, 3, start=10)
    with pytest.raises(ValueError, match="bptt"):
        bptt_segments(grid, 0)
    with pytest.raises(ValueError, match="data"):
        num_segments(np.arange(5), 2)

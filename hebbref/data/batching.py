"""Truncated-BPTT batching of a token stream (docs/MATH.md §1.2): ``batchify`` cuts it into B
columns, ``bptt_segments`` walks down them ``bptt`` rows at a time from any start row.
"""
import numpy as np

from hebbref.checks import check_array, check_int


def batchify(tokens, batch_size):
    """Cut tokens: (M,) int ids into B contiguous columns -> data: (L, B) int64, L = M // B,
    data[:, b] = tokens[b·L : (b+1)·L] (the last M − L·B dropped); L >= 2 is required."""
    tokens = check_array(tokens, "tokens", ndim=1, dtype_kind="i")
    batch_size = check_int(batch_size, "batch_size", 1)
    length = tokens.size // batch_size
    if length < 2:
        raise ValueError(f"tokens has {tokens.size} tokens, too few for batch_size "
                         f"{batch_size}: each of the {batch_size} columns needs at least 2 tokens")
    columns = tokens[: length * batch_size].astype(np.int64).reshape(batch_size, length)
    return np.ascontiguousarray(columns.T)


def _check_data(data, bptt):
    data = check_array(data, "data", ndim=2, dtype_kind="i")
    return data, check_int(bptt, "bptt", 1)


def num_segments(data, bptt):
    """Number of segments ``bptt_segments(data, bptt)`` yields: ⌈(L − 1) / bptt⌉ for data (L, B)."""
    data, bptt = _check_data(data, bptt)
    return -(-max(data.shape[0] - 1, 0) // bptt)


def bptt_segments(data, bptt, *, start=0):
    """Walk down data: (L, B) ids in segments of T = bptt steps from row start (0 <= start <=
    L − 1; a saved start resumes an epoch exactly). Yields (row, x, y) for row = start,
    start + T, ... < L − 1: x = data[row : row+t], y = data[row+1 : row+1+t] (t, B) views,
    t = min(T, L − 1 − row); the segments tile data[:-1] (x) and data[1:] (y)."""
    data, bptt = _check_data(data, bptt)
    check_int(start, "start")
    last = data.shape[0] - 1
    if not 0 <= start <= max(last, 0):
        raise ValueError(f"start must lie in [0, {max(last, 0)}] for data of shape "
                         f"{data.shape}, got {start}")
    return _segments(data, bptt, int(start))


def _segments(data, bptt, start):
    last = data.shape[0] - 1
    for row in range(start, last, bptt):
        steps = min(bptt, last - row)
        yield row, data[row: row + steps], data[row + 1: row + 1 + steps]
